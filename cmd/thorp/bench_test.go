package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
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
	cpu, _ := schedStat(pid)
	return rss * int64(os.Getpagesize()), cpu
}

// schedStat sums a process's threads' /proc/PID/task/TID/schedstat: the
// CPU time in seconds and how many times a thread was put on a CPU (each
// wake-up counts once, and each preemption). Threads that ended are not
// counted: compare figures of processes whose threads live on.
func schedStat(pid int) (cpu float64, runs int64) {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var ns int64
	for _, task := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, task.Name()))
		if err != nil {
			continue
		}
		f := strings.Fields(string(b))
		if len(f) < 3 {
			continue
		}
		if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
			ns += v
		}
		if v, err := strconv.ParseInt(f[2], 10, 64); err == nil {
			runs += v
		}
	}
	return float64(ns) / 1e9, runs
}

// childPIDs lists pid's children (of every thread).
func childPIDs(pid int) []int {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var out []int
	for _, task := range tasks {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/children", pid, task.Name()))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// idleProcess is a supervisor measured while idle: its pids (thorp and
// its fence; supervisord alone), whose CPU time and runs are summed.
type idleProcess struct {
	name  string
	pids  []int
	cpu0  float64
	runs0 int64
}

func (p *idleProcess) sample() (float64, int64) {
	var cpu float64
	var runs int64
	for _, pid := range p.pids {
		c, r := schedStat(pid)
		cpu, runs = cpu+c, runs+r
	}
	return cpu, runs
}

// startIdleThorp runs thorp with n idle components (max_memory_restart =
// limit unless ""), waits until all run, and returns it with its fence.
func startIdleThorp(b *testing.B, n int, limit string) (*runningThorp, *idleProcess) {
	var cfg strings.Builder
	cfg.WriteString("settings { http = \"\" }\n")
	extra := ""
	if limit != "" {
		extra = fmt.Sprintf(", max_memory_restart = %q", limit)
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
	p := &idleProcess{name: "thorp", pids: []int{r.cmd.Process.Pid}}
	for _, kid := range childPIDs(r.cmd.Process.Pid) {
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", kid)); strings.Contains(string(b), "__fence") {
			p.pids = append(p.pids, kid)
		}
	}
	if len(p.pids) != 2 {
		b.Fatalf("thorp %d: no fence process among its children", r.cmd.Process.Pid)
	}
	return r, p
}

// startIdleSupervisord runs supervisord (Debian's supervisor package) with
// n programs of `sleep 100000`, with its control socket as Debian's own
// configuration has, and waits until it runs all of them; nil when it is
// not installed.
func startIdleSupervisord(b *testing.B, n int) *idleProcess {
	bin, err := exec.LookPath("supervisord")
	if err != nil {
		b.Log("supervisord is not installed (apt-get install supervisor): no supervisord arm")
		return nil
	}
	dir := b.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "[unix_http_server]\nfile=%s/supervisor.sock\n\n[supervisord]\nnodaemon=true\nlogfile=%s/supervisord.log\npidfile=%s/supervisord.pid\nchildlogdir=%s\n\n",
		dir, dir, dir, dir)
	cfg.WriteString("[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n")
	for i := 0; i < n; i++ {
		fmt.Fprintf(&cfg, "[program:idle-%d]\ncommand=sleep 100000\n\n", i)
	}
	conf := filepath.Join(dir, "supervisord.conf")
	if err := os.WriteFile(conf, []byte(cfg.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "-c", conf)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			b.Errorf("supervisord did not exit within 20s of SIGTERM")
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // any program left
	})
	pid := cmd.Process.Pid
	waitFor(b, 60*time.Second, "supervisord's programs running", func() bool { return len(childPIDs(pid)) == n })
	return &idleProcess{name: "supervisord", pids: []int{pid}}
}

// idleWindow is how long idle CPU is measured: long enough for figures of
// a few hundredths of a percent.
const idleWindow = 30 * time.Second

