package proc

import (
	"os"
	"os/exec"
	"testing"
	"time"
)

// StatFiles reads a live process through its kept file, leaves it out
// once it has exited, and closes the files of processes no longer read.
func TestStatFilesKeepsFilesOfLiveProcesses(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	want, err := ReadStat("/proc", pid)
	if err != nil {
		t.Fatal(err)
	}
	f := NewStatFiles("/proc")
	defer f.Close()
	for i := range 3 {
		s, ok := f.ReadStats([]int{pid, pid}).Get(pid)
		if !ok || s.StartTime != want.StartTime {
			t.Fatalf("read %d: %+v, %v; want start time %d", i, s, ok, want.StartTime)
		}
		if len(f.stats.fds) != 1 {
			t.Fatalf("read %d: %d files kept, want 1", i, len(f.stats.fds))
		}
		f.Sweep()
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if tab := f.ReadStats([]int{pid}); tab.Len() != 0 {
		t.Fatalf("read after the process was reaped: %d processes, want 0", tab.Len())
	}
	if len(f.stats.fds) != 0 {
		t.Fatalf("%d files kept for a process that is gone", len(f.stats.fds))
	}
	f.ReadStats([]int{1})
	f.Sweep()
	f.Sweep() // pid 1 not read since the previous Sweep
	if len(f.stats.fds) != 0 {
		t.Fatalf("%d files kept after a Sweep with no read", len(f.stats.fds))
	}
}

func TestReadStats_RealSkipsTheGone(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	f := NewStatFiles("/proc")
	defer f.Close()
	tab := f.ReadStats([]int{os.Getpid(), child.Process.Pid, 1 << 30})
	if _, ok := tab.Get(child.Process.Pid); !ok || tab.Len() != 2 {
		t.Errorf("ReadStats(self, child, gone) = %d processes, want self and the child", tab.Len())
	}
}

// ReadRSS adds up VmRSS (of /proc/PID/status) through kept statm files,
// leaves out a process once it has exited, and Sweep closes the files of
// processes no longer read.
func TestStatFiles_ReadRSSIsVmRSS(t *testing.T) {
	cmd := exec.Command("sleep", "600")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	pid := cmd.Process.Pid
	vmRSS := func() int64 {
		t.Helper()
		rss, err := ReadVmRSS(pid)
		if err != nil {
			t.Fatal(err)
		}
		return rss
	}
	f := NewStatFiles("/proc")
	defer f.Close()
	// Compared with VmRSS read just before and after, once those agree
	// (the child's RSS moves while it execs sleep).
	for agreed, deadline := 0, time.Now().Add(10*time.Second); agreed < 2; {
		if time.Now().After(deadline) {
			t.Fatal("the child's RSS never held still")
		}
		before := vmRSS()
		rss, n := f.ReadRSS([]int{pid, 1 << 30})
		if after := vmRSS(); before != after || before == 0 {
			time.Sleep(time.Millisecond)
			continue
		}
		if n != 1 || rss != before {
			t.Fatalf("ReadRSS(sleep, gone) = %d bytes of %d processes, want %d of 1 (VmRSS)", rss, n, before)
		}
		if len(f.statm.fds) != 1 {
			t.Fatalf("%d statm files kept, want 1", len(f.statm.fds))
		}
		f.Sweep()
		agreed++
	}
	if err := cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = cmd.Wait()
	if rss, n := f.ReadRSS([]int{pid}); n != 0 || rss != 0 {
		t.Fatalf("ReadRSS after the process was reaped: %d bytes of %d processes, want none", rss, n)
	}
	f.ReadRSS([]int{os.Getpid()})
	f.Sweep()
	f.Sweep() // not read since the previous Sweep
	if len(f.statm.fds) != 0 {
		t.Fatalf("%d statm files kept after a Sweep with no read", len(f.statm.fds))
	}
}
