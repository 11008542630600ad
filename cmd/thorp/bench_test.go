package main

import (
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// procStat returns a process's RSS in bytes and its CPU time in seconds,
// summed over its threads from schedstat (nanoseconds, unlike the 10 ms
// ticks of /proc/PID/stat).
func procStat(t testing.TB, pid int) (int64, float64) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	rss, _ := strconv.ParseInt(f[21], 10, 64)
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var ns int64
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			continue
		}
		if v, err := strconv.ParseInt(strings.Fields(string(b))[0], 10, 64); err == nil {
			ns += v
		}
	}
	return rss * int64(os.Getpagesize()), float64(ns) / 1e9
}

// BenchmarkIdle measures thorp's own RSS and CPU while it supervises N idle
// components (issue figures: 50 → RSS ≤ 15 MB and CPU ≤ 0.1 % of a core;
// 500 → RSS < 40 MB, `thorp status` < 50 ms). With limit=1GB every
// component has max_memory_restart, so each is sampled every second: the
// CPU figure is then the memory sampler's cost.
func BenchmarkIdle(b *testing.B) {
	for _, c := range []struct {
		n     int
		limit string
	}{{50, ""}, {500, ""}, {50, "1GB"}, {500, "1GB"}} {
		name := fmt.Sprintf("components=%d", c.n)
		if c.limit != "" {
			name += ",limit=" + c.limit
		}
		n := c.n
		b.Run(name, func(b *testing.B) {
			var cfg strings.Builder
			cfg.WriteString("settings { http = \"\" }\n")
			extra := ""
			if c.limit != "" {
				extra = fmt.Sprintf(", max_memory_restart = %q", c.limit)
			}
			for i := 0; i < n; i++ {
				fmt.Fprintf(&cfg, "component \"idle-%d\" { command = { \"sleep\", \"100000\" }%s }\n", i, extra)
			}
			path := writeConfig(b, cfg.String())
			r := startThorp(b, path)
			waitFor(b, 60*time.Second, "all running", func() bool {
				st := status(b, path)
				for _, c := range st.Components {
					if c.State != "running" {
						return false
					}
				}
				return len(st.Components) == n
			})
			pid := r.cmd.Process.Pid
			time.Sleep(2 * time.Second) // settle after the start burst
			_, cpu0 := procStat(b, pid)
			window := 10 * time.Second
			b.ResetTimer()
			time.Sleep(window)
			b.StopTimer()
			rss, cpu1 := procStat(b, pid)
			b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
			b.ReportMetric((cpu1-cpu0)/window.Seconds()*100, "cpu-%")
			// `thorp status` round trip, the whole CLI process included.
			var rt []time.Duration
			for i := 0; i < 10; i++ {
				start := time.Now()
				if _, errOut, code := thorpCmd(b, "status", "-c", path); code != 0 {
					b.Fatalf("status: %s", errOut)
				}
				rt = append(rt, time.Since(start))
			}
			slices.Sort(rt)
			b.ReportMetric(float64(rt[len(rt)/2].Microseconds())/1000, "status-ms")
		})
	}
}
