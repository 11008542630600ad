package main

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The helpers of the balancer's end-to-end tests and benchmarks: the
// thorp-unaware app, a running proxied component and the load that counts
// every request sent through it.

// proxied is a running thorp with one proxied component "app" running
// portapp, with its HTTP server (API, /metrics) on loopback.
type proxied struct {
	*runningThorp
	url    string // the balancer: http://127.0.0.1:PORT
	listen int    // the balancer's port
	web    int    // thorp's HTTP port
	api    *http.Client
	// instances is the component's instance count.
	instances int
}

// proxyConf is what startProxied puts in the config.
type proxyConf struct {
	mode      string   // "tcp" or "http"
	instances int      // 3 when 0
	keys      string   // more component keys, Lua
	proxyKeys string   // more keys of the proxy table, Lua
	args      []string // portapp's flags
}

// writeProxied writes the config of c and returns it with its ports.
func writeProxied(t testing.TB, c proxyConf) *proxied {
	t.Helper()
	if c.instances == 0 {
		c.instances = 3
	}
	p := &proxied{listen: freeTCPPort(t), web: freeTCPPort(t), api: &http.Client{Timeout: 10 * time.Second}, instances: c.instances}
	p.url = fmt.Sprintf("http://127.0.0.1:%d", p.listen)
	argv := []string{fmt.Sprintf("%q", testProgram(t, "portapp"))}
	for _, a := range c.args {
		argv = append(argv, fmt.Sprintf("%q", a))
	}
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "127.0.0.1:%d" }
component "app" {
  command = { %s },
  instances = %d,
  proxy = { listen = "tcp://127.0.0.1:%d", mode = %q, %s },
  restart_delay = "0s",
  %s
}
`, p.web, strings.Join(argv, ", "), c.instances, p.listen, c.mode, c.proxyKeys, c.keys))
	p.runningThorp = &runningThorp{cfg: cfg}
	return p
}

// startProxied starts thorp with c and waits until every instance is in
// rotation.
func startProxied(t testing.TB, c proxyConf) *proxied {
	t.Helper()
	p := writeProxied(t, c)
	p.runningThorp = startThorp(t, p.cfg)
	p.waitInRotation(t, p.instances, nil)
	return p
}

// appStatus is the part of a proxied component's status the tests read
// (GET /api/v1/components, `thorp status --json`).
type appStatus struct {
	Name             string         `json:"name"`
	State            string         `json:"state"`
	Restarts         int            `json:"restarts"`
	RestartsByReason map[string]int `json:"restarts_by_reason"`
	Message          string         `json:"message"`
	Instances        []struct {
		Index       int    `json:"index"`
		PID         int    `json:"pid"`
		State       string `json:"state"`
		Port        int    `json:"port"`
		Rotation    string `json:"rotation"`
		Connections int    `json:"connections"`
	} `json:"instances"`
	Proxy *struct {
		Listen           string            `json:"listen"`
		Mode             string            `json:"mode"`
		ConnectionsTotal uint64            `json:"connections_total"`
		Active           int               `json:"active"`
		Errors           map[string]uint64 `json:"errors"`
		Requests         map[string]uint64 `json:"requests"`
		Backends         []backendStatus   `json:"backends"`
	} `json:"proxy"`
}

type backendStatus struct {
	Instance    int    `json:"instance"`
	PID         int    `json:"pid"`
	Port        int    `json:"port"`
	Rotation    string `json:"rotation"`
	Connections int    `json:"connections"`
}

// inRotation returns the pids of the backends in rotation, by instance
// order as the status lists them.
func (s appStatus) inRotation() []int {
	var pids []int
	if s.Proxy == nil {
		return nil
	}
	for _, b := range s.Proxy.Backends {
		if b.Rotation == "in rotation" {
			pids = append(pids, b.PID)
		}
	}
	return pids
}

// getJSON GETs path on thorp's HTTP server into v.
func (p *proxied) getJSON(path string, v any) error {
	resp, err := p.api.Get(fmt.Sprintf("http://127.0.0.1:%d%s", p.web, path))
	if err != nil {
		return fmt.Errorf("GET %s: %v", path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %d %v\n%s", path, resp.StatusCode, err, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("GET %s: %v\n%s", path, err, b)
	}
	return nil
}

// tryStatus returns the component "app" from the API; any goroutine may
// call it.
func (p *proxied) tryStatus() (appStatus, error) {
	var all struct {
		Components []appStatus `json:"components"`
	}
	if err := p.getJSON("/api/v1/components", &all); err != nil {
		return appStatus{}, err
	}
	for _, c := range all.Components {
		if c.Name == "app" {
			return c, nil
		}
	}
	return appStatus{}, fmt.Errorf("no component app in %+v", all)
}

// status is tryStatus for the test's goroutine.
func (p *proxied) status(t testing.TB) appStatus {
	t.Helper()
	st, err := p.tryStatus()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// waitInRotation waits until n backends are in rotation, none of them one
// of the pids in not, and returns their pids.
func (p *proxied) waitInRotation(t testing.TB, n int, not []int) []int {
	t.Helper()
	var pids []int
	waitFor(t, 30*time.Second, fmt.Sprintf("%d processes in rotation (not %v)", n, not), func() bool {
		pids = p.status(t).inRotation()
		for _, pid := range pids {
			if slices.Contains(not, pid) {
				return false
			}
		}
		return len(pids) == n
	})
	return pids
}

// event is one engine event from /api/v1/events.
type event struct {
	Seq      uint64    `json:"seq"`
	Time     time.Time `json:"time"`
	Instance int       `json:"instance"`
	Type     string    `json:"type"`
	Reason   string    `json:"reason"`
	PID      int       `json:"pid"`
	Message  string    `json:"message"`
}

// events returns the stored events of "app".
func (p *proxied) events(t testing.TB) []event {
	t.Helper()
	var evs struct {
		Events []event `json:"events"`
	}
	if err := p.getJSON("/api/v1/events?component=app", &evs); err != nil {
		t.Fatal(err)
	}
	return evs.Events
}

// rotationWatch polls the component while a restart runs, recording the
// fewest and most processes in rotation at once.
type rotationWatch struct {
	stop     chan struct{}
	done     chan struct{}
	min, max int
	samples  int
	err      error
}

// watchRotation starts polling (at most 100,000 times); end stops it and
// returns what it saw.
func (p *proxied) watchRotation() *rotationWatch {
	w := &rotationWatch{stop: make(chan struct{}), done: make(chan struct{}), min: 1 << 30}
	go func() {
		defer close(w.done)
		for i := 0; i < 100000; i++ {
			select {
			case <-w.stop:
				return
			default:
			}
			st, err := p.tryStatus()
			if err != nil {
				w.err = err
				return
			}
			n := len(st.inRotation())
			w.min, w.max = min(w.min, n), max(w.max, n)
			w.samples++
		}
	}()
	return w
}

// end stops the watch and returns it, failing t if a poll failed.
func (w *rotationWatch) end(t testing.TB) *rotationWatch {
	t.Helper()
	close(w.stop)
	<-w.done
	if w.err != nil {
		t.Fatal(w.err)
	}
	return w
}

// loadLimit bounds every load: its clients stop on their own after it.
const loadLimit = 90 * time.Second

// load is a set of HTTP clients requesting one URL in a loop, each through
// its own connection pool, until stopped (or loadLimit). Every request is
// counted: a success is a 200 whose body names the pid that served it.
type load struct {
	t0      time.Time
	stopped atomic.Bool
	wg      sync.WaitGroup
	ok      atomic.Int64
	failed  atomic.Int64
	perMS   []atomic.Int32 // successes by the millisecond (since t0) they completed in

	mu    sync.Mutex
	pids  map[int]int       // responses by pid
	fails []failure         // the first maxFails failures
	lat   [][]time.Duration // per client: latency of each success
}

// failure is one failed request.
type failure struct {
	start, end time.Time
	err        string
}

const maxFails = 50

// startLoad starts clients clients GETting url. keepAlive clients reuse
// their connection; the others connect for every request.
func startLoad(t testing.TB, url string, clients int, keepAlive bool) *load {
	return startLoadOver(t, []string{url}, clients, keepAlive)
}

// startLoadOver is startLoad with client i sending to urls[i % len(urls)].
func startLoadOver(t testing.TB, urls []string, clients int, keepAlive bool) *load {
	l := &load{t0: time.Now(), perMS: make([]atomic.Int32, loadLimit/time.Millisecond+1), pids: map[int]int{},
		lat: make([][]time.Duration, clients)}
	for i := range clients {
		l.wg.Go(func() { l.client(i, urls[i%len(urls)], keepAlive) })
	}
	t.Cleanup(l.stop)
	return l
}

func (l *load) client(i int, url string, keepAlive bool) {
	tr := &http.Transport{DisableKeepAlives: !keepAlive, MaxIdleConnsPerHost: 1}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	var lat []time.Duration
	defer func() {
		l.mu.Lock()
		l.lat[i] = lat
		l.mu.Unlock()
	}()
	for fails := 0; fails < 1000 && !l.stopped.Load() && time.Since(l.t0) < loadLimit; {
		start := time.Now()
		pid, err := getPID(c, url)
		end := time.Now()
		if err != nil {
			fails++
			l.failed.Add(1)
			l.mu.Lock()
			if len(l.fails) < maxFails {
				l.fails = append(l.fails, failure{start, end, err.Error()})
			}
			l.mu.Unlock()
			continue
		}
		l.ok.Add(1)
		lat = append(lat, end.Sub(start))
		if ms := end.Sub(l.t0) / time.Millisecond; ms < time.Duration(len(l.perMS)) {
			l.perMS[ms].Add(1)
		}
		l.mu.Lock()
		l.pids[pid]++
		l.mu.Unlock()
	}
}

// getPID GETs url and returns the pid in its body ("pid N").
func getPID(c *http.Client, url string) (int, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("status %d: %q", resp.StatusCode, b)
	}
	var pid int
	if _, err := fmt.Sscanf(string(b), "pid %d\n", &pid); err != nil {
		return 0, fmt.Errorf("body %q: %v", b, err)
	}
	return pid, nil
}

// stop stops the clients and waits for them; each finishes its request.
func (l *load) stop() {
	l.stopped.Store(true)
	l.wg.Wait()
}

// okBetween counts the successes completed from a to b.
func (l *load) okBetween(a, b time.Time) int {
	i, j := max(int(a.Sub(l.t0)/time.Millisecond), 0), min(int(b.Sub(l.t0)/time.Millisecond), len(l.perMS)-1)
	n := 0
	for ; i <= j; i++ {
		n += int(l.perMS[i].Load())
	}
	return n
}

// waitOK waits until n successes completed after since.
func (l *load) waitOK(t testing.TB, n int, since time.Time) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("%d successful requests", n), func() bool {
		if l.failed.Load() >= 1000 {
			t.Fatalf("the load is failing: %s", l.report())
		}
		return l.okBetween(since, time.Now()) >= n
	})
}

// longestGap is the longest time between two successes (1 ms resolution)
// from the first success to the last.
func (l *load) longestGap() time.Duration {
	return l.longestGapBetween(l.t0, l.t0.Add(loadLimit))
}

// longestGapBetween is longestGap counting only successes from a to b.
func (l *load) longestGapBetween(a, b time.Time) time.Duration {
	gap, _ := l.longestGapAt(a, b)
	return gap
}

// longestGapAt is longestGapBetween and the time the gap began.
func (l *load) longestGapAt(a, b time.Time) (time.Duration, time.Time) {
	from, to := max(int(a.Sub(l.t0)/time.Millisecond), 0), min(int(b.Sub(l.t0)/time.Millisecond), len(l.perMS)-1)
	last, gap, at := -1, 0, 0
	for i := from; i <= to; i++ {
		if l.perMS[i].Load() == 0 {
			continue
		}
		if last >= 0 && i-last > gap {
			gap, at = i-last, last
		}
		last = i
	}
	return time.Duration(gap) * time.Millisecond, l.t0.Add(time.Duration(at) * time.Millisecond)
}

// distribution returns the responses by pid.
func (l *load) distribution() map[int]int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return maps.Clone(l.pids)
}

// medianLatency is the median latency of the successes (after stop).
func (l *load) medianLatency() time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var all []time.Duration
	for _, c := range l.lat {
		all = append(all, c...)
	}
	if len(all) == 0 {
		return 0
	}
	slices.Sort(all)
	return all[len(all)/2]
}

// report describes the counts and the first failures.
func (l *load) report() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	fmt.Fprintf(&b, "%d ok, %d failed, by pid %v, longest gap %v", l.ok.Load(), l.failed.Load(), l.pids, l.longestGap())
	for _, f := range l.fails {
		fmt.Fprintf(&b, "\n  %s +%v: %s", f.start.Sub(l.t0).Round(time.Millisecond), f.end.Sub(f.start).Round(time.Millisecond), f.err)
	}
	return b.String()
}

// failuresStartedAfter counts the recorded failures of requests started after at.
func (l *load) failuresStartedAfter(at time.Time) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, f := range l.fails {
		if f.start.After(at) {
			n++
		}
	}
	return n
}
