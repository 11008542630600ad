package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"sync"
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

// load sends GETs on fresh connections from 4 clients until stopped (at
// most 20,000 requests each, for at most a minute) and records when each
// request started and ended.
type load struct {
	mu      sync.Mutex
	reqs    []loadReq
	changed chan struct{} // a request ended; capacity 1
	stop    chan struct{}
	wg      sync.WaitGroup
}

// loadReq is one request of a load.
type loadReq struct {
	start, end time.Time
	err        error
}

func startLoad(url string) *load {
	l := &load{stop: make(chan struct{}), changed: make(chan struct{}, 1)}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(time.Minute)
	for range 4 {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for i := 0; i < 20_000 && time.Now().Before(deadline); i++ { // bounded
				select {
				case <-l.stop:
					return
				default:
				}
				r := loadReq{start: time.Now()}
				resp, err := client.Get(url)
				if err == nil && resp.StatusCode != http.StatusOK {
					err = fmt.Errorf("status %s", resp.Status)
				}
				if resp != nil {
					resp.Body.Close()
				}
				r.end, r.err = time.Now(), err
				l.mu.Lock()
				l.reqs = append(l.reqs, r)
				l.mu.Unlock()
				select {
				case l.changed <- struct{}{}:
				default:
				}
			}
		}()
	}
	return l
}

// await waits until at least n requests that started after since have
// been answered, and fails t after timeout.
func (l *load) await(t *testing.T, timeout time.Duration, n int, since time.Time, what string) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		l.mu.Lock()
		ok := 0
		for _, r := range l.reqs {
			if r.err == nil && r.start.After(since) {
				ok++
			}
		}
		l.mu.Unlock()
		if ok >= n {
			return
		}
		select {
		case <-l.changed:
		case <-deadline:
			t.Fatalf("%d of %d requests answered %s within %s", ok, n, what, timeout)
		}
	}
}

// end stops the load, waits for the clients and returns every request.
func (l *load) end() []loadReq {
	close(l.stop)
	l.wg.Wait()
	return l.reqs
}

// checkAcross fails t when a request failed, when no request was in
// flight at the instant the old process exited (sent before, answered
// after), or when fewer than 50 were sent and answered after the restart
// had returned: a load that ran out, or started late, proves nothing.
func checkAcross(t *testing.T, reqs []loadReq, exited, restarted time.Time, what string) {
	t.Helper()
	var failed, across, after int
	var firstErr error
	for _, r := range reqs {
		if r.err != nil {
			failed++
			if firstErr == nil {
				firstErr = r.err
			}
			continue
		}
		if r.start.Before(exited) && r.end.After(exited) {
			across++
		}
		if r.start.After(restarted) {
			after++
		}
	}
	if failed != 0 {
		t.Fatalf("%d of %d requests failed across %s (first: %v)", failed, len(reqs), what, firstErr)
	}
	if across == 0 || after < 50 {
		t.Fatalf("the load did not cover %s: %d requests in flight when the old process exited, %d sent after it (want >= 1 and >= 50)", what, across, after)
	}
	t.Logf("%d requests across %s, none failed: %d in flight when the old process exited, %d after", len(reqs), what, across, after)
}

// exitTime returns when the process pid exited, from the events.
func exitTime(t *testing.T, s *Supervisor, pid int) time.Time {
	t.Helper()
	for _, e := range s.Events(0, "", time.Time{}) {
		if e.Type == EventExit && e.PID == pid {
			return e.Time
		}
	}
	t.Fatalf("no exit event for pid %d:\n%s", pid, dumpEvents(s.Events(0, "", time.Time{})))
	return time.Time{}
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
	l.await(t, 10*time.Second, 50, time.Time{}, "before the restart")
	if err := s.Restart(context.Background(), []string{"web"}, "manual", true); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	l.await(t, 10*time.Second, 50, restarted, "after the restart")
	reqs := l.end()
	if now := statusOf(t, s, "web").PID; now == old {
		t.Fatal("the component was not restarted")
	}
	checkAcross(t, reqs, exitTime(t, s, old), restarted, "a restart")
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
	l.await(t, 10*time.Second, 50, time.Time{}, "before the reload")
	if err := s.Restart(context.Background(), []string{"web"}, "reload", true); err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	l.await(t, 10*time.Second, 50, restarted, "after the reload")
	reqs := l.end()
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
	checkAcross(t, reqs, exitTime(t, s, old), restarted, "an overlap reload")
	if st.RestartsByReason["reload"] != 1 {
		t.Fatalf("restarts_by_reason %v", st.RestartsByReason)
	}
}
