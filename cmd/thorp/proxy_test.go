package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// End-to-end tests of the balancer (issue 10): a real thorp supervising
// testdata/portapp, an app that only knows $PORT, behind `proxy`, with 8
// concurrent clients counting every request.

const clients = 8

// modes are the two proxy modes with the clients each is for: tcp mode
// with clients that connect for every request (a tcp proxy can only move
// new connections), http mode with keep-alive clients.
var modes = []struct {
	mode      string
	keepAlive bool
}{{"tcp", false}, {"http", true}}

func TestProxy_DistributesAcrossInstances(t *testing.T) {
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			p := startProxied(t, proxyConf{mode: m.mode})
			want := p.status(t).inRotation()
			l := startLoad(t, p.url, clients, m.keepAlive)
			l.waitOK(t, 600, l.t0)
			l.stop()
			if l.failed.Load() != 0 {
				t.Fatalf("requests failed: %s", l.report())
			}
			dist := l.distribution()
			total := int(l.ok.Load())
			for pid, n := range dist {
				if !slices.Contains(want, pid) {
					t.Errorf("pid %d answered %d requests but is not one of the instances %v", pid, n, want)
				}
			}
			for _, pid := range want {
				if dist[pid] < total/10 {
					t.Errorf("pid %d answered %d of %d requests (by pid: %v)", pid, dist[pid], total, dist)
				}
			}
		})
	}
}

// TestProxy_RollingReloadAndRestart: `thorp reload` and `thorp restart` of
// a proxied component replace its processes one at a time (rolling = 1)
// while clients keep being served: new pids, the old ones drained and
// gone, never fewer than instances - 1 in rotation, nothing failed.
func TestProxy_RollingReloadAndRestart(t *testing.T) {
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			p := startProxied(t, proxyConf{mode: m.mode})
			l := startLoad(t, p.url, clients, m.keepAlive)
			l.waitOK(t, 100, l.t0)
			for _, action := range []string{"reload", "restart"} {
				old := p.status(t).inRotation()
				w := p.watchRotation()
				start := time.Now()
				if out, errOut, code := thorpCmd(t, action, "app", "-c", p.cfg); code != exitOK {
					t.Fatalf("%s: exit %d\n%s%s", action, code, out, errOut)
				}
				fresh := p.waitInRotation(t, 3, old)
				waitFor(t, 30*time.Second, "the old processes to be gone", func() bool {
					return !slices.ContainsFunc(old, alive)
				})
				end := time.Now()
				w.end(t)
				if w.min < 2 || w.max > 4 || w.samples < 3 {
					t.Errorf("%s: %d to %d processes in rotation over %d samples, want 2 to 4 (3 instances, rolling = 1)",
						action, w.min, w.max, w.samples)
				}
				if n := l.okBetween(start, end); n == 0 {
					t.Errorf("%s: no request served during the restart (%v)", action, end.Sub(start))
				}
				before := l.distribution()
				l.waitOK(t, 100, end)
				for pid, n := range l.distribution() {
					if n > before[pid] && !slices.Contains(fresh, pid) {
						t.Errorf("%s: pid %d, not one of the new %v, served after the restart", action, pid, fresh)
					}
				}
				t.Logf("%s: %v → %v in %v, %d requests during it", action, old, fresh, end.Sub(start).Round(time.Millisecond), l.okBetween(start, end))
			}
			l.stop()
			if l.failed.Load() != 0 {
				t.Fatalf("requests failed: %s", l.report())
			}
		})
	}
}

