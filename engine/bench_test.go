package engine

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/proc"
)

// readStamps returns the S and E stamps (unix ns) of a stamp file, in order.
func readStamps(t testing.TB, path string) (starts, ends []int64) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		kind, v, ok := strings.Cut(sc.Text(), " ")
		n, err := strconv.ParseInt(v, 10, 64)
		if !ok || err != nil {
			continue
		}
		if kind == "S" {
			starts = append(starts, n)
		} else {
			ends = append(ends, n)
		}
	}
	return starts, ends
}

func percentile(ds []time.Duration, p float64) time.Duration {
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[int(float64(len(s)-1)*p)]
}

// crasher is a component with the default settings that runs self as a
// child that stamps its first and last instruction into stamps and crashes.
func crasher(self, dir, stamps string) config.Component {
	c := config.DefaultComponent()
	c.Name = "crasher"
	c.Command = config.Command{Argv: []string{self}}
	c.Env = map[string]string{childEnv: "stamp-and-crash", "THORP_STAMP_FILE": stamps}
	c.Cwd = dir
	c.Logs = config.Defaults().Logs
	c.Logs.Dir = filepath.Join(dir, "logs")
	return c
}

// BenchmarkCrashRestart measures, with restart_delay = "0s" and min_uptime
// = "0s" (no run is short, so no backoff), the time from a
// crashing child's last instruction to the next child's first one (both
// stamped by the child itself). It reports the median and p90 next to a bare
// fork+exec of the same binary measured in the same run.
func BenchmarkCrashRestart(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	stamps := filepath.Join(dir, "stamps")
	c := crasher(self, dir, stamps)
	c.RestartDelay = 0
	c.MinUptime = 0
	c.MaxRestarts = 0
	n := max(b.N, 50)

	b.ResetTimer()
	s := startSupervisor(b, c)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		starts, _ := readStamps(b, stamps)
		if len(starts) > n || time.Now().After(deadline) {
			break
		}
		<-s.WaitEvent()
	}
	_ = s.Stop(b.Context(), []string{"crasher"}, true)
	b.StopTimer()
	starts, ends := readStamps(b, stamps)
	var lat []time.Duration
	for i := 0; i+1 < len(starts) && i < len(ends); i++ {
		lat = append(lat, time.Duration(starts[i+1]-ends[i]))
	}
	if len(lat) < 10 {
		b.Fatalf("only %d restarts measured", len(lat))
	}

	// Baseline: a bare fork+exec of the same binary, from just before the
	// fork to the child's first stamp.
	base := filepath.Join(dir, "base")
	var bare []time.Duration
	env := append(os.Environ(), childEnv+"=stamp", "THORP_STAMP_FILE="+base)
	for i := 0; i < 30; i++ {
		t0 := time.Now().UnixNano()
		if _, err := syscall.ForkExec(self, []string{self}, &syscall.ProcAttr{Env: env}); err != nil {
			b.Fatal(err)
		}
		for {
			st, _ := readStamps(b, base)
			if len(st) > i {
				bare = append(bare, time.Duration(st[i]-t0))
				break
			}
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.ReportMetric(float64(percentile(lat, 0.5).Microseconds())/1000, "restart-median-ms")
	b.ReportMetric(float64(percentile(lat, 0.9).Microseconds())/1000, "restart-p90-ms")
	b.ReportMetric(float64(percentile(bare, 0.5).Microseconds())/1000, "bare-exec-median-ms")
	b.ReportMetric(float64(len(lat)), "restarts")
}

// BenchmarkCrashLoopDefaults is what a user with the default restart
// settings sees of a crash loop (restart_delay "1s", min_uptime "10s",
// exp_backoff_max "30s", max_restarts 10): a child that crashes at once
// (it stamps its first and last instruction) is restarted after 1 s, then
// 2, 4 and 8 s. It reports the delay before each of the first four
// restarts, from a run's last instruction to the next run's first, and
// fails when one comes before its due time or more than 1 s after it.
func BenchmarkCrashLoopDefaults(b *testing.B) {
	self, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	const restarts = 4
	dir := b.TempDir()
	stamps := filepath.Join(dir, "stamps")
	c := crasher(self, dir, stamps)
	var due []time.Duration // restart_delay doubling while runs are short
	for d := c.RestartDelay; len(due) < restarts; d = min(2*d, c.ExpBackoffMax) {
		due = append(due, d)
	}

	b.ResetTimer()
	for range b.N {
		_ = os.Remove(stamps)
		s := startSupervisor(b, c)
		deadline := time.Now().Add(2 * time.Minute)
		for {
			if starts, _ := readStamps(b, stamps); len(starts) > restarts || time.Now().After(deadline) {
				break
			}
			select {
			case <-s.WaitEvent():
			case <-time.After(100 * time.Millisecond):
			}
		}
		_ = s.Stop(b.Context(), []string{"crasher"}, true)
		starts, ends := readStamps(b, stamps)
		if len(starts) <= restarts || len(ends) < restarts {
			b.Fatalf("%d runs within 2 minutes, want %d", len(starts), restarts+1)
		}
		for i := range restarts {
			got := time.Duration(starts[i+1] - ends[i])
			if got < due[i] || got > due[i]+time.Second {
				b.Errorf("restart %d came %s after the crash, want %s (restart_delay doubling)", i+1, got, due[i])
			}
			b.ReportMetric(got.Seconds(), fmt.Sprintf("delay-%d-s", i+1))
		}
	}
}

// BenchmarkMemoryDetection reproduces the seed's leak: 20 MiB/s against a
// 150 MiB max_memory_restart, in two arms: memory_interval 1s with
// memory_samples 1 ("interval=1s,samples=1"), and the defaults
// (memory_interval and memory_samples left as config.DefaultComponent has
// them: 1s and 2, so a sample over the limit is confirmed by another one
// 200 ms later). An independent poller reads the child's RSS every 2 ms to
// find when it crossed the limit and how high it peaked; the SIGTERM time
// is the engine's "stopping" event. Each arm reports the median and max
// from crossing to SIGTERM and the peak over at least 10 runs (PM2 in the
// same scenario: make compare). The defaults arm fails above issue 14's target: median
// 0.3 s, peak 160 MiB.
func BenchmarkMemoryDetection(b *testing.B) {
	const limit = 150 << 20
	b.Run("interval=1s,samples=1", func(b *testing.B) {
		lat, peak := memoryDetection(b, limit, startSupervisor, func(c *config.Component) {
			c.MemoryInterval = time.Second
			c.MemorySamples = 1
		})
		reportDetection(b, lat, peak)
	})
	// With the defaults, sampled every memory_interval (no cgroups), and
	// as thorp runs as root on a host with the v1 memory controller: in
	// cgroups, woken by the kernel's memory thresholds (sampled every 5 s
	// besides).
	for _, cgroups := range []bool{false, true} {
		name := "defaults"
		start := startSupervisor
		if cgroups {
			name, start = "defaults,cgroups", withCgroups
		}
		b.Run(name, func(b *testing.B) {
			def := config.DefaultComponent()
			lat, peak := memoryDetection(b, limit, start, func(c *config.Component) {
				c.MemoryInterval = def.MemoryInterval
				c.MemorySamples = def.MemorySamples
			})
			reportDetection(b, lat, peak)
			if med := percentile(lat, 0.5); med > 300*time.Millisecond || peak > 160<<20 {
				b.Errorf("%s: median %s from crossing to SIGTERM, peak %.1f MiB; the target is at most 0.3 s and 160 MiB",
					name, med, float64(peak)/(1<<20))
			}
		})
	}
}

func reportDetection(b *testing.B, lat []time.Duration, peak int64) {
	b.Logf("crossing → SIGTERM of each run: %v", lat)
	b.ReportMetric(percentile(lat, 0.5).Seconds(), "detect-median-s")
	b.ReportMetric(slices.Max(lat).Seconds(), "detect-max-s")
	b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
	b.ReportMetric(float64(len(lat)), "runs")
}

// memoryDetection runs a 20 MiB/s leaker against limit with the settings
// set applies, in a Supervisor that start runs, until it has been stopped
// for memory at least 10 times (b.N if more), and returns each run's time
// from crossing to SIGTERM and the highest RSS seen.
func memoryDetection(b *testing.B, limit int64, start func(testing.TB, ...config.Component) *Supervisor, set func(*config.Component)) ([]time.Duration, int64) {
	runs := max(b.N, 10)
	c := leakComponent(b, "seed", 20<<20, false, func(c *config.Component) {
		c.MaxMemoryRestart = config.Size(limit)
		c.KillTimeout = 5 * time.Second
		set(c)
	})
	s := start(b, c)
	var lat []time.Duration
	var peak int64
	seen := map[int]bool{}
	deadline := time.Now().Add(time.Duration(runs) * 30 * time.Second)
	for len(lat) < runs {
		if time.Now().After(deadline) {
			b.Fatalf("only %d of %d memory stops measured", len(lat), runs)
		}
		// The current run's pid.
		var pid int
		for pid == 0 || seen[pid] {
			if st := s.Status()[0]; st.State == StateRunning {
				pid = st.PID
			}
			if pid == 0 || seen[pid] {
				<-s.WaitEvent()
			}
		}
		seen[pid] = true
		var crossed time.Time
		for {
			rss, err := proc.ReadVmRSS(pid)
			if err != nil {
				break
			}
			peak = max(peak, rss)
			if crossed.IsZero() && rss > limit {
				crossed = time.Now()
			}
			time.Sleep(2 * time.Millisecond)
		}
		for _, e := range s.Events(0, "seed", time.Time{}) {
			if e.Type == EventStopping && e.PID == pid && e.Reason == "memory" && !crossed.IsZero() {
				lat = append(lat, e.Time.Sub(crossed))
			}
		}
	}
	return lat, peak
}
