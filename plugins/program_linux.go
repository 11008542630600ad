package plugins

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"runtime"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/spawn"
)

// execWaitDelay bounds how long thorp.exec waits for a program's output
// to close once the program has exited or was killed (something outside
// its group may hold the pipes).
const execWaitDelay = time.Second

// program is one thorp.exec run.
type program struct {
	argv    []string // argv[0] is an absolute path
	env     []string
	stdin   string
	dir     string
	timeout time.Duration
}

// programResult is how a program ended and what it wrote.
type programResult struct {
	code           int            // exit code; -1 when killed by a signal
	signal         syscall.Signal // 0 when it exited
	stdout, stderr string
}

// run runs p in a process group of its own and waits for it. At its
// timeout, or when ctx ends, the whole group is killed (SIGKILL) and run
// returns an error saying so. Once p's program has exited, whatever it
// left running in its group is killed as well, before its pid (the group's
// id) is released, so nothing thorp.exec started outlives the call. The
// program gets SIGKILL if thorp dies (parent-death signal: it is forked
// from a thread locked for its life).
func (p program) run(parent context.Context) (programResult, error) {
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.argv[0], p.argv[1:]...)
	cmd.Env, cmd.Dir = p.env, p.dir
	cmd.Stdin = strings.NewReader(p.stdin)
	stdout, stderr := &cappedOutput{max: int(MaxExecOutput)}, &cappedOutput{max: int(MaxExecOutput)}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = execWaitDelay

	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	forget, err := spawn.StartWaited(cmd)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return programResult{}, fmt.Errorf("cannot start %s: %w", p.argv[0], err)
	}
	defer forget()
	pid := cmd.Process.Pid
	waitExited(pid)
	_ = syscall.Kill(-pid, syscall.SIGKILL) // what it left in its group
	werr := cmd.Wait()                      // an *exec.ExitError or ErrWaitDelay: how it ended is in ProcessState

	st := cmd.ProcessState
	if st == nil {
		return programResult{}, fmt.Errorf("waiting for %s: %w", p.argv[0], werr)
	}
	ws, _ := st.Sys().(syscall.WaitStatus)
	if ctx.Err() != nil && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
		if parent.Err() != nil {
			return programResult{}, fmt.Errorf("%s killed: the call was stopped", p.argv[0])
		}
		return programResult{}, fmt.Errorf("%s killed after %s (its timeout), with its process group", p.argv[0], p.timeout)
	}
	res := programResult{code: ws.ExitStatus(), stdout: stdout.String(), stderr: stderr.String()}
	if ws.Signaled() {
		res.code, res.signal = -1, ws.Signal()
	}
	return res, nil
}

// waitExited returns once the child pid has exited, without reaping it:
// until its Wait, its pid, the id of its process group, cannot be reused.
func waitExited(pid int) {
	var info unix.Siginfo
	for {
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err != unix.EINTR {
			return
		}
	}
}
