package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// proxiedApp is a component of n instances of the "port-app" child behind
// a balancer on a free loopback address, returned with it.
func proxiedApp(t *testing.T, name string, n int, mod func(*config.Component)) (config.Component, string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", port)
	c := testComponent(t, name, "", func(c *config.Component) {
		c.Command = config.Command{Argv: []string{self}}
		c.Env = map[string]string{childEnv: "port-app"}
		c.Instances = n
		px := config.DefaultProxy()
		px.Listen = "tcp://" + addr
		px.DrainTimeout = 5 * time.Second
		c.Proxy = &px
		c.ListenTimeout = 10 * time.Second
		if mod != nil {
			mod(c)
		}
	})
	return c, addr
}

// answer is one request of a load: when it ran, and the pid that
// answered or why it failed.
type answer struct {
	start, end time.Time
	pid        int
	err        error
}

// loadGen sends requests to an address from workers, each on a fresh
// connection, until stopped (or 100,000 requests, or 60s).
type loadGen struct {
	mu      sync.Mutex
	answers []answer
	stop    chan struct{}
	wg      sync.WaitGroup
}

func startPortLoad(addr string, workers int) *loadGen {
	g := &loadGen{stop: make(chan struct{})}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	deadline := time.Now().Add(60 * time.Second)
	for range workers {
		g.wg.Add(1)
		go func() { // owner: g.wg; finish waits
			defer g.wg.Done()
			for {
				select {
				case <-g.stop:
					return
				default:
				}
				if g.count(func(answer) bool { return true }) >= 100000 || time.Now().After(deadline) {
					return
				}
				a := answer{start: time.Now()}
				a.pid, a.err = getPID(client, "http://"+addr+"/")
				a.end = time.Now()
				g.mu.Lock()
				g.answers = append(g.answers, a)
				g.mu.Unlock()
			}
		}()
	}
	return g
}

// count counts the answers so far that match.
func (g *loadGen) count(match func(answer) bool) int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, a := range g.answers {
		if match(a) {
			n++
		}
	}
	return n
}

// finish stops the load and returns every answer.
func (g *loadGen) finish() []answer {
	close(g.stop)
	g.wg.Wait()
	return g.answers
}

// getPID asks url for the pid that answers.
func getPID(client *http.Client, url string) (int, error) {
	resp, err := client.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	var pid int
	if _, err := fmt.Sscanf(string(body), "pid %d", &pid); err != nil || resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d, body %q", resp.StatusCode, body)
	}
	return pid, nil
}

func instancePIDs(st Status) []int {
	var pids []int
	for _, in := range st.Instances {
		pids = append(pids, in.PID)
	}
	return pids
}