// TestProxy_MemoryRecyclesLoseNothing: one instance leaks; each time it
// crosses max_memory_restart thorp replaces it (an overlap with drain)
// while clients keep being served, and nothing fails.
func TestProxy_MemoryRecyclesLoseNothing(t *testing.T) {
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			p := startProxied(t, proxyConf{
				mode: m.mode,
				keys: `max_memory_restart = "40MB", memory_interval = "100ms", memory_samples = 1,`,
				args: []string{"-leak", "30", "-leak-instance", "0"},
			})
			st := p.status(t)
			others := []int{st.Instances[1].PID, st.Instances[2].PID}
			l := startLoad(t, p.url, clients, m.keepAlive)
			l.waitOK(t, 50, l.t0)
			var windows [][2]time.Time
			waitFor(t, 60*time.Second, "3 memory restarts completed under load", func() bool {
				windows = restartWindows(p.events(t), "memory", l.t0)
				return len(windows) >= 3
			})
			p.waitInRotation(t, 3, nil)
			l.waitOK(t, 100, time.Now())
			l.stop()
			if l.failed.Load() != 0 {
				t.Fatalf("requests failed: %s", l.report())
			}
			for _, w := range windows {
				if n := l.okBetween(w[0], w[1]); n == 0 {
					t.Errorf("no request served during the memory restart from %v to %v", w[0], w[1])
				}
			}
			st = p.status(t)
			if got := []int{st.Instances[1].PID, st.Instances[2].PID}; !slices.Equal(got, others) {
				t.Errorf("the instances that do not leak were replaced: %v → %v", others, got)
			}
			t.Logf("%s; %d memory restarts", l.report(), len(windows))
		})
	}
}

// restartWindows returns, for each restart with reason after since, the
// time it was decided and the time its replaced process was gone (the
// instance's next "stopped" event).
func restartWindows(evs []event, reason string, since time.Time) [][2]time.Time {
	var out [][2]time.Time
	open := map[int]time.Time{}
	for _, ev := range evs {
		if ev.Time.Before(since) {
			continue
		}
		if ev.Reason == reason && (ev.Type == "restart" || ev.Type == "overlap") {
			if _, ok := open[ev.Instance]; !ok {
				open[ev.Instance] = ev.Time
			}
			continue
		}
		if at, ok := open[ev.Instance]; ok && ev.Type == "stopped" {
			out = append(out, [2]time.Time{at, ev.Time})
			delete(open, ev.Instance)
		}
	}
	return out
}

// TestProxy_CrashOfOneInstance: kill -9 of one process takes it out of
// rotation at once. http mode: keep-alive clients see no failure (the
// balancer retries idempotent requests on another process). tcp mode:
// only connections open to that process can fail, at most one per client,
// and no connection made after it left rotation fails.
func TestProxy_CrashOfOneInstance(t *testing.T) {
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			p := startProxied(t, proxyConf{mode: m.mode})
			l := startLoad(t, p.url, clients, m.keepAlive)
			l.waitOK(t, 100, l.t0)
			victim := p.status(t).Instances[1].PID
			if err := syscall.Kill(victim, syscall.SIGKILL); err != nil {
				t.Fatal(err)
			}
			killed := time.Now()
			waitFor(t, 5*time.Second, "the killed process out of rotation", func() bool {
				return !slices.Contains(p.status(t).inRotation(), victim)
			})
			out := time.Now()
			p.waitInRotation(t, 3, []int{victim})
			l.waitOK(t, 200, time.Now())
			l.stop()
			t.Logf("out of rotation %v after the kill; %s", out.Sub(killed).Round(time.Millisecond), l.report())
			failed := int(l.failed.Load())
			if m.mode == "http" && failed != 0 {
				t.Fatalf("keep-alive clients of an http proxy saw failures: %s", l.report())
			}
			if failed > clients {
				t.Fatalf("%d requests failed, more than the %d connections that can have been open to the killed process: %s", failed, clients, l.report())
			}
			if n := l.failuresStartedAfter(out); n != 0 {
				t.Fatalf("%d requests started after the killed process left rotation failed: %s", n, l.report())
			}
		})
	}
}

