package main

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// The balancer's figures (issue 10), each a scenario run once whatever b.N
// (-benchtime 1x): see docs/benchmarks.md for the command and the numbers.

// BenchmarkProxyRecycles: 3 instances of portapp behind the balancer, 8
// clients, 5 rolling reloads and then 5 memory recycles of instance 0
// (which leaks while a file exists). Reports the failed requests (target
// 0: tcp mode with clients connecting per request, http mode with
// keep-alive clients) and the longest time without a successful response
// across the restarts (target ≤ 20 ms), beside that of the same load for
// 2 seconds before and 2 seconds after them, without any restart
// (quiet-gap-ms): the gaps this machine makes on its own.
func BenchmarkProxyRecycles(b *testing.B) {
	for _, m := range modes {
		b.Run("mode="+m.mode, func(b *testing.B) {
			leak := filepath.Join(b.TempDir(), "leak")
			p := startProxied(b, proxyConf{
				mode: m.mode,
				keys: `max_memory_restart = "40MB",`, // memory sampling as a user gets it by default
				args: []string{"-leak", "30", "-leak-instance", "0", "-leak-file", leak},
			})
			l := startLoad(b, p.url, clients, m.keepAlive)
			l.waitOK(b, 100, l.t0)
			const quiet = 2 * time.Second
			quiet0 := time.Now()
			time.Sleep(quiet) // a measuring window
			b.ResetTimer()
			start := time.Now()
			var reloads [][2]time.Time
			for range 5 {
				old := p.status(b).inRotation()
				at := time.Now()
				if out, errOut, code := thorpCmd(b, "reload", "app", "-c", p.cfg); code != exitOK {
					b.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
				}
				reloads = append(reloads, [2]time.Time{at, time.Now()})
				p.waitInRotation(b, 3, old)
			}
			memory0 := p.status(b).RestartsByReason["memory"]
			if err := os.WriteFile(leak, nil, 0o644); err != nil {
				b.Fatal(err)
			}
			waitFor(b, 60*time.Second, "5 memory restarts", func() bool {
				return p.status(b).RestartsByReason["memory"] >= memory0+5
			})
			if err := os.Remove(leak); err != nil {
				b.Fatal(err)
			}
			p.waitInRotation(b, 3, nil)
			waitFor(b, 30*time.Second, "the last replaced process gone", func() bool {
				st := p.status(b)
				return len(st.Proxy.Backends) == 3
			})
			end := time.Now()
			time.Sleep(quiet) // a measuring window
			l.stop()
			b.StopTimer()
			// The load ran through every restart: requests were answered
			// during each reload and after the last recycle.
			for i, r := range reloads {
				if l.okBetween(r[0], r[1]) == 0 {
					b.Fatalf("no request answered during reload %d: the load did not overlap it", i+1)
				}
			}
			if l.okBetween(end, end.Add(quiet)) == 0 {
				b.Fatal("no request answered after the last restart: the load ran out")
			}
			st := p.status(b)
			gap, at := l.longestGapAt(start, end)
			b.ReportMetric(float64(l.failed.Load()), "failed")
			b.ReportMetric(float64(l.ok.Load()), "requests")
			b.ReportMetric(float64(gap.Microseconds())/1000, "gap-ms")
			b.ReportMetric(float64(max(l.longestGapBetween(quiet0, start), l.longestGapBetween(end, end.Add(quiet))).Microseconds())/1000, "quiet-gap-ms")
			b.ReportMetric(float64(st.RestartsByReason["memory"]-memory0), "memory-restarts")
			if gap > 20*time.Millisecond {
				// Where the longest gap fell: near an engine event, during a
				// `thorp reload` command, or neither.
				for _, ev := range p.events(b) {
					if d := ev.Time.Sub(at); d > -100*time.Millisecond && d < gap+100*time.Millisecond {
						b.Logf("longest gap (%v) began %v before event %+v", gap, d, ev)
					}
				}
				for i, r := range reloads {
					if !at.Before(r[0]) && at.Before(r[1]) {
						b.Logf("longest gap (%v) began during reload %d, %v after the command started", gap, i+1, at.Sub(r[0]))
					}
				}
			}
			if l.failed.Load() != 0 {
				b.Logf("failures: %s", l.report())
			}
		})
	}
}

