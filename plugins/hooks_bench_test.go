package plugins

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// BenchmarkHookRoundTrip times an event's way through the hooks and back
// (issue 12: median under 50 µs): from HookRunner.Handle of a restart
// event to the moment the on("restart") hook's thorp.log call reaches Go,
// one event at a time, the runner otherwise idle. The hook reads the
// event's fields as a real one does.
func BenchmarkHookRoundTrip(b *testing.B) {
	path := filepath.Join(b.TempDir(), "thorp.lua")
	src := `on("restart", function(ev) thorp.log("info", ev.component .. " " .. ev.reason .. " " .. ev.message) end)`
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		b.Fatal(err)
	}
	back := make(chan time.Time, 1)
	logged := func(_, _, _ string) {
		select {
		case back <- time.Now():
		default:
		}
	}
	raw, script, problems := Evaluate(path, Options{Log: logged})
	if script == nil {
		b.Fatal(problems.Err())
	}
	defer script.Close()
	cfg, problems := config.Decode(raw, nil, nil)
	if cfg == nil {
		b.Fatal(problems.Err())
	}
	h := NewHookRunner(logged)
	h.Set(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { h.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()

	lat := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		start := time.Now()
		h.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: "crash", Message: "exit " + strconv.Itoa(i), Time: start})
		select {
		case at := <-back:
			lat = append(lat, at.Sub(start))
		case <-time.After(5 * time.Second):
			b.Fatalf("event %d: the hook did not log within 5 s", i)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Nanoseconds())/1000, "median-µs")
	b.ReportMetric(float64(lat[len(lat)*9/10].Nanoseconds())/1000, "p90-µs")
}
