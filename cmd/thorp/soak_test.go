package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// soakEnv sets BenchmarkSoak's duration ("10m", "3m"); unset, the benchmark
// is skipped so that `make bench` stays short. `make soak` sets it.
const soakEnv = "THORP_SOAK"

// Soak tolerances: after warm-up, thorp's RSS must not grow by soakMaxSlope
// or more (least squares over the RSS samples; the test fails when the
// slope minus twice its standard error reaches it, so that GC jitter on a
// short run is not taken for growth, while a real leak of 1 MiB/h or more
// on a long one is caught), and the goroutine and fd
// counts at the end (median of the last soakWindow samples) may exceed
// those at the start (median of the first soakWindow samples after
// warm-up) by at most the larger of the absolute and relative slack: they
// move with the processes in flight at the instant of a sample, they must
// not climb.
const (
	soakMaxSlope      = 1.0 // MiB per hour
	soakWindow        = 15  // samples
	soakGoroutineAbs  = 20
	soakFDAbs         = 10
	soakRelativeSlack = 0.05
	soakRSSEvery      = 100 * time.Millisecond
)

// soakConfig is the soak's thorp.lua: 50 components crashing every second,
// 5 leaking until max_memory_restart recycles them, two chatty ones, every
// log rotating at 1 KB (a few seconds for the busy ones) with two rotated
// files kept.
func soakConfig(httpAddr string) string {
	var b strings.Builder
	fmt.Fprintf(&b, `settings {
  http = %q,
  logs = { max_size = "1KB", retain_files = 2 },
}
`, httpAddr)
	for i := range 50 {
		fmt.Fprintf(&b, `component "crash-%02d" { command = { %q, "simulate", "crash", "--after", "1s" }, restart_delay = "0s", min_uptime = "0s", max_restarts = 0 }
`, i, thorpBin)
	}
	for i := range 5 {
		fmt.Fprintf(&b, `component "leak-%d" { command = { %q, "simulate", "leak", "--rate", "20MB/s", "--max", "0" }, max_memory_restart = "40MB", memory_interval = "500ms", memory_samples = 1, restart_delay = "0s", min_uptime = "0s", max_restarts = 0 }
`, i, thorpBin)
	}
	for i := range 2 {
		fmt.Fprintf(&b, `component "chatty-%d" { command = { %q, "simulate", "chatty", "--lines", "0", "--rate", "20" } }
`, i, thorpBin)
	}
	return b.String()
}

// soakSample is one reading of thorp's process.
type soakSample struct {
	at         time.Duration // since the start of thorp
	rss        int64
	goroutines int
	fds        int
}

// scrapeGoroutines reads go_goroutines from thorp's /metrics.
func scrapeGoroutines(client *http.Client, addr string) (int, error) {
	resp, err := client.Get("http://" + addr + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("/metrics: %s", resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	n := -1
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "go_goroutines "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, err
			}
			n = int(f)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	if n < 0 {
		return 0, fmt.Errorf("/metrics has no go_goroutines")
	}
	return n, nil
}

// rssSlope is the least-squares slope of RSS over time, in MiB per hour,
// and its standard error.
func rssSlope(samples []soakSample) (slope, stderr float64) {
	n := float64(len(samples))
	if n < 3 {
		return 0, math.Inf(1)
	}
	var mx, my float64
	for _, s := range samples {
		mx += s.at.Hours()
		my += float64(s.rss) / (1 << 20)
	}
	mx, my = mx/n, my/n
	var sxx, sxy float64
	for _, s := range samples {
		dx, dy := s.at.Hours()-mx, float64(s.rss)/(1<<20)-my
		sxx += dx * dx
		sxy += dx * dy
	}
	if sxx == 0 {
		return 0, math.Inf(1)
	}
	slope = sxy / sxx
	var sse float64
	for _, s := range samples {
		e := float64(s.rss)/(1<<20) - my - slope*(s.at.Hours()-mx)
		sse += e * e
	}
	return slope, math.Sqrt(sse / (n - 2) / sxx)
}

// readRSS returns pid's resident set in bytes from /proc/PID/statm.
func readRSS(pid int) (int64, bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/statm", pid))
	if err != nil {
		return 0, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0, false
	}
	pages, err := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize()), err == nil
}