// BenchmarkProxyThroughput: keep-alive clients GETting a small response
// ("pid N\n"), straight from one instance's $PORT and through the
// balancer, in alternating rounds, with one instance behind the balancer
// (the same process both ways: the balancer's own cost, the figure) and
// with three. 8 clients for 2 s: proxied ÷ direct requests per second
// (targets ≥ 0.7 tcp, ≥ 0.5 http) and the median latency the balancer
// adds under that load; 1 client for 1 s: the median latency it adds to a
// lone request (targets ≤ 100 µs tcp, ≤ 300 µs http). With three
// instances a third arm, "spread", sends the same 8 clients straight to
// the three instances' ports (client i to instance i mod 3), as if a
// balancer cost nothing: spread ÷ direct is the most any balancer in
// front of the three could reach on this machine. With one instance and
// HAProxy installed (Debian's haproxy; `make bench-deps`), HAProxy in
// front of the same instance, in the same mode, is a third arm: the
// reference for what a proxy written in C reaches here.
func BenchmarkProxyThroughput(b *testing.B) {
	const rounds = 3
	for _, mode := range []string{"tcp", "http"} {
		for _, instances := range []int{1, 3} {
			b.Run(fmt.Sprintf("mode=%s/instances=%d", mode, instances), func(b *testing.B) {
				p := startProxied(b, proxyConf{mode: mode, instances: instances})
				var ports []string
				for _, in := range p.status(b).Instances {
					ports = append(ports, fmt.Sprintf("http://127.0.0.1:%d/", in.Port))
				}
				arms := [][]string{{ports[0]}, {p.url + "/"}}
				if instances > 1 {
					arms = append(arms, ports)
				} else if ref := startHAProxy(b, mode, ports[0]); ref != "" {
					arms = append(arms, []string{ref})
				}
				var reqs, lat, lone [3][]float64 // [direct, proxied, spread or haproxy]
				run := func(urls []string, n int, d time.Duration) *load {
					l := startLoadOver(b, urls, n, true)
					time.Sleep(d) // the measuring window
					l.stop()
					if l.failed.Load() != 0 {
						b.Fatalf("%s: %s", urls, l.report())
					}
					return l
				}
				b.ResetTimer()
				for range rounds {
					for i, urls := range arms {
						l := run(urls, clients, 2*time.Second)
						reqs[i] = append(reqs[i], float64(l.ok.Load())/time.Since(l.t0).Seconds())
						lat[i] = append(lat[i], float64(l.medianLatency().Nanoseconds())/1000)
						if i < 2 {
							l = run(urls, 1, time.Second)
							lone[i] = append(lone[i], float64(l.medianLatency().Nanoseconds())/1000)
						}
					}
				}
				b.StopTimer()
				d, px := median(reqs[0]), median(reqs[1])
				b.ReportMetric(d, "direct-req/s")
				b.ReportMetric(px, "proxied-req/s")
				b.ReportMetric(px/d, "ratio")
				switch {
				case instances > 1:
					b.ReportMetric(median(reqs[2])/d, "spread-ratio")
				case len(arms) > 2:
					b.ReportMetric(median(reqs[2])/d, "haproxy-ratio")
				}
				b.ReportMetric(median(lat[1])-median(lat[0]), "added-p50-8c-µs")
				b.ReportMetric(median(lone[0]), "direct-p50-1c-µs")
				b.ReportMetric(median(lone[1])-median(lone[0]), "added-p50-1c-µs")
			})
		}
	}
}