func TestProxy_RollingRestartLosesNoRequest(t *testing.T) {
	c, addr := proxiedApp(t, "api", 3, nil)
	s := startSupervisor(t, c)
	if err := s.Start(context.Background(), []string{"api"}, true); err != nil {
		t.Fatal(err)
	}
	before := instancePIDs(statusOf(t, s, "api"))

	// The load runs before, during and after the restart.
	g := startPortLoad(addr, 8)
	for _, pid := range before {
		waitFor(t, 10*time.Second, fmt.Sprintf("a request answered by pid %d", pid), func() bool {
			return g.count(func(a answer) bool { return a.pid == pid }) > 0
		})
	}
	restartStart := time.Now()
	if err := s.Restart(context.Background(), []string{"api"}, policies.ReasonReload, true); err != nil {
		g.finish()
		t.Fatal(err)
	}
	restartEnd := time.Now()
	waitFor(t, 10*time.Second, "50 requests after the restart", func() bool {
		return g.count(func(a answer) bool { return a.start.After(restartEnd) }) >= 50
	})
	answers := g.finish()

	after := instancePIDs(statusOf(t, s, "api"))
	seen := map[int]int{}
	during, afterN := 0, 0
	for _, a := range answers {
		if a.err != nil {
			t.Errorf("request at %s failed: %v", a.start.Format(time.StampMicro), a.err)
			continue
		}
		seen[a.pid]++
		if a.end.After(restartStart) && a.start.Before(restartEnd) {
			during++
		}
		if a.start.After(restartEnd) {
			afterN++
		}
	}
	if during == 0 || afterN == 0 {
		t.Fatalf("the load did not overlap the restart: %d requests during it, %d after", during, afterN)
	}
	for i, p := range after {
		if p == before[i] || p == 0 {
			t.Errorf("instance %d: pid %d before, %d after: not replaced", i, before[i], p)
		}
		if seen[p] == 0 {
			t.Errorf("instance %d (pid %d) got no request after it came up", i, p)
		}
		if alive(before[i]) {
			t.Errorf("old pid %d still runs", before[i])
		}
	}
	// Rolling: the next instance's overlap begins only once the previous
	// replaced process is drained and stopping.
	evs := s.Events(0, "api", time.Time{})
	open := 0
	for _, e := range evs {
		switch {
		case e.Type == EventOverlap:
			open++
			if open > c.Rolling {
				t.Fatalf("%d replacements under way at once with rolling = %d:\n%s", open, c.Rolling, dumpEvents(evs))
			}
		case e.Type == EventStopping && strings.Contains(e.Message, "the old one's group"):
			open--
		}
	}
	t.Logf("%d requests, %d during the rolling restart (%s), spread %v", len(answers), during, restartEnd.Sub(restartStart), seen)
}

func TestProxy_CrashLeavesRotationAtOnce(t *testing.T) {
	c, addr := proxiedApp(t, "api", 3, nil)
	s := startSupervisor(t, c)
	if err := s.Start(context.Background(), []string{"api"}, true); err != nil {
		t.Fatal(err)
	}
	victim := statusOf(t, s, "api").Instances[1].PID
	if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, s, 5*time.Second, "the exit of the killed instance", func(evs []Event) bool {
		for _, e := range evs {
			if e.Type == EventExit && e.PID == victim {
				return true
			}
		}
		return false
	})
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for i := range 60 {
		pid, err := getPID(client, "http://"+addr+"/")
		if err != nil {
			t.Fatalf("request %d after the crash: %v", i, err)
		}
		if pid == victim {
			t.Fatalf("request %d went to the crashed pid %d", i, victim)
		}
	}
}

func TestProxy_ClientsQueueUntilAProcessIsReady(t *testing.T) {
	c, addr := proxiedApp(t, "api", 1, func(c *config.Component) {
		c.Env["THORP_SERVE_DELAY"] = "500ms"
	})
	s := startSupervisor(t, c)
	// The address is bound before anything runs; the client waits.
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("the proxy address was not bound before the first start: %v", err)
	}
	conn.Close()
	got := make(chan error, 1)
	go func() { // owner: this test, which reads got
		_, err := getPID(&http.Client{Timeout: 10 * time.Second}, "http://"+addr+"/")
		got <- err
	}()
	if err := s.Start(context.Background(), []string{"api"}, false); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-got:
		if err != nil {
			t.Fatalf("a client that came before the process was ready: %v", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no answer within 15s")
	}
	// The balancer takes the process into rotation before the component
	// publishes the status that says so: the answer can come first.
	waitFor(t, 5*time.Second, "the status to show the proxied process in rotation", func() bool {
		st := statusOf(t, s, "api")
		return st.Proxy != nil && st.Instances[0].Port != 0 && st.Instances[0].Rotation == RotationIn
	})
}

func TestProxy_ProcessThatNeverOpensItsPortFailsItsStart(t *testing.T) {
	c, _ := proxiedApp(t, "api", 1, func(c *config.Component) {
		c.Env["THORP_NO_LISTEN"] = "1"
		c.ListenTimeout = 300 * time.Millisecond
	})
	s := startSupervisor(t, c)
	err := s.Start(context.Background(), []string{"api"}, true)
	if err == nil || !strings.Contains(err.Error(), "$PORT") {
		t.Fatalf("start of a process that never opens $PORT: %v", err)
	}
}

