package daemon

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
)

func TestDaemon_ActivityAtEventsAndControlRequests(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, component(t, dir, "svc", "exec sleep 100"))
	var calls atomic.Int64
	d, err := New(Load{Config: cfg}, Options{Version: "test", Activity: func() { calls.Add(1) }})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = d.Close()
		<-done
	})
	waitState(t, d.Supervisor(), engine.StateRunning)
	if calls.Load() == 0 {
		t.Fatal("no Activity at the events of the component's start")
	}
	before := calls.Load()
	if _, err := api.NewClient(cfg.Settings.Control).Components(ctx); err != nil {
		t.Fatal(err)
	}
	// Called once the answer is written, so maybe just after the client has it.
	deadline := time.Now().Add(5 * time.Second)
	for calls.Load() == before {
		if time.Now().After(deadline) {
			t.Fatal("no Activity within 5s of a request on the control socket")
		}
		time.Sleep(time.Millisecond)
	}
}