// BenchmarkProxyIdleConnections: thorp's RSS with 1,000 idle client
// connections through the balancer (each with its connection to a
// process) minus its RSS before them (target ≤ 20 MiB).
func BenchmarkProxyIdleConnections(b *testing.B) {
	const n = 1000
	for _, mode := range []string{"tcp", "http"} {
		b.Run("mode="+mode, func(b *testing.B) {
			p := startProxied(b, proxyConf{mode: mode})
			pid := p.cmd.Process.Pid
			if mode == "http" {
				// One request per process first, so that the idle figure
				// includes the reverse proxy's own set-up.
				l := startLoad(b, p.url, clients, true)
				l.waitOK(b, 30, l.t0)
				l.stop()
			}
			time.Sleep(2 * time.Second) // settle after the start, as BenchmarkIdle does
			idle, _ := procStat(b, pid)
			total0 := p.status(b).Proxy.ConnectionsTotal
			b.ResetTimer()
			conns := make([]net.Conn, 0, n)
			readers := make([]*bufio.Reader, 0, n) // http: each connection's responses
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			for range n {
				c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", p.listen), 5*time.Second)
				if err != nil {
					b.Fatalf("connection %d: %v", len(conns), err)
				}
				conns = append(conns, c)
				readers = append(readers, bufio.NewReader(c))
				if mode == "http" {
					// An idle keep-alive client: one request answered, the
					// connection kept open.
					if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: app\r\n\r\n"); err != nil {
						b.Fatal(err)
					}
				}
			}
			if mode == "http" {
				for i, c := range conns {
					_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
					if body, err := readResponse(readers[i]); err != nil {
						b.Fatalf("connection %d: %q, %v", i, body, err)
					}
				}
			}
			waitFor(b, 30*time.Second, fmt.Sprintf("%d connections in the status", n), func() bool {
				st := p.status(b)
				return st.Proxy.ConnectionsTotal >= total0+n && (mode == "http" || st.Proxy.Active >= n)
			})
			time.Sleep(2 * time.Second)
			busy, _ := procStat(b, pid)
			b.StopTimer()
			fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
			if mode == "http" {
				// Every idle connection (parked by now) still serves its
				// client's next request, and none is counted again.
				for i, c := range conns {
					_ = c.SetDeadline(time.Now().Add(10 * time.Second))
					if _, err := fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: app\r\n\r\n"); err != nil {
						b.Fatalf("connection %d after idling: %v", i, err)
					}
					if body, err := readResponse(readers[i]); err != nil || !strings.HasPrefix(body, "pid ") {
						b.Fatalf("connection %d after idling: %q, %v", i, body, err)
					}
				}
				if total := p.status(b).Proxy.ConnectionsTotal; total != total0+n {
					b.Fatalf("connections_total %d after the idle connections' second requests, want %d", total, total0+n)
				}
			}
			b.ReportMetric(float64(idle)/(1<<20), "idle-MiB")
			b.ReportMetric(float64(busy)/(1<<20), "conns-MiB")
			b.ReportMetric(float64(busy-idle)/(1<<20), "added-MiB")
			b.ReportMetric(float64(len(fds)), "fds")
		})
	}
}

// readResponse reads one whole HTTP response from r and returns its body;
// a status other than 200 is an error.
func readResponse(r *bufio.Reader) (string, error) {
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		return "", err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err == nil && res.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %d", res.StatusCode)
	}
	return string(body), err
}

// startHAProxy runs HAProxy (when installed) in front of backend (a URL
// "http://127.0.0.1:PORT/") in mode "tcp" or "http", two threads, keep-alive
// to the backend, and returns its URL; "" when HAProxy is not installed.
func startHAProxy(b *testing.B, mode, backend string) string {
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		b.Logf("haproxy not installed (make bench-deps): no reference arm")
		return ""
	}
	port := freeTCPPort(b)
	server := strings.TrimSuffix(strings.TrimPrefix(backend, "http://"), "/")
	cfg := fmt.Sprintf(`global
  nbthread 2
defaults
  mode %s
  timeout connect 5s
  timeout client 60s
  timeout server 60s
  http-reuse always
frontend f
  bind 127.0.0.1:%d
  default_backend b
backend b
  server s1 %s
`, mode, port, server)
	path := filepath.Join(b.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-db", "-f", path)
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	b.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	waitFor(b, 10*time.Second, "haproxy listening", func() bool {
		c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err == nil {
			c.Close()
		}
		return err == nil
	})
	return fmt.Sprintf("http://127.0.0.1:%d/", port)
}
