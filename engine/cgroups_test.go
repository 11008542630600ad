package engine

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/cgroup"
	"github.com/thorp-dev/thorp/engine/config"
)

// withCgroups runs a Supervisor for comps with this host's cgroups; it
// skips unless root, and fails when root cannot create them.
func withCgroups(t testing.TB, comps ...config.Component) *Supervisor {
	t.Helper()
	return withCgroupsAnd(t, Options{}, comps...)
}

// withCgroupsAnd is withCgroups with opts (but for Cgroups).
func withCgroupsAnd(t testing.TB, opts Options, comps ...config.Component) *Supervisor {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root (CI runs these tests as root)")
	}
	l, err := cgroup.DetectSelf()
	if err != nil {
		t.Fatal(err)
	}
	opts.Cgroups = &l
	s := startSupervisorWith(t, opts, comps...)
	if s.cg.m == nil {
		t.Fatalf("root cannot create cgroups here:\n%s", strings.Join(s.cg.plan.Lines(), "\n"))
	}
	return s
}

// cgroupOf is the cgroup of the running instance 0 of name.
func cgroupOf(t *testing.T, s *Supervisor, name string) *cgroup.Group {
	t.Helper()
	var g *cgroup.Group
	waitFor(t, 10*time.Second, name+" running in a cgroup", func() bool {
		st := statusOf(t, s, name)
		if len(st.Instances) == 0 || st.Instances[0].PID <= 0 {
			return false
		}
		g = s.cg.group(st.Instances[0].PID)
		return g != nil
	})
	return g
}

func TestSupervisor_CgroupStopKillsSetsidDoubleForkEscaper(t *testing.T) {
	// The component forks a child that forks a grandchild which leaves
	// the session and ignores SIGTERM; the child exits at once, so no
	// process tree leads to the grandchild, and the sampler never looked.
	s := withCgroups(t, testComponent(t, "escaper",
		`( setsid /bin/sh -c 'trap "" TERM; echo $$ > kid; while :; do sleep 1; done' & ); exec sleep 1000`,
		func(c *config.Component) { c.KillTimeout = 300 * time.Millisecond }))
	g := cgroupOf(t, s, "escaper")
	kidFile := filepath.Join(s.cfg.Components[0].Cwd, "kid")
	var kid int
	waitFor(t, 10*time.Second, "the grandchild's pid", func() bool {
		b, _ := os.ReadFile(kidFile)
		kid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return kid > 0
	})
	procs, err := g.Procs(nil)
	if err != nil || len(procs) < 2 {
		t.Fatalf("cgroup.procs = %v, %v; want the main process and the escaper", procs, err)
	}
	if err := s.Stop(context.Background(), []string{"escaper"}, true); err != nil {
		t.Fatal(err)
	}
	for _, pid := range procs {
		if alive(pid) {
			t.Errorf("process %d of the cgroup survived the stop (escaper %d)", pid, kid)
		}
	}
	evs := s.Events(0, "escaper", time.Time{})
	if count(evs, "escaper", EventKill) != 1 {
		t.Errorf("want one kill at kill_timeout:\n%s", dumpEvents(evs))
	}
	if _, err := os.Stat(g.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the stopped process's cgroup %s is still there (%v)", g.Dir(), err)
	}
}

func TestSupervisor_CgroupMemoryTracksLeaker(t *testing.T) {
	const most = 96 << 20
	s := withCgroups(t, leakComponent(t, "leaker", 200<<20, true, func(c *config.Component) {
		c.MemoryMeasure = "cgroup"
		c.Env["THORP_LEAK_MAX"] = strconv.Itoa(most)
	}))
	if !s.cg.plan.Memory.Cgroup {
		t.Fatalf("no memory cgroup for root here: %s", s.cg.plan.Memory)
	}
	g := cgroupOf(t, s, "leaker")
	// Once the leak has stopped at its maximum, the sampled memory and the
	// tree's anonymous RSS agree within a few MiB (the cgroup's kernel
	// memory, page tables, stacks). RSS also counts the pages of the
	// binaries, which are charged to whoever read them first: the test
	// process here, that runs the same binary.
	var memory, anon int64
	waitFor(t, 20*time.Second, "the leak at its maximum, sampled", func() bool {
		anon = anonRSS(g)
		memory = statusOf(t, s, "leaker").Instances[0].MemoryBytes
		return anon >= most && memory >= most
	})
	waitFor(t, 10*time.Second, "a sample within 4 MiB of the tree's anonymous RSS", func() bool {
		anon = anonRSS(g)
		memory = statusOf(t, s, "leaker").Instances[0].MemoryBytes
		return abs64(memory-anon) <= 4<<20
	})
	t.Logf("sampled %d MiB, anonymous RSS %d MiB", memory>>20, anon>>20)
}

// anonRSS is the RssAnon and RssShmem of g's processes in bytes.
func anonRSS(g *cgroup.Group) int64 {
	pids, _ := g.Procs(nil)
	var n int64
	for _, pid := range pids {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(line, ":")
			if k == "RssAnon" || k == "RssShmem" {
				kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
				n += kb << 10
			}
		}
	}
	return n
}

func abs64(n int64) int64 { return max(n, -n) }

func TestSupervisor_CgroupCPUAndProcesses(t *testing.T) {
	// A spinner that a double fork took out of the tree: its CPU and its
	// process still count, read from the cgroup (cpu.stat, cgroup.procs).
	s := withCgroups(t, testComponent(t, "spin",
		`( setsid /bin/sh -c 'while :; do :; done' & ); exec sleep 1000`,
		func(c *config.Component) {
			c.MemoryMeasure = "cgroup"
			c.MaxMemoryRestart = 1 << 30 // sampled every memory_interval
			c.MemoryInterval = 100 * time.Millisecond
		}))
	waitFor(t, 20*time.Second, "the spinner's CPU and process counted", func() bool {
		st := statusOf(t, s, "spin")
		return len(st.Instances) == 1 && st.Instances[0].Procs == 2 && st.Instances[0].CPUPercent > 20 && st.CPUSeconds > 0.2
	})
	st := statusOf(t, s, "spin")
	t.Logf("procs %d, cpu %.0f %%, %.2f s", st.Instances[0].Procs, st.Instances[0].CPUPercent, st.CPUSeconds)
}
