package spawn

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
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

// asInit makes the registry behave as in a process that is PID 1 until
// the test ends.
func asInit(t *testing.T) {
	t.Helper()
	children.mu.Lock()
	was := children.init
	children.init = true
	children.mu.Unlock()
	t.Cleanup(func() {
		children.mu.Lock()
		children.init = was
		children.mu.Unlock()
	})
}

// TestReaper_AsInit_ReapsOrphansOfItsOwnGroup: as PID 1 the reaper takes
// orphans whatever their process group, here one left by a child that
// stayed in the program's group, while that child's exit status stays its
// own Wait's (StartWaited).
func TestReaper_AsInit_ReapsOrphansOfItsOwnGroup(t *testing.T) {
	newSpawner(t)
	asInit(t)
	r, w, err := os.Pipe() // the orphan's pid
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	hold, release, err := os.Pipe() // the orphan lives until release closes
	if err != nil {
		t.Fatal(err)
	}
	defer release.Close()
	cmd := exec.Command("/bin/sh", "-c", "(read x <&3; exit 4) >/dev/null & echo $!; exit 9")
	cmd.Stdout, cmd.ExtraFiles = w, []*os.File{hold}
	forget, err := StartWaited(cmd)
	w.Close()
	hold.Close()
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(r).ReadString('\n')
	if err != nil {
		t.Fatal(err)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	err = cmd.Wait()
	forget()
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 9 {
		t.Fatalf("got %v, want exit status 9 (the reaper took it?)", err)
	}
	if st, err := proc.ReadStat(procRoot, orphan); err != nil || st.PGID != syscall.Getpgrp() {
		t.Fatalf("orphan %d: %+v, %v; want a live process in the program's group", orphan, st, err)
	}
	release.Close() // the orphan reads EOF and exits
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); os.IsNotExist(err) {
			return // reaped: not even a zombie is left
		}
		if time.Now().After(deadline) {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", orphan))
			t.Fatalf("orphan %d of the program's own group not reaped as init: %s", orphan, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestReaper_AsInit_LeavesWaitedChildren: as PID 1 the reaper reaps
// every unregistered zombie, but never a StartWaited child or a
// Spawner's, under a stream of SIGCHLDs.
func TestReaper_AsInit_LeavesWaitedChildren(t *testing.T) {
	s := newSpawner(t)
	asInit(t)
	stop := make(chan struct{})
	wg := churn(t, s, 1, stop)
	defer wg.Wait()
	defer close(stop)
	for i := 0; i < 30; i++ {
		cmd := exec.Command("/bin/sh", "-c", "exit 7")
		forget, err := StartWaited(cmd)
		if err != nil {
			t.Fatal(err)
		}
		err = cmd.Wait()
		forget()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Fatalf("run %d: got %v, want exit status 7 (the reaper took it?)", i, err)
		}
	}
}
