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

	"github.com/thorp-dev/thorp/engine/config"
)

// heldSocketWeb is the test binary serving HTTP on a socket thorp holds,
// ready when it says READY=1; it returns the component and its URL.
func heldSocketWeb(t *testing.T, delay time.Duration, mod func(*config.Component)) (config.Component, string) {
	port := freePort(t)
	comp := serverComponent(t, "web", 0, delay, func(c *config.Component) {
		delete(c.Env, "THORP_SERVE_ADDR") // it serves the inherited socket
		c.Sockets = map[string]string{"http": fmt.Sprintf("tcp://127.0.0.1:%d", port)}
		c.Ready = "notify"
		if mod != nil {
			mod(c)
		}
	})
	return comp, fmt.Sprintf("http://127.0.0.1:%d/", port)
}

// withShim is Options with this test binary as the exec shim (TestMain).
func withShim(t *testing.T) Options {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return Options{ExecShim: []string{self, "__exec"}}
}

// load sends GETs on fresh connections from 4 clients (at most 2000 each)
// until stop is closed, and counts answers and failures.
type load struct {
	ok, failed atomic.Int64
	firstErr   atomic.Value
	stop       chan struct{}
	wg         sync.WaitGroup
}

func startLoad(url string) *load {
	l := &load{stop: make(chan struct{})}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; i < 2000; i++ { // bounded
				select {
				case <-l.stop:
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
					l.failed.Add(1)
					l.firstErr.CompareAndSwap(nil, err.Error())
					continue
				}
				l.ok.Add(1)
			}
		}()
	}
	return l
}

// end stops the load and waits for the clients.
func (l *load) end() {
	close(l.stop)
	l.wg.Wait()
}

// TestSupervisor_HeldSocketLosesNoRequestAcrossRestart: thorp holds the
// listening socket, so while the component restarts, connections queue in
// the kernel and every request is answered by one process or the next.
func TestSupervisor_HeldSocketLosesNoRequestAcrossRestart(t *testing.T) {
	comp, url := heldSocketWeb(t, 0, nil)
	s := startSupervisorWith(t, withShim(t), comp)
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
	l := startLoad(url)
	time.Sleep(200 * time.Millisecond) // traffic before the restart
	if err := s.Restart(context.Background(), []string{"web"}, "manual", true); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // and after
	l.end()
	if now := statusOf(t, s, "web").PID; now == old {
		t.Fatal("the component was not restarted")
	}
	if l.failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across the restart (first: %v)", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.firstErr.Load())
	}
	t.Logf("%d requests, none failed, across a restart", l.ok.Load())
}

// TestSupervisor_OverlapReloadServesThroughout: with restart_mode =
// "overlap", a reload starts the new process first and stops the old one
// only once the new one is ready; both serve the held socket meanwhile.
func TestSupervisor_OverlapReloadServesThroughout(t *testing.T) {
	comp, url := heldSocketWeb(t, 200*time.Millisecond, func(c *config.Component) { c.RestartMode = "overlap" })
	s := startSupervisorWith(t, withShim(t), comp)
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "web", EventRunning) >= 1 })
	old := statusOf(t, s, "web").PID
	seq := s.Events(0, "", time.Time{})
	since := seq[len(seq)-1].Seq

	l := startLoad(url)
	if err := s.Restart(context.Background(), []string{"web"}, "reload", true); err != nil {
		t.Fatal(err)
	}
	l.end()
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
	if l.failed.Load() != 0 {
		t.Fatalf("%d of %d requests failed across an overlap reload (first: %v)", l.failed.Load(), l.failed.Load()+l.ok.Load(), l.firstErr.Load())
	}
	if st.RestartsByReason["reload"] != 1 {
		t.Fatalf("restarts_by_reason %v", st.RestartsByReason)
	}
}