// TestProxy_ReloadDuringLongResponse: a response streaming from a process
// when a rolling reload replaces it completes intact: the process is
// drained, not stopped, until the response has ended.
func TestProxy_ReloadDuringLongResponse(t *testing.T) {
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			p := startProxied(t, proxyConf{mode: m.mode})
			l := startLoad(t, p.url, clients, m.keepAlive)
			l.waitOK(t, 50, l.t0)
			old := p.status(t).inRotation()
			// In tcp mode a connection is the unit the balancer drains: the
			// client closes it after its response, as the load's clients do.
			streamer := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{DisableKeepAlives: !m.keepAlive}}
			resp, err := streamer.Get(p.url + "/stream?ms=3000")
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body := bufio.NewReader(resp.Body)
			first, err := body.ReadString('\n')
			var pid int
			if _, serr := fmt.Sscanf(first, "pid %d\n", &pid); err != nil || serr != nil {
				t.Fatalf("first line %q: %v %v", first, err, serr)
			}
			var wg sync.WaitGroup
			var out, errOut string
			var code int
			start := time.Now()
			wg.Go(func() { out, errOut, code = thorpCmdNoFatal(thorpBin, "reload", "app", "-c", p.cfg) })
			defer wg.Wait()
			waitFor(t, 10*time.Second, fmt.Sprintf("pid %d draining", pid), func() bool {
				st := p.status(t)
				return st.Proxy != nil && slices.ContainsFunc(st.Proxy.Backends, func(b backendStatus) bool {
					return b.PID == pid && b.Rotation == "draining"
				})
			})
			rest, err := io.ReadAll(body)
			if err != nil {
				t.Fatalf("the stream broke after %v: %v\n%s", time.Since(start), err, rest)
			}
			ended := time.Now()
			lines := strings.Split(strings.TrimSuffix(string(rest), "\n"), "\n")
			for i, line := range lines[:len(lines)-1] {
				if line != "chunk "+strconv.Itoa(i) {
					t.Fatalf("line %d of the stream is %q\n%s", i, line, rest)
				}
			}
			if want := "end " + strconv.Itoa(len(lines)-1); lines[len(lines)-1] != want || len(lines) < 100 {
				t.Fatalf("the stream ended with %q after %d chunks, want %q\n%s", lines[len(lines)-1], len(lines)-1, want, rest)
			}
			wg.Wait()
			if code != exitOK {
				t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
			}
			waitFor(t, 10*time.Second, fmt.Sprintf("pid %d gone once its response ended", pid), func() bool { return !alive(pid) })
			p.waitInRotation(t, 3, old)
			l.waitOK(t, 50, time.Now())
			l.stop()
			if l.failed.Load() != 0 {
				t.Fatalf("requests failed: %s", l.report())
			}
			if l.okBetween(start, ended) == 0 {
				t.Fatalf("no request served during the reload: %s", l.report())
			}
		})
	}
}

// thorpCmdNoFatal is thorpCmd for a goroutine other than the test's: it
// reports a failure to run as exit code -1 with the error in stderr.
func thorpCmdNoFatal(bin string, args ...string) (string, string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	var out, errb strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if cmd.ProcessState == nil {
		return out.String(), err.Error(), -1
	}
	return out.String(), errb.String(), cmd.ProcessState.ExitCode()
}

// TestProxy_ClientsQueueUntilReady: clients that connect before any
// process is ready wait and are served once one is.
func TestProxy_ClientsQueueUntilReady(t *testing.T) {
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			p := writeProxied(t, proxyConf{mode: m.mode, args: []string{"-start-delay", "2s"}})
			p.runningThorp = startThorp(t, p.cfg)
			var conns []net.Conn
			for range clients {
				c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.listen), 5*time.Second)
				if err != nil {
					t.Fatalf("connecting before any process is ready: %v", err)
				}
				defer c.Close()
				conns = append(conns, c)
			}
			if st := p.status(t); len(st.inRotation()) != 0 {
				t.Fatalf("a process was already in rotation when the clients connected: %+v", st.Proxy)
			}
			for _, c := range conns {
				if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"); err != nil {
					t.Fatal(err)
				}
			}
			for i, c := range conns {
				_ = c.SetDeadline(time.Now().Add(20 * time.Second))
				resp, err := http.ReadResponse(bufio.NewReader(c), nil)
				if err != nil {
					t.Fatalf("client %d: %v", i, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(b), "pid ") {
					t.Fatalf("client %d: %d %q %v", i, resp.StatusCode, b, err)
				}
			}
		})
	}
}

