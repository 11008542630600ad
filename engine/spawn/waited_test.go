package spawn

import (
	"errors"
	"os/exec"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/proc"
)

// TestStartWaited_ReaperLeavesItsChild: a child in a process group of its
// own looks like an orphan to the reaper; started with StartWaited, its
// exit status stays its own Wait's even when the reaper runs while it is a
// zombie.
func TestStartWaited_ReaperLeavesItsChild(t *testing.T) {
	s := newSpawner(t)
	cmd := exec.Command("/bin/sh", "-c", "exit 7")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	forget, err := StartWaited(cmd)
	if err != nil {
		t.Fatal(err)
	}
	defer forget()
	deadline := time.Now().Add(5 * time.Second)
	for {
		st, err := proc.ReadStat(procRoot, cmd.Process.Pid)
		if err != nil {
			t.Fatalf("child gone before its Wait: %v", err)
		}
		if st.State == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("child did not exit within 5s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	s.reapAll()
	err = cmd.Wait()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 7 {
		t.Fatalf("got %v, want exit status 7 (the reaper took it?)", err)
	}
}
