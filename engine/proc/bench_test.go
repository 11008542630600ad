package proc

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func BenchmarkParseStat(b *testing.B) {
	line, err := os.ReadFile("testdata/proc1/202/stat")
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := parseStat(line); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkScan measures one pass over the real /proc.
func BenchmarkScan(b *testing.B) {
	b.ReportAllocs()
	var n int
	for b.Loop() {
		tab, err := Scan("/proc")
		if err != nil {
			b.Fatal(err)
		}
		n = tab.Len()
	}
	b.ReportMetric(float64(n), "procs")
}

// spawnComponents starts n `sleep` processes, each in its own process group
// like a component, and kills and reaps them when the benchmark ends.
func spawnComponents(b *testing.B, n int) []*exec.Cmd {
	b.Helper()
	cmds := make([]*exec.Cmd, 0, n)
	b.Cleanup(func() {
		for _, c := range cmds {
			_ = syscall.Kill(-c.Process.Pid, syscall.SIGKILL)
		}
		for _, c := range cmds {
			_ = c.Wait()
		}
	})
	for range n {
		c := exec.Command("sleep", "600")
		c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
		if err := c.Start(); err != nil {
			b.Fatalf("spawn component %d: %v", len(cmds), err)
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// benchmarkSample does the sampler's work for one tick: one Scan, then Tree, Usage
// and the CPU counter for every component.
func benchmarkSample(b *testing.B, n int, pss bool) {
	cmds := spawnComponents(b, n)
	extra := make([][]Ident, n)
	counters := make([]CPUCounter, n)
	ticks := map[Ident]uint64{}
	b.ReportAllocs()
	b.ResetTimer()
	var procs int
	for b.Loop() {
		tab, err := Scan("/proc")
		if err != nil {
			b.Fatal(err)
		}
		procs = tab.Len()
		for i, c := range cmds {
			tree := tab.Tree(c.Process.Pid, c.Process.Pid, extra[i])
			u := tab.Usage("/proc", tree, pss)
			if u.Procs != 1 || u.RSS <= 0 {
				b.Fatalf("component %d: usage %+v", i, u)
			}
			counters[i].Update(tab.CPUTicks(tree, ticks))
			extra[i] = tree
		}
	}
	b.ReportMetric(float64(procs), "procs")
	// At one sample per second, ns per sample / 1e9 s * 100 = % of one core.
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1e7, "%core@1Hz")
}

// BenchmarkSample500 simulates the per-second work for 500 components
// measured by RSS (memory_measure = "rss", the default).
func BenchmarkSample500(b *testing.B) { benchmarkSample(b, 500, false) }

// BenchmarkSample500PSS is the same with memory_measure = "pss" for all.
func BenchmarkSample500PSS(b *testing.B) { benchmarkSample(b, 500, true) }