// TestProxy_NeverListeningFailsItsStart: a process that never opens $PORT
// is never ready: its start fails after listen_timeout, is retried with
// backoff and the component ends errored; a client that waits
// queue_timeout for it is turned away and counted as no_backend.
func TestProxy_NeverListeningFailsItsStart(t *testing.T) {
	p := writeProxied(t, proxyConf{mode: "tcp", instances: 1,
		keys:      `listen_timeout = "300ms", max_restarts = 3,`,
		proxyKeys: `queue_timeout = "300ms"`,
		args:      []string{"-never-listen"}})
	p.runningThorp = startThorp(t, p.cfg)
	c := &http.Client{Timeout: 10 * time.Second}
	start := time.Now()
	if pid, err := getPID(c, p.url); err == nil {
		t.Fatalf("a request was answered by pid %d with no process ready", pid)
	}
	if waited := time.Since(start); waited < 250*time.Millisecond {
		t.Errorf("the client was turned away after %v, before queue_timeout", waited)
	}
	waitFor(t, 30*time.Second, "app errored", func() bool { return p.status(t).State == "errored" })
	var types []string
	for _, ev := range p.events(t) {
		types = append(types, ev.Type)
	}
	if !slices.Contains(types, "backoff") || !slices.Contains(types, "errored") {
		t.Errorf("events %v, want backoff and errored", types)
	}
	ms := scrape(t, p)
	if v := ms.value(t, "thorp_proxy_errors_total", "component", "app", "kind", "no_backend"); v < 1 {
		t.Errorf("thorp_proxy_errors_total{kind=no_backend} = %v, want ≥ 1", v)
	}
}

func TestCheck_ProxyBadInput(t *testing.T) {
	port := freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(`settings { http = "" }
component "both" {
  command = { "sleep", "1" },
  sockets = { http = "tcp://127.0.0.1:%d" },
  proxy = "tcp://127.0.0.1:%d",
}
component "bad" {
  command = { "sleep", "1" },
  env = { PORT = "80" },
  proxy = { listen = "tcp://127.0.0.1:%d", mode = "udp", drain_timeout = "-1s" },
}
`, port, port, freeTCPPort(t)))
	out, errOut, code := thorpCmd(t, "check", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("check: exit %d, want 1\n%s%s", code, out, errOut)
	}
	// Each problem: `error: PATH:LINE: component "NAME": KEY: …`, at the
	// component's line or the key's.
	for _, want := range []struct {
		component, key string
		lines          []int
		has            string
	}{
		{"both", "proxy.listen", []int{2, 5}, strconv.Itoa(port)},
		{"bad", "proxy.mode", []int{7, 10}, "udp"},
		{"bad", "proxy.drain_timeout", []int{7, 10}, "-1s"},
		{"bad", "proxy.port_env", []int{7, 9, 10}, "PORT"},
	} {
		re := regexp.MustCompile(`(?m)^error: \S*thorp\.lua:(\d+): component "` + want.component + `": ` +
			regexp.QuoteMeta(want.key) + `: (.*)$`)
		m := re.FindStringSubmatch(out)
		if m == nil || !strings.Contains(m[2], want.has) {
			t.Errorf("no `error: …thorp.lua:N: component %q: %s: …%s…` line in:\n%s", want.component, want.key, want.has, out)
			continue
		}
		if n, _ := strconv.Atoi(m[1]); !slices.Contains(want.lines, n) {
			t.Errorf("%s reported at line %d, want one of %v", want.key, n, want.lines)
		}
	}
}

// TestProxy_Metrics: /metrics has the balancer's families with their labels.
func TestProxy_Metrics(t *testing.T) {
	p := startProxied(t, proxyConf{mode: "http"})
	l := startLoad(t, p.url, clients, true)
	l.waitOK(t, 200, l.t0)
	l.stop()
	ok := float64(l.ok.Load())
	ms := scrape(t, p)
	for _, in := range p.status(t).Instances {
		ms.value(t, "thorp_proxy_connections", "component", "app", "instance", strconv.Itoa(in.Index))
	}
	if v := ms.value(t, "thorp_proxy_connections_total", "component", "app"); v < clients {
		t.Errorf("thorp_proxy_connections_total = %v, want ≥ %d", v, clients)
	}
	for _, kind := range []string{"refused", "reset", "timeout", "no_backend"} {
		ms.value(t, "thorp_proxy_errors_total", "component", "app", "kind", kind)
	}
	if v := ms.value(t, "thorp_proxy_requests_total", "component", "app", "code", "200"); v < ok {
		t.Errorf("thorp_proxy_requests_total{code=200} = %v, want ≥ %v", v, ok)
	}
	if v := ms.value(t, "thorp_proxy_request_duration_seconds_count", "component", "app"); v < ok {
		t.Errorf("thorp_proxy_request_duration_seconds_count = %v, want ≥ %v", v, ok)
	}
	if v := ms.value(t, "thorp_proxy_request_duration_seconds_bucket", "component", "app", "le", "+Inf"); v < ok {
		t.Errorf("thorp_proxy_request_duration_seconds_bucket{le=+Inf} = %v, want ≥ %v", v, ok)
	}
	ms.value(t, "thorp_proxy_request_duration_seconds_sum", "component", "app")
}