// BenchmarkSoak runs a real `thorp run` under churn for $THORP_SOAK (skipped
// when unset; `make soak` sets 10m, SOAK=3m shortens it): 50 components
// crashing every second, 5 leaking 20 MB/s and recycled at 40 MB, logs
// rotating at 1 KB; every second it scrapes /metrics, runs `thorp status`
// and samples thorp's RSS, goroutines (go_goroutines) and open fds
// (/proc/PID/fd). The first fifth of the run (20 s to 2 min) is warm-up. It
// fails when the RSS slope after warm-up reaches soakMaxSlope or the
// goroutines or fds grow past the tolerances above.
func BenchmarkSoak(b *testing.B) {
	spec := os.Getenv(soakEnv)
	if spec == "" {
		b.Skip("set " + soakEnv + "=10m (make soak) to run the soak")
	}
	total, err := time.ParseDuration(spec)
	if err != nil || total < time.Minute {
		b.Fatalf("%s=%q: want a duration of at least 1m", soakEnv, spec)
	}
	warm := min(max(total/5, 20*time.Second), 2*time.Minute)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cfg := writeConfig(b, soakConfig(addr))
	r := startThorp(b, cfg)
	pid := r.cmd.Process.Pid
	begin := time.Now()
	client := &http.Client{Timeout: 5 * time.Second}
	ctx, cancel := context.WithTimeout(context.Background(), total)
	defer cancel()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var samples []soakSample
	statusFailures, restarts := 0, 0
	// RSS is read ten times a second (a /proc read): GC cycles make it
	// jitter by a MiB or more, and more samples narrow the slope's error.
	var rssSamples []soakSample
	rssDone := make(chan struct{})
	go func() {
		defer close(rssDone)
		t := time.NewTicker(soakRSSEvery)
		defer t.Stop()
		for ctx.Err() == nil {
			select {
			case <-ctx.Done():
			case <-t.C:
				if rss, ok := readRSS(pid); ok {
					rssSamples = append(rssSamples, soakSample{at: time.Since(begin), rss: rss})
				}
			}
		}
	}()
	b.ResetTimer()
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
			continue
		case err := <-r.done:
			r.done <- err
			b.Fatalf("thorp exited during the soak (%v):\n%s", err, r.stderr.String())
		case <-tick.C:
		}
		g, err := scrapeGoroutines(client, addr)
		if err != nil {
			b.Fatalf("scrape at %v: %v", time.Since(begin).Round(time.Second), err)
		}
		if _, _, code := thorpCmd(b, "status", "-c", cfg); code != exitOK {
			statusFailures++
		}
		fds, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
		if err != nil {
			b.Fatal(err)
		}
		rss, _ := procStat(b, pid)
		samples = append(samples, soakSample{at: time.Since(begin), rss: rss, goroutines: g, fds: len(fds)})
	}
	b.StopTimer()
	<-rssDone
	for _, c := range status(b, cfg).Components {
		restarts += c.Restarts
	}
	afterWarm := func(ss []soakSample) []soakSample {
		var out []soakSample
		for _, s := range ss {
			if s.at >= warm {
				out = append(out, s)
			}
		}
		return out
	}
	after := afterWarm(samples)
	if len(after) < 2*soakWindow {
		b.Fatalf("only %d samples after a %v warm-up", len(after), warm)
	}
	pick := func(ss []soakSample, f func(soakSample) int) int {
		vs := make([]int, len(ss))
		for i, s := range ss {
			vs[i] = f(s)
		}
		return median(vs)
	}
	first, last := after[:soakWindow], after[len(after)-soakWindow:]
	rss := func(s soakSample) int { return int(s.rss >> 10) }
	gor := func(s soakSample) int { return s.goroutines }
	fd := func(s soakSample) int { return s.fds }
	g0, g1 := pick(first, gor), pick(last, gor)
	f0, f1 := pick(first, fd), pick(last, fd)
	slope, se := rssSlope(afterWarm(rssSamples))
	b.ReportMetric(slope, "rss-MiB/h")
	b.ReportMetric(float64(pick(last, rss))/1024, "rss-end-MiB")
	b.ReportMetric(float64(g1-g0), "goroutines-growth")
	b.ReportMetric(float64(f1-f0), "fds-growth")
	load, _ := os.ReadFile("/proc/loadavg")
	b.Logf("soak %v (warm-up %v, %d samples after it), %d restarts in all, %d failed `thorp status`, load %s",
		total, warm, len(after), restarts, statusFailures, strings.TrimSpace(string(load)))
	b.Logf("RSS %.1f → %.1f MiB (median of %d samples; peak %.1f), slope %+.2f ± %.2f MiB/h over %d samples (target < %.0f)",
		float64(pick(first, rss))/1024, float64(pick(last, rss))/1024, soakWindow,
		float64(slices.MaxFunc(after, func(a, b soakSample) int { return int(a.rss - b.rss) }).rss)/(1<<20),
		slope, se, len(afterWarm(rssSamples)), soakMaxSlope)
	b.Logf("goroutines %d → %d, fds %d → %d", g0, g1, f0, f1)
	slack := func(v, abs int) int { return max(abs, int(float64(v)*soakRelativeSlack)) }
	if slope-2*se >= soakMaxSlope {
		b.Errorf("RSS grows %.2f ± %.2f MiB/h after warm-up (target < %.0f)", slope, se, soakMaxSlope)
	}
	if g1 > g0+slack(g0, soakGoroutineAbs) {
		b.Errorf("goroutines grew %d → %d", g0, g1)
	}
	if f1 > f0+slack(f0, soakFDAbs) {
		b.Errorf("open fds grew %d → %d", f0, f1)
	}
	if statusFailures > 0 {
		b.Errorf("%d `thorp status` calls failed", statusFailures)
	}
}
