package engine

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/proc"
)

func TestSupervisor_CgroupMemoryAlarmStopsJumpWithoutTimer(t *testing.T) {
	// On a clock the test never moves, no sampling timer fires: only the
	// kernel's alarm on the cgroup's memory usage (v1 memory thresholds)
	// or a new process wakes the sampler. A process whose memory jumps
	// over max_memory_restart, which no growth estimate foresees, is
	// stopped for memory all the same, and so is the process that
	// replaces it.
	const limit = 100 << 20
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	c := spikeComponent(t, "jumpy", limit+60<<20, limit)
	c.MemorySamples = 1
	c.RestartDelay = 0
	s := withCgroupsAnd(t, Options{Clock: clk}, c)
	if !s.cg.watchesMemory() {
		t.Skipf("no v1 memory controller here (cgroup2 has no usage thresholds): %s", s.cg.plan.Memory)
	}
	if h, err := s.History("jumpy", time.Hour); err != nil || h.Interval != watchedInterval {
		t.Fatalf("history interval %s (%v), want %s: the watched component is sampled at that period", h.Interval, err, watchedInterval)
	}
	start := clk.Now()
	nudge := alarmGapNudge(clk)
	listening := filepath.Join(s.cfg.Components[0].Cwd, "listening")
	for run := 1; run <= 2; run++ {
		// The new process is sampled (and its alarm armed) at once.
		var pid int
		waitFor(t, 10*time.Second, "a new process, sampled", func() bool {
			nudge()
			st := statusOf(t, s, "jumpy")
			if st.State != StateRunning || st.PID <= 0 || st.MemoryBytes <= 0 || !proc.GroupAlive(st.PID) {
				return false
			}
			if _, err := os.Stat(listening); err != nil {
				return false
			}
			pid = st.PID
			return true
		})
		if err := os.Remove(listening); err != nil {
			t.Fatal(err)
		}
		if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
			t.Fatal(err)
		}
		waitMemoryStop(t, s, "jumpy", pid, nudge, "a memory stop of the process whose memory jumped")
	}
	if moved := clk.Now().Sub(start); moved >= time.Second {
		t.Fatalf("the clock moved %s: a sample by schedule may have come", moved)
	}
}

// alarmGapNudge returns a function that fires the sampler's timer when it
// is due within minAlarmGap: the gap it keeps after a sample before the
// one an alarm or a new process asks for. A sample by schedule is
// memory_interval (1 s) or watchedInterval away: the clock never moves
// that far.
func alarmGapNudge(clk *fakeClock) func() {
	return func() {
		if at, ok := clk.nextFire(); ok {
			if d := at.Sub(clk.Now()); d <= minAlarmGap {
				clk.Advance(max(d, 0))
			}
		}
	}
}

// waitMemoryStop waits, nudging the clock, until name's process pid is
// stopped for memory.
func waitMemoryStop(t *testing.T, s *Supervisor, name string, pid int, nudge func(), what string) {
	t.Helper()
	waitFor(t, 10*time.Second, what, func() bool {
		nudge()
		for _, e := range s.Events(0, name, time.Time{}) {
			if e.Type == EventStopping && e.PID == pid && e.Reason == "memory" {
				return true
			}
		}
		return false
	})
}

func TestSupervisor_CgroupMemoryAlarmReloadLowerLimitSamplesAtOnce(t *testing.T) {
	// A watched component is sampled by schedule every watchedInterval
	// only; its threshold was armed for the limit it had. A reload that
	// lowers max_memory_restart below the memory the process already
	// holds crosses nothing the kernel watches: the sampler must sample
	// it at once, not at its next scheduled sample (the clock, moved only
	// by the minAlarmGap an alarm or a new process keeps, never gets
	// there).
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	c := spikeComponent(t, "lowered", 1<<20, 1<<30)
	c.MemorySamples = 1
	c.RestartDelay = 0
	s := withCgroupsAnd(t, Options{Clock: clk}, c)
	if !s.cg.watchesMemory() {
		t.Skipf("no v1 memory controller here (cgroup2 has no usage thresholds): %s", s.cg.plan.Memory)
	}
	start := clk.Now()
	nudge := alarmGapNudge(clk)
	listening := filepath.Join(c.Cwd, "listening")
	var pid int
	waitFor(t, 10*time.Second, "the process, sampled", func() bool {
		nudge()
		st := statusOf(t, s, "lowered")
		if st.State != StateRunning || st.PID <= 0 || st.MemoryBytes <= 0 {
			return false
		}
		if _, err := os.Stat(listening); err != nil {
			return false
		}
		pid = st.PID
		return true
	})
	// Any process of the test binary holds more than 1 MiB.
	lowered := c
	lowered.MaxMemoryRestart = 1 << 20
	if _, err := s.Reload(context.Background(), testConfig(t, lowered)); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "lowered"); st.PID != pid {
		t.Fatalf("the reload replaced process %d with %d: only the limit changed", pid, st.PID)
	}
	waitMemoryStop(t, s, "lowered", pid, nudge, "a memory stop of the process over the lowered limit")
	if moved := clk.Now().Sub(start); moved >= time.Second {
		t.Fatalf("the clock moved %s: a sample by schedule may have come", moved)
	}
}