// waitFor polls cond every 5ms until it holds, failing the test after timeout.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond) //nolint:forbidigo // polling a condition, bounded by timeout
	}
}

func TestProxy_ReloadMovesTheListenerWithoutARestart(t *testing.T) {
	c, addr := proxiedApp(t, "api", 2, nil)
	s := startSupervisor(t, c)
	if err := s.Start(context.Background(), []string{"api"}, true); err != nil {
		t.Fatal(err)
	}
	before := instancePIDs(statusOf(t, s, "api"))
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}

	// A new address and http mode: bound before anything changes, served
	// by the same processes; the old address is let go.
	port, err := freeLoopbackPort()
	if err != nil {
		t.Fatal(err)
	}
	addr2 := fmt.Sprintf("127.0.0.1:%d", port)
	c2 := c
	px := *c.Proxy
	px.Listen, px.Mode = "tcp://"+addr2, config.ProxyHTTP
	c2.Proxy = &px
	rep, err := s.Reload(context.Background(), testConfig(t, c2))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Updated) != 1 {
		t.Fatalf("a new proxy address should update in place: %+v", rep)
	}
	for range 20 {
		if _, err := getPID(client, "http://"+addr2+"/"); err != nil {
			t.Fatalf("the new address after the reload: %v", err)
		}
	}
	if _, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		t.Errorf("the old proxy address %s is still bound", addr)
	}
	st := statusOf(t, s, "api")
	if got := instancePIDs(st); !slices.Equal(got, before) {
		t.Fatalf("the processes changed: %v -> %v", before, got)
	}
	if st.Proxy == nil || st.Proxy.Mode != config.ProxyHTTP || st.Proxy.Listen != "tcp://"+addr2 {
		t.Fatalf("proxy status after the reload: %+v", st.Proxy)
	}

	// Without a proxy the processes restart, and the address goes.
	c3 := c
	c3.Proxy = nil
	c3.Env = map[string]string{childEnv: "port-app", "PORT": "0"}
	rep, err = s.Reload(context.Background(), testConfig(t, c3))
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Restarted) != 1 {
		t.Fatalf("losing the proxy should restart: %+v", rep)
	}
	if _, err := net.DialTimeout("tcp", addr2, time.Second); err == nil {
		t.Errorf("the proxy address %s is still bound after the proxy went", addr2)
	}
	if st := statusOf(t, s, "api"); st.Proxy != nil {
		t.Fatalf("status still has a proxy: %+v", st.Proxy)
	}
}

func TestProxy_RestartDuringAReplacementIsSkipped(t *testing.T) {
	c, addr := proxiedApp(t, "api", 1, func(c *config.Component) {
		c.Env["THORP_SERVE_DELAY"] = "300ms" // the replacement is not ready at once
	})
	s := startSupervisor(t, c)
	if err := s.Start(context.Background(), []string{"api"}, true); err != nil {
		t.Fatal(err)
	}
	old := statusOf(t, s, "api").Instances[0].PID
	if err := s.Restart(context.Background(), []string{"api"}, policies.ReasonReload, false); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, s, 5*time.Second, "the overlap", func(evs []Event) bool { return count(evs, "api", EventOverlap) == 1 })
	// A second restart while the first replacement is starting.
	if err := s.Restart(context.Background(), []string{"api"}, policies.ReasonManual, false); err != nil {
		t.Fatal(err)
	}
	evs := waitEvents(t, s, 10*time.Second, "the old process gone", func(evs []Event) bool {
		for _, e := range evs {
			if e.Type == EventStopped && e.PID == old {
				return true
			}
		}
		return false
	})
	if n := count(evs, "api", EventSpawn); n != 2 {
		t.Fatalf("%d processes started, want 2 (the first and one replacement):\n%s", n, dumpEvents(evs))
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	if pid, err := getPID(client, "http://"+addr+"/"); err != nil || pid == old {
		t.Fatalf("after the replacement: pid %d, %v (old %d)", pid, err, old)
	}
}
