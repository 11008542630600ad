package proc

import (
	"os"
	"os/exec"
	"testing"
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
		if len(f.files) != 1 {
			t.Fatalf("read %d: %d files kept, want 1", i, len(f.files))
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
	if len(f.files) != 0 {
		t.Fatalf("%d files kept for a process that is gone", len(f.files))
	}
	f.ReadStats([]int{1})
	f.Sweep()
	f.Sweep() // pid 1 not read since the previous Sweep
	if len(f.files) != 0 {
		t.Fatalf("%d files kept after a Sweep with no read", len(f.files))
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
