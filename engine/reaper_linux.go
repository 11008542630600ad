package engine

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// exitStatus is how a process ended, as wait4 reported it.
type exitStatus struct {
	pid    int
	code   int            // exit code, -1 when killed by a signal
	signal syscall.Signal // 0 when it exited normally
	time   time.Time
}

// reaper owns every wait in the process: thorp is a child subreaper, so
// orphaned grandchildren re-parent to it, and a blind wait4(-1) loop would
// steal exit statuses from per-child waits. Instead nothing else waits: the
// reaper reaps every child, hands the statuses of registered children to
// their owners and drops the rest (orphans).
//
// Children are forked by the spawner with mu held and registered before mu
// is released, so a child that exits at once cannot be reaped before its
// owner is known. There is one reaper per process (SIGCHLD and the
// subreaper flag are process-wide), shared by every Supervisor; a process
// that uses it must not start long-lived children with os/exec.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]func(exitStatus)
}

var (
	theReaper     *reaper
	theReaperOnce sync.Once
	theSpawner    chan func()
)

// sharedReaper starts the process-wide reaper and spawner on first use.
func sharedReaper() *reaper {
	theReaperOnce.Do(func() {
		// Best effort: without it orphans re-parent to init and are reaped there.
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
		theReaper = &reaper{waiters: map[int]func(exitStatus){}}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGCHLD)
		go theReaper.loop(sigs)
		theSpawner = make(chan func())
		go spawnThread(theSpawner)
	})
	return theReaper
}

// spawnThread runs every fork on one OS thread that lives as long as the
// process: Pdeathsig fires when the thread that forked exits, so forking
// from an ordinary goroutine would kill children whenever the Go runtime
// retires that thread (golang/go#27505).
func spawnThread(work <-chan func()) {
	runtime.LockOSThread()
	// Never unlocked and never returns: the thread must outlive every child.
	for f := range work {
		f()
	}
}

func (r *reaper) loop(sigs <-chan os.Signal) {
	for range sigs {
		r.reapAll()
	}
}

// reapAll reaps every child that has exited.
func (r *reaper) reapAll() {
	for {
		var ws syscall.WaitStatus
		r.mu.Lock()
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			r.mu.Unlock()
			continue
		}
		if pid <= 0 || err != nil {
			r.mu.Unlock()
			return
		}
		if !ws.Exited() && !ws.Signaled() {
			r.mu.Unlock()
			continue // stopped or continued, not an exit
		}
		st := exitStatus{pid: pid, code: -1, time: time.Now()}
		if ws.Exited() {
			st.code = ws.ExitStatus()
		} else {
			st.signal = ws.Signal()
		}
		fn := r.waiters[pid]
		delete(r.waiters, pid)
		r.mu.Unlock()
		if fn != nil {
			fn(st)
		}
		// Otherwise an orphan: reaped, nothing else to do. Its component
		// notices its group emptying on its own (remnantPoll).
	}
}

// spawnSpec is everything needed to fork one child.
type spawnSpec struct {
	path  string
	argv  []string
	dir   string
	env   []string
	files []uintptr // fd 0, 1, 2, then LISTEN_FDS
	cred  *syscall.Credential
	// detached starts the child in a session of its own without a
	// parent-death signal (the fence, which must outlive thorp).
	detached bool
}

// spawn forks and execs spec on the spawner thread and registers onExit for
// the child's status before any exit can be reaped. onExit runs on the
// reaper goroutine and must not block.
func (r *reaper) spawn(spec spawnSpec, onExit func(exitStatus)) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	theSpawner <- func() {
		attr := &syscall.ProcAttr{
			Dir:   spec.dir,
			Env:   spec.env,
			Files: spec.files,
			Sys: &syscall.SysProcAttr{
				Setpgid:    true,
				Pdeathsig:  syscall.SIGKILL,
				Credential: spec.cred,
			},
		}
		if spec.detached {
			attr.Sys = &syscall.SysProcAttr{Setsid: true}
		}
		r.mu.Lock()
		pid, err := syscall.ForkExec(spec.path, spec.argv, attr)
		if err == nil {
			r.waiters[pid] = onExit
		}
		r.mu.Unlock()
		done <- result{pid, err}
	}
	res := <-done
	if res.err != nil {
		return 0, fmt.Errorf("exec %s: %w", spec.path, res.err)
	}
	return res.pid, nil
}
