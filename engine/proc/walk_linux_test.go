package proc

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

// TestWalk_RealTreeSameAsScan runs sh with two sleeps in its process group,
// a third that left it with setsid and a grandchild, and checks that Walk
// finds the same tree as a Scan, with the same usage.
func TestWalk_RealTreeSameAsScan(t *testing.T) {
	sh := startShTree(t, "sleep 30 & sleep 30 & setsid sleep 30 & sh -c 'sleep 30; true' & wait")

	var scanned []Ident
	waitFor(t, "six processes under sh", func() bool {
		scanned = scanReal(t).Tree(sh, sh, nil)
		return len(scanned) == 6
	})
	walked := Walk("/proc", sh, nil)
	got := walked.Tree(sh, sh, nil)
	if !slices.Equal(got, scanned) {
		t.Fatalf("Walk tree = %v, Scan tree = %v", got, scanned)
	}
	if walked.Len() != len(scanned) {
		t.Errorf("Walk read %d processes, want only the tree's %d", walked.Len(), len(scanned))
	}
	if u := walked.Usage("/proc", got, false); u.Procs != 6 || u.RSS <= 0 {
		t.Errorf("Usage of the walked tree = %+v, want 6 processes with RSS", u)
	}
	if c := walked.WalkCost(got); c != 12 {
		t.Errorf("WalkCost of six single-threaded processes = %d, want 12", c)
	}
}

// TestWalk_RealMultiThreadedAndExtra walks from the test process itself,
// which has many threads and forks from any of them, and checks that a
// child is found, and that a process given as extra is found with its
// descendants while a stale extra (wrong start time) is not.
func TestWalk_RealMultiThreadedAndExtra(t *testing.T) {
	child := exec.Command("sleep", "30")
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = child.Process.Kill(); _ = child.Wait() })
	st, err := ReadStat("/proc", child.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	self := os.Getpid()
	tab := Walk("/proc", self, nil)
	if s, ok := tab.Get(self); !ok || s.Threads < 2 {
		t.Fatalf("Walk(self) has self = %+v, %v; want a multi-threaded process", s, ok)
	}
	if !tab.Alive(st.Ident()) {
		t.Errorf("Walk(self) misses the child %d", st.PID)
	}
	// From a process that is gone, only the extras are found.
	tab = Walk("/proc", 1<<30, []Ident{st.Ident(), {PID: self, StartTime: 1}})
	if tab.Len() != 1 || !tab.Alive(st.Ident()) {
		t.Errorf("Walk(gone, extra = child and stale self) = %d processes, want the child only", tab.Len())
	}
}
