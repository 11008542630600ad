package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/config"
)

// TestSupervisor_HeldSocketLosesNoRequestAcrossRestart: thorp holds the
// listening socket, so while the component restarts, connections queue in
// the kernel and every request is answered by one process or the next.
func TestSupervisor_HeldSocketLosesNoRequestAcrossRestart(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	comp := serverComponent(t, "web", 0, 0, func(c *config.Component) {
		delete(c.Env, "THORP_SERVE_ADDR") // it serves the inherited socket
		c.Sockets = map[string]string{"http": fmt.Sprintf("tcp://127.0.0.1:%d", port)}
		c.Ready = "notify"
	})
	s, err := New(testConfig(t, comp), Options{ExecShim: []string{self, "__exec"}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	defer func() { cancel(); <-done }()
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "web", EventRunning) >= 1 })

	// The child got the socket as fd 3 with LISTEN_PID = its own pid.
	var health struct {
		PID int `json:"pid"`
	}
	resp, err := http.Get(url + "health")
	if err != nil {
		t.Fatal(err)
	}
	_ = json.NewDecoder(resp.Body).Decode(&health)
	resp.Body.Close()
	old := statusOf(t, s, "web").PID
	if health.PID != old {
		t.Fatalf("served by pid %d, want the component's %d", health.PID, old)
	}

	// Fresh connections from 4 clients while the component restarts.
	var ok, failed atomic.Int64
	var firstErr atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ { // bounded
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %s", resp.Status)
				}
				if resp != nil {
					resp.Body.Close()
				}
				if err != nil {
					failed.Add(1)
					firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				ok.Add(1)
			}
		}()
	}
	time.Sleep(200 * time.Millisecond) // traffic before the restart
	if err := s.Restart(context.Background(), []string{"web"}, "manual", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // and after
	close(stop)
	wg.Wait()
	if now := statusOf(t, s, "web").PID; now == old {
		t.Fatal("the component was not restarted")
	}
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across the restart (first: %v)", failed.Load(), failed.Load()+ok.Load(), firstErr.Load())
	}
	t.Logf("%d requests, none failed, across a restart", ok.Load())
}
