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

// TestSupervisor_OverlapReloadServesThroughout: with restart_mode =
// "overlap", a reload starts the new process first and stops the old one
// only once the new one is ready; both serve the held socket meanwhile.
func TestSupervisor_OverlapReloadServesThroughout(t *testing.T) {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	comp := serverComponent(t, "web", 0, 200*time.Millisecond, func(c *config.Component) {
		delete(c.Env, "THORP_SERVE_ADDR")
		c.Sockets = map[string]string{"http": fmt.Sprintf("tcp://127.0.0.1:%d", port)}
		c.Ready = "notify"
		c.RestartMode = "overlap"
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
	old := statusOf(t, s, "web").PID
	seq := s.Events(0, "", time.Time{})
	since := seq[len(seq)-1].Seq

	var failed, ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				select {
				case <-stop:
					return
				default:
				}
				resp, err := client.Get(url)
				if err != nil || resp.StatusCode != http.StatusOK {
					failed.Add(1)
				} else {
					ok.Add(1)
				}
				if resp != nil {
					resp.Body.Close()
				}
			}
		}()
	}
	if err := s.Restart(context.Background(), []string{"web"}, "reload", true); err != nil {
		t.Fatal(err)
	}
	close(stop)
	wg.Wait()
	// Restart returned: the new process runs and the old one is gone.
	st := statusOf(t, s, "web")
	if st.State != StateRunning || st.PID == old || alive(old) {
		t.Fatalf("after an overlap reload: %s pid %d, old %d alive=%v", st.State, st.PID, old, alive(old))
	}
	evs := s.Events(since, "web", time.Time{})
	newRunning, oldStopping := -1, -1
	for i, e := range evs {
		if e.Type == EventRunning && e.PID == st.PID && newRunning < 0 {
			newRunning = i
		}
		if e.Type == EventStopping && e.PID == old && oldStopping < 0 {
			oldStopping = i
		}
	}
	if newRunning < 0 || oldStopping < 0 || oldStopping < newRunning {
		t.Fatalf("the old process must be stopped only after the new one is ready:\n%s", dumpEvents(evs))
	}
	if failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across an overlap reload", failed.Load(), failed.Load()+ok.Load())
	}
	if st.RestartsByReason["reload"] != 1 {
		t.Fatalf("restarts_by_reason %v", st.RestartsByReason)
	}
}
