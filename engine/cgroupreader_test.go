package engine

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/proc"
)

// TestCgroupReader_IdleInstanceKeepsItsReading reads a real instance's
// cgroup as the sampler does, pass after pass: while nothing in it runs,
// a pass keeps the previous reading (only the root's cpu.stat is read
// while no group ran, its own while another did); once it runs, after
// idleRereadEvery, or for PSS, the files are read again and show what
// changed.
func TestCgroupReader_IdleInstanceKeepsItsReading(t *testing.T) {
	// SIGUSR1 makes the shell spin a little and start a new sleep: CPU
	// time and a new process in the group.
	idler := testComponent(t, "idler",
		`trap 'i=0; while [ $i -lt 2000 ]; do i=$((i+1)); done; echo spun > spun' USR1
		while :; do sleep 1000 & wait $!; kill $! 2>/dev/null; done`, nil)
	busy := testComponent(t, "busy", "while :; do sleep 0.01; done", func(c *config.Component) { c.Autostart = false })
	s := withCgroups(t, idler, busy)
	g := cgroupOf(t, s, "idler")
	pid := statusOf(t, s, "idler").Instances[0].PID
	// Idle: the shell waiting and its sleep sleeping, both in the group.
	settled := func() bool {
		pids, _ := g.Procs(nil)
		if len(pids) != 2 {
			return false
		}
		for _, p := range pids {
			st, err := proc.ReadStat(procRoot, p)
			if err != nil || st.State != 'S' || (p != pid && st.Comm != "sleep") {
				return false
			}
		}
		return true
	}
	waitFor(t, 10*time.Second, "the shell and its sleep in the group, idle", settled)
	stats := proc.NewStatFiles(procRoot)
	defer stats.Close()
	r := &cgroupReader{stats: stats}
	ts := &treeState{}
	now := time.Now()
	read := func(pss bool) instanceReading {
		t.Helper()
		r.startPass(&s.cg, &procReader{root: procRoot}, now)
		rd := r.readInstance(pid, ts, pss, nil)
		ts.tree, ts.usage, ts.groupCPU, ts.rootCPU = rd.tree, rd.usage, rd.groupCPU, rd.rootCPU
		if !rd.reused {
			ts.readAt = now
		}
		return rd
	}
	first := read(false)
	if first.reused || first.usage.Procs != 2 || first.usage.RSS <= 0 || first.groupCPU <= 0 {
		t.Fatalf("first reading: %+v, want the files read: 2 processes, their RSS and the group's CPU", first)
	}
	now = now.Add(time.Second)
	if rd := read(false); !rd.reused || rd.usage != first.usage || rd.rootCPU != first.rootCPU {
		t.Errorf("reading of the idle instance, no group ran: reused %v, usage %+v, root CPU %v; want the first's %+v and %v kept",
			rd.reused, rd.usage, rd.rootCPU, first.usage, first.rootCPU)
	}

	// Another component runs: the root's CPU moves, the idler's does not.
	if err := s.Start(context.Background(), []string{"busy"}, true); err != nil {
		t.Fatal(err)
	}
	root := first.rootCPU
	waitFor(t, 10*time.Second, "the root's CPU to move", func() bool {
		d, _, _ := s.cg.m.CPU()
		return d > root
	})
	now = now.Add(time.Second)
	if rd := read(false); !rd.reused || rd.usage != first.usage || rd.rootCPU <= root {
		t.Errorf("reading of the idle instance, another group ran: reused %v, usage %+v, root CPU %v (was %v); want the first's %+v kept",
			rd.reused, rd.usage, rd.rootCPU, root, first.usage)
	}
	if rd := read(true); rd.reused || rd.usage.PSS <= 0 {
		t.Errorf("PSS reading: reused %v, PSS %d; want it read", rd.reused, rd.usage.PSS)
	}

	// The shell runs: the next pass reads the files again.
	spun := filepath.Join(idler.Cwd, "spun")
	if err := syscall.Kill(pid, syscall.SIGUSR1); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the shell to spin and settle again", func() bool {
		_, err := os.Stat(spun)
		return err == nil && settled()
	})
	before := ts.groupCPU
	now = now.Add(time.Second)
	if rd := read(false); rd.reused || rd.groupCPU <= before || rd.usage.Procs != 2 {
		t.Errorf("reading after the shell ran: reused %v, CPU %v (was %v), %d processes; want the files read", rd.reused, rd.groupCPU, before, rd.usage.Procs)
	}
	now = now.Add(time.Second)
	if rd := read(false); !rd.reused {
		t.Error("reading once the shell is idle again: not reused")
	}

	// However idle, the files are read again after idleRereadEvery.
	now = now.Add(idleRereadEvery)
	if rd := read(false); rd.reused {
		t.Errorf("reading %v after the last that read the files: reused", idleRereadEvery)
	}
}