// idleSettle is how long BenchmarkIdle waits, once every arm runs all its
// components, before its window: past supervisord's startsecs (1 s) and
// past what thorp does once after a start, so that the window measures
// both with nothing to do: thorp saves its state 10 s after the last
// event (the starts) and lets go of its executable's pages, with a
// collection, 10 s after the last command (the benchmark's `thorp
// status`).
const idleSettle = 15 * time.Second

// BenchmarkIdle measures what an idle supervisor costs with N components
// of `sleep 100000`, every setting at its default, side by side in one
// window of idleWindow, idleSettle after all run: thorp without a memory limit, thorp with
// max_memory_restart = "1GB" on every component (where the processes have
// a v1 memory cgroup, as root on a hybrid or v1 host, each is sampled
// every 5 s and when the kernel's memory threshold wakes thorp; elsewhere
// every second), and supervisord with
// the same programs (for N ≤ 50; skipped with a message when it is not
// installed). For each: CPU in % of one core and runs per second (how
// often one of its threads was put on a CPU: wake-ups, mostly), summed
// over thorp and its fence process; thorp's RSS; thorp ÷ supervisord.
// Issue figures: 50 → RSS ≤ 15 MB; 500 → RSS < 40 MB, `thorp status`
// < 50 ms; CPU at or below supervisord's for 1, 10 and 50.
func BenchmarkIdle(b *testing.B) {
	for _, n := range []int{1, 10, 50, 500} {
		b.Run(fmt.Sprintf("components=%d", n), func(b *testing.B) {
			plainRun, plain := startIdleThorp(b, n, "")
			_, limited := startIdleThorp(b, n, "1GB")
			arms := []*idleProcess{plain, limited}
			var sv *idleProcess
			if n <= 50 {
				if sv = startIdleSupervisord(b, n); sv != nil {
					arms = append(arms, sv)
				}
			}
			time.Sleep(idleSettle)
			for _, a := range arms {
				a.cpu0, a.runs0 = a.sample()
			}
			b.ResetTimer()
			time.Sleep(idleWindow)
			b.StopTimer()
			cpuPct := map[*idleProcess]float64{}
			runsPerSec := map[*idleProcess]float64{}
			for _, a := range arms {
				cpu, runs := a.sample()
				cpuPct[a] = (cpu - a.cpu0) / idleWindow.Seconds() * 100
				runsPerSec[a] = float64(runs-a.runs0) / idleWindow.Seconds()
			}
			rss, _ := procStat(b, plain.pids[0])
			rssLimited, _ := procStat(b, limited.pids[0])
			b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
			b.ReportMetric(float64(rssLimited)/(1<<20), "limit-rss-MiB")
			b.ReportMetric(cpuPct[plain], "cpu-%")
			b.ReportMetric(runsPerSec[plain], "runs/s")
			b.ReportMetric(cpuPct[limited], "limit-cpu-%")
			b.ReportMetric(runsPerSec[limited], "limit-runs/s")
			if sv != nil {
				b.ReportMetric(cpuPct[sv], "supervisord-cpu-%")
				b.ReportMetric(runsPerSec[sv], "supervisord-runs/s")
				b.ReportMetric(cpuPct[plain]/cpuPct[sv], "cpu/supervisord")
				b.ReportMetric(cpuPct[limited]/cpuPct[sv], "limit-cpu/supervisord")
				b.ReportMetric(runsPerSec[plain]/runsPerSec[sv], "runs/supervisord")
				b.ReportMetric(runsPerSec[limited]/runsPerSec[sv], "limit-runs/supervisord")
			}
			// `thorp status` round trip, the whole CLI process included.
			var rt []time.Duration
			for i := 0; i < 10; i++ {
				start := time.Now()
				if _, errOut, code := thorpCmd(b, "status", "-c", plainRun.cfg); code != 0 {
					b.Fatalf("status: %s", errOut)
				}
				rt = append(rt, time.Since(start))
			}
			slices.Sort(rt)
			b.ReportMetric(float64(rt[len(rt)/2].Microseconds())/1000, "status-ms")
		})
	}
}
