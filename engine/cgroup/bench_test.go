package cgroup

import (
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/thorp-dev/thorp/engine/proc"
	"github.com/thorp-dev/thorp/engine/spawn"
)

// treeOf50 starts a tree of 50 processes (a shell and 49 sleeps) in a new
// cgroup of m, as thorp starts a component, and kills it when b ends.
func treeOf50(b *testing.B, m *Manager) (*Group, int) {
	return treeOf(b, m, "tree50", "for i in $(seq 49); do sleep 600 & done; echo started; wait", 50)
}

// treeOf starts script in a new cgroup of m named name, waits until it
// says "started" and the cgroup has n processes, and kills it when b ends.
func treeOf(b *testing.B, m *Manager, name, script string, n int) (*Group, int) {
	b.Helper()
	g, err := m.NewGroup(name, 0, 0)
	if err != nil {
		b.Fatal(err)
	}
	sp := spawn.New()
	dir, err := g.OpenDir()
	if err != nil {
		b.Fatal(err)
	}
	exited := make(chan struct{})
	child, err := sp.Spawn(spawn.Spec{Argv: []string{"/bin/sh", "-c", script},
		Environ: os.Environ(), Cgroup: dir, V1Cgroup: g.V1Dir(), V1Home: m.V1Home()}, func(spawn.Exit) { close(exited) })
	if dir != nil {
		dir.Close()
	}
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = g.Kill()
		<-exited
		child.Stdout.Close()
		child.Stderr.Close()
		_ = sp.Close()
		_ = g.Remove()
	})
	buf := make([]byte, 64)
	if n, _ := child.Stdout.Read(buf); !strings.HasPrefix(string(buf[:n]), "started") {
		b.Fatalf("the tree did not start: %q", buf[:n])
	}
	for range 1000 {
		if pids, _ := g.Procs(nil); len(pids) == n {
			return g, child.PID
		}
		syscall.Nanosleep(&syscall.Timespec{Nsec: 1e6}, nil)
	}
	b.Fatalf("the tree never had %d processes", n)
	return nil, 0
}

// BenchmarkSampleTree50 is the cost of one memory and CPU sample of a
// component whose tree has 50 processes, the three ways in one run:
// through its cgroup (cgroup.procs, the memory controller's usage and
// memory.stat, cpu.stat: memory_measure = "cgroup"), and, as without a
// cgroup for memory_measure = "rss", through the process tree: walk (the
// tree's own /proc files: each process's stat and children, proc.Walk)
// and scan (one pass over all of /proc, whose cost grows with every
// process on the host; the sampler shares it among the components due at
// a tick). procs-read says how many processes each way reads.
func BenchmarkSampleTree50(b *testing.B) {
	m, p := openReal(b)
	if !p.Memory.Cgroup {
		b.Fatalf("no memory cgroup here:\n%s", strings.Join(p.Lines(), "\n"))
	}
	g, pid := treeOf50(b, m)

	b.Run("cgroup", func(b *testing.B) {
		b.ReportAllocs()
		var pids []int
		for b.Loop() {
			var err error
			if pids, err = g.Procs(pids); err != nil || len(pids) != 50 {
				b.Fatalf("%d processes, %v", len(pids), err)
			}
			if mem, _, err := g.Memory(); err != nil || mem.Bytes <= 0 {
				b.Fatalf("memory %+v, %v", mem, err)
			}
			if _, ok, err := g.CPU(); err != nil || !ok {
				b.Skipf("no cpu.stat: %v", err)
			}
		}
		b.ReportMetric(50, "procs-read")
	})
	b.Run("walk", func(b *testing.B) {
		b.ReportAllocs()
		var tree []proc.Ident
		var counter proc.CPUCounter
		ticks := map[proc.Ident]uint64{}
		for b.Loop() {
			tab := proc.Walk("/proc", pid, tree)
			tree = tab.Tree(pid, pid, tree)
			u := tab.Usage("/proc", tree, false)
			if u.Procs != 50 || u.RSS <= 0 {
				b.Fatalf("usage %+v", u)
			}
			counter.Update(tab.CPUTicks(tree, ticks))
		}
		b.ReportMetric(50, "procs-read")
	})
	b.Run("scan", func(b *testing.B) {
		b.ReportAllocs()
		var tree []proc.Ident
		var counter proc.CPUCounter
		ticks := map[proc.Ident]uint64{}
		var host int
		for b.Loop() {
			tab, err := proc.Scan("/proc")
			if err != nil {
				b.Fatal(err)
			}
			host = tab.Len()
			tree = tab.Tree(pid, pid, tree)
			u := tab.Usage("/proc", tree, false)
			if u.Procs != 50 || u.RSS <= 0 {
				b.Fatalf("usage %+v", u)
			}
			counter.Update(tab.CPUTicks(tree, ticks))
		}
		b.ReportMetric(float64(host), "procs-read")
	})
}

// BenchmarkSampleIdle is what the sampler reads for one sample of an idle
// component with the default memory_measure ("rss") in its cgroup: its
// cgroup.procs, its cpu.stat and the listed process's stat, through the
// files kept open between samples (what issue 14's idle figures cost per
// component and sample, the kernel's part and the parsing).
func BenchmarkSampleIdle(b *testing.B) {
	m, p := openReal(b)
	if !p.CPU.Cgroup {
		b.Skipf("no cgroup with cpu.stat here:\n%s", strings.Join(p.Lines(), "\n"))
	}
	g, _ := treeOf(b, m, "idle", "echo started; exec sleep 600", 1)
	stats := proc.NewStatFiles("/proc")
	defer stats.Close()
	b.ReportAllocs()
	var pids []int
	for b.Loop() {
		var err error
		if pids, err = g.Procs(pids); err != nil || len(pids) != 1 {
			b.Fatalf("%d processes, %v", len(pids), err)
		}
		if _, _, err := g.CPU(); err != nil {
			b.Fatal(err)
		}
		if tab := stats.ReadStats(pids); tab.Len() != 1 {
			b.Fatalf("%d stats read", tab.Len())
		}
	}
}