// armedAlarms counts the memory alarms this process holds: their
// eventfds (nothing else in thorp makes one; tests do not run in
// parallel, and a finished test's supervisor closed its alarms).
func armedAlarms(t *testing.T) int {
	t.Helper()
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, fd := range fds {
		if l, err := os.Readlink(filepath.Join("/proc/self/fd", fd.Name())); err == nil && l == "anon_inode:[eventfd]" {
			n++
		}
	}
	return n
}

func TestSupervisor_CgroupMemoryAlarmsFollowScaleAndReload(t *testing.T) {
	// One alarm per watched process: an instance scaled away leaves
	// none behind, and a reload that takes the limit away disarms the
	// rest at once (not at the next scheduled sample, which the clock,
	// moved only by minAlarmGap, never reaches).
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	c := spikeComponent(t, "pair", 1<<20, 1<<30)
	c.Instances = 2
	c.RestartDelay = 0
	baseline := armedAlarms(t)
	s := withCgroupsAnd(t, Options{Clock: clk}, c)
	if !s.cg.watchesMemory() {
		t.Skipf("no v1 memory controller here (cgroup2 has no usage thresholds): %s", s.cg.plan.Memory)
	}
	nudge := alarmGapNudge(clk)
	start := clk.Now()
	alarms := func(want int, what string) {
		t.Helper()
		waitFor(t, 10*time.Second, what, func() bool {
			nudge()
			return armedAlarms(t)-baseline == want
		})
	}
	alarms(2, "an alarm for each of the two instances")
	if err := s.Scale(context.Background(), "pair", 1, false); err != nil {
		t.Fatal(err)
	}
	alarms(1, "the alarm of the instance scaled away disarmed")
	if n := len(statusOf(t, s, "pair").Instances); n != 1 {
		t.Fatalf("%d instances after scaling to 1", n)
	}
	pid := statusOf(t, s, "pair").PID
	unlimited := c // the file's instances unchanged: the scaled count lasts
	unlimited.MaxMemoryRestart = 0
	if _, err := s.Reload(context.Background(), testConfig(t, unlimited)); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "pair"); st.PID != pid || len(st.Instances) != 1 {
		t.Fatalf("the reload replaced process %d with %d (%d instances): only the limit changed", pid, st.PID, len(st.Instances))
	}
	alarms(0, "the last alarm disarmed once the reload took the limit away")
	if moved := clk.Now().Sub(start); moved >= time.Second {
		t.Fatalf("the clock moved %s: a sample by schedule may have come", moved)
	}
}

func TestSupervisor_CgroupMemoryAlarmBackstopSamplesGrowthBelowThreshold(t *testing.T) {
	// A watched component's threshold is at most limit/8 above its
	// usage: growth below it wakes nothing, and growth the cgroup is not
	// charged for never crosses it. The sampler still samples the
	// component by schedule every watchedInterval: moving the clock that
	// far (and no further) shows the grown memory.
	const limit, grow = 1 << 30, 32 << 20 // grow < limit/8: no alarm
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	c := spikeComponent(t, "creeping", grow, limit)
	c.RestartDelay = 0
	s := withCgroupsAnd(t, Options{Clock: clk}, c)
	if !s.cg.watchesMemory() {
		t.Skipf("no v1 memory controller here (cgroup2 has no usage thresholds): %s", s.cg.plan.Memory)
	}
	nudge := alarmGapNudge(clk)
	listening := filepath.Join(c.Cwd, "listening")
	var pid int
	var before int64
	waitFor(t, 10*time.Second, "the process, sampled", func() bool {
		nudge()
		st := statusOf(t, s, "creeping")
		if st.State != StateRunning || st.PID <= 0 || st.MemoryBytes <= 0 {
			return false
		}
		if _, err := os.Stat(listening); err != nil {
			return false
		}
		pid, before = st.PID, st.MemoryBytes
		return true
	})
	sampled := clk.Now() // the last sample was at or before this
	rss := func() int64 {
		n, err := proc.ReadVmRSS(pid)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	base := rss()
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the process's RSS grown", func() bool { return rss() >= base+grow })
	waitFor(t, 10*time.Second, "a sample by schedule showing the grown memory", func() bool {
		if st := statusOf(t, s, "creeping"); st.PID == pid && st.MemoryBytes >= before+grow {
			return true
		}
		if at, ok := clk.nextFire(); ok && at.Sub(sampled) <= watchedInterval {
			clk.Advance(max(at.Sub(clk.Now()), 0))
		}
		return false
	})
}
