package fence

import (
	"io"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// startGroup starts `sleep 100` in its own process group.
func startGroup(t *testing.T) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "100")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	return cmd
}

func waitExit(t *testing.T, cmd *exec.Cmd) bool {
	t.Helper()
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	select {
	case <-done:
		return true
	case <-time.After(3 * time.Second):
		return false
	}
}

func TestServe_KillsRegisteredAtEOF(t *testing.T) {
	kept := startGroup(t)
	forgotten := startGroup(t)
	single := startGroup(t)
	r, w := io.Pipe()
	served := make(chan struct{})
	go func() {
		Serve(r, func(pid int) (uint64, bool) { return 7, true }, nil)
		close(served)
	}()
	f := NewWriter(w)
	f.AddGroup(kept.Process.Pid)
	f.AddGroup(forgotten.Process.Pid)
	f.RemoveGroup(forgotten.Process.Pid)
	f.AddProcess(single.Process.Pid, 7)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	<-served
	if !waitExit(t, kept) {
		t.Fatal("registered group survived EOF")
	}
	if !waitExit(t, single) {
		t.Fatal("registered process survived EOF")
	}
	if err := syscall.Kill(forgotten.Process.Pid, 0); err != nil {
		t.Fatalf("a group removed from the fence was killed: %v", err)
	}
}

func TestServe_SkipsReusedPID(t *testing.T) {
	p := startGroup(t)
	r, w := io.Pipe()
	served := make(chan struct{})
	go func() {
		Serve(r, func(int) (uint64, bool) { return 99, true }, nil) // another process now has the pid
		close(served)
	}()
	f := NewWriter(w)
	f.AddProcess(p.Process.Pid, 7)
	f.Close()
	<-served
	if err := syscall.Kill(p.Process.Pid, 0); err != nil {
		t.Fatalf("a reused pid was killed: %v", err)
	}
}

func TestWriter_NilIsNoop(t *testing.T) {
	var f *Writer
	f.AddGroup(1)
	f.RemoveGroup(1)
	f.AddProcess(1, 1)
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestServe_KillsRegisteredCgroupsAtEOF(t *testing.T) {
	r, w := io.Pipe()
	var killed []string
	served := make(chan struct{})
	go func() {
		Serve(r, nil, func(dir string) error {
			killed = append(killed, dir)
			return nil
		})
		close(served)
	}()
	f := NewWriter(w)
	f.AddCgroup("/sys/fs/cgroup/unified/thorp-1/api/0")
	f.AddCgroup("/sys/fs/cgroup/unified/thorp-1/my app/1")
	f.AddCgroup("/sys/fs/cgroup/unified/thorp-1/api/1")
	f.RemoveCgroup("/sys/fs/cgroup/unified/thorp-1/api/1")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	<-served
	slices.Sort(killed)
	if want := []string{"/sys/fs/cgroup/unified/thorp-1/api/0", "/sys/fs/cgroup/unified/thorp-1/my app/1"}; !slices.Equal(killed, want) {
		t.Fatalf("killed %q, want %q", killed, want)
	}
}