// metricSample is one sample of a Prometheus text exposition.
type metricSample struct {
	name   string
	labels map[string]string
	value  float64
}

// samples are the samples of a Prometheus text exposition.
type samples []metricSample

var sampleLine = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)`)
var labelPair = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrape GETs /metrics from thorp.
func scrape(t testing.TB, p *proxied) samples {
	t.Helper()
	resp, err := p.api.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", p.web))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return parseSamples(string(b))
}

// parseSamples returns the samples of a Prometheus text exposition; the
// escapes of label values are kept as written.
func parseSamples(text string) samples {
	var ms samples
	for _, line := range strings.Split(text, "\n") {
		m := sampleLine.FindStringSubmatch(line)
		if m == nil {
			continue
		}
		v, err := strconv.ParseFloat(m[3], 64)
		if err != nil {
			continue
		}
		labels := map[string]string{}
		for _, lp := range labelPair.FindAllStringSubmatch(m[2], -1) {
			labels[lp[1]] = lp[2]
		}
		ms = append(ms, metricSample{m[1], labels, v})
	}
	return ms
}

// value returns the sample of name whose labels include the given
// name/value pairs; it fails t when there is none.
func (ms samples) value(t testing.TB, name string, labels ...string) float64 {
	t.Helper()
	for _, s := range ms {
		if s.name != name {
			continue
		}
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			match = match && s.labels[labels[i]] == labels[i+1]
		}
		if match {
			return s.value
		}
	}
	t.Errorf("no sample %s with labels %v in /metrics", name, labels)
	return 0
}

// TestProxy_StatusShowsPortsRotationAndConnections: `thorp status --json`
// gives each process its $PORT (which answers with that process's pid),
// its rotation and its open connections.
func TestProxy_StatusShowsPortsRotationAndConnections(t *testing.T) {
	p := startProxied(t, proxyConf{mode: "tcp"})
	var conns []net.Conn
	for range 4 {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.listen), 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	var st appStatus
	cliStatus := func() appStatus {
		out, errOut, code := thorpCmd(t, "status", "--json", "-c", p.cfg)
		if code != 0 {
			t.Fatalf("status: exit %d %s", code, errOut)
		}
		var all struct {
			Components []appStatus `json:"components"`
		}
		if err := json.Unmarshal([]byte(out), &all); err != nil || len(all.Components) != 1 {
			t.Fatalf("status --json: %v\n%s", err, out)
		}
		return all.Components[0]
	}
	waitFor(t, 10*time.Second, "4 connections in the status", func() bool {
		st = cliStatus()
		n := 0
		for _, in := range st.Instances {
			n += in.Connections
		}
		return n == 4 && st.Proxy != nil && st.Proxy.Active == 4
	})
	if st.Proxy.Listen != fmt.Sprintf("tcp://127.0.0.1:%d", p.listen) || st.Proxy.Mode != "tcp" || len(st.Proxy.Backends) != 3 {
		t.Errorf("proxy: %+v", st.Proxy)
	}
	ports := map[int]bool{}
	for _, in := range st.Instances {
		if in.Rotation != "in rotation" || in.Port == 0 || ports[in.Port] || in.Port == p.listen {
			t.Errorf("instance %d: port %d, rotation %q", in.Index, in.Port, in.Rotation)
			continue
		}
		ports[in.Port] = true
		pid, err := getPID(&http.Client{Timeout: 5 * time.Second}, fmt.Sprintf("http://127.0.0.1:%d/", in.Port))
		if err != nil || pid != in.PID {
			t.Errorf("instance %d: its port %d answers pid %d (%v), want %d", in.Index, in.Port, pid, err, in.PID)
		}
	}
	for _, c := range conns {
		c.Close()
	}
	waitFor(t, 10*time.Second, "no connection in the status", func() bool {
		st = cliStatus()
		return st.Proxy != nil && st.Proxy.Active == 0
	})
}

// TestProxy_NoLeakAfter10000Connections: 10,000 connections through the
// balancer, among them clients that hang up before sending anything, in
// the middle of a request or in the middle of a streaming response, and a
// process killed under load (its connections reset): afterwards thorp has
// as many fds and goroutines as before, and the resets are counted.
func TestProxy_NoLeakAfter10000Connections(t *testing.T) {
	const total = 10000
	for _, m := range modes {
		t.Run(m.mode, func(t *testing.T) {
			p := startProxied(t, proxyConf{mode: m.mode})
			pid := p.cmd.Process.Pid
			warm := startLoad(t, p.url, clients, m.keepAlive)
			warm.waitOK(t, 100, warm.t0)
			warm.stop()
			fds0, g0 := countFDs(t, pid), int(scrape(t, p).value(t, "go_goroutines"))

			addr := fmt.Sprintf("127.0.0.1:%d", p.listen)
			var next, served atomic.Int64
			var wg sync.WaitGroup
			errs := make(chan error, clients)
			for range clients {
				wg.Go(func() {
					for i := next.Add(1); i <= total; i = next.Add(1) {
						ok, err := oneConnection(addr, int(i))
						if err != nil {
							errs <- fmt.Errorf("connection %d: %w", i, err)
							return
						}
						if ok {
							served.Add(1)
						}
						if i == total/2 {
							st, err := p.tryStatus()
							if err != nil {
								errs <- err
								return
							}
							_ = syscall.Kill(st.Instances[0].PID, syscall.SIGKILL)
						}
					}
				})
			}
			wg.Wait()
			close(errs)
			for err := range errs {
				t.Error(err)
			}
			if served.Load() < total/4-100 {
				t.Errorf("only %d of the %d complete requests were answered", served.Load(), total/4)
			}
			p.waitInRotation(t, 3, nil)
			var fds, g int
			waitFor(t, 20*time.Second, "fds and goroutines back to where they were", func() bool {
				fds, g = countFDs(t, pid), int(scrape(t, p).value(t, "go_goroutines"))
				return fds <= fds0+2*clients && g <= g0+4*clients
			})
			st := p.status(t)
			t.Logf("%d of %d answered; fds %d → %d, goroutines %d → %d; connections %d, errors %v",
				served.Load(), total, fds0, fds, g0, g, st.Proxy.ConnectionsTotal, st.Proxy.Errors)
			if st.Proxy.ConnectionsTotal < total {
				t.Errorf("connections_total %d, want ≥ %d", st.Proxy.ConnectionsTotal, total)
			}
		})
	}
}

// oneConnection makes connection i to the balancer at addr, one of four
// kinds by i: a complete request (ok when answered), a hang-up before
// sending anything, a hang-up in the middle of the request line, and a
// hang-up after the first line of a streaming response.
func oneConnection(addr string, i int) (ok bool, err error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false, err
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	switch i % 4 {
	case 0:
		if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: app\r\nConnection: close\r\n\r\n"); err != nil {
			return false, err
		}
		b, _ := io.ReadAll(c)
		return strings.Contains(string(b), "\r\n\r\npid "), nil
	case 1:
		return false, nil
	case 2:
		_, err := fmt.Fprintf(c, "GET /stre")
		return false, err
	default:
		if _, err := fmt.Fprintf(c, "GET /stream?ms=1000 HTTP/1.1\r\nHost: app\r\n\r\n"); err != nil {
			return false, err
		}
		_, _ = bufio.NewReader(c).ReadString('\n')
		return false, nil
	}
}

// countFDs counts the open fds of pid.
func countFDs(t testing.TB, pid int) int {
	t.Helper()
	fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}
