package engine

import (
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/proc"
)

// exitStatus is how a process ended, as wait4 reported it.
type exitStatus struct {
	pid    int
	code   int            // exit code, -1 when killed by a signal
	signal syscall.Signal // 0 when it exited normally
	time   time.Time
}

// reaper waits for thorp's children. thorp is a child subreaper, so
// orphaned grandchildren re-parent to it too, and a blind wait4(-1) loop
// would steal the exit statuses of children that other code in the process
// waits for itself (os/exec). So on each SIGCHLD the reaper reaps only:
//   - the children it registered (components' main processes), by pid;
//   - zombie children outside thorp's own process group: orphans from a
//     component's group, or descendants that left it. A child started with
//     os/exec stays in thorp's group and is left to its own Wait.
//
// Children are forked by the spawner with mu held and registered before mu
// is released, so a child that exits at once cannot be reaped before its
// owner is known. There is one reaper per process (SIGCHLD and the
// subreaper flag are process-wide), shared by every Supervisor.
type reaper struct {
	mu      sync.Mutex
	waiters map[int]func(exitStatus)
	ownPgid int
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
		theReaper = &reaper{waiters: map[int]func(exitStatus){}, ownPgid: syscall.Getpgrp()}
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

// reapAll reaps what has exited among the children the reaper owns:
// registered children first, whose owners are told at once (a crash's
// restart waits for nothing else), then orphans.
func (r *reaper) reapAll() {
	type done struct {
		fn func(exitStatus)
		st exitStatus
	}
	var ready []done
	r.mu.Lock()
	for pid, fn := range r.waiters {
		if st, ok := reap(pid); ok {
			delete(r.waiters, pid)
			ready = append(ready, done{fn, st})
		}
	}
	r.mu.Unlock()
	for _, d := range ready {
		d.fn(d.st)
	}
	r.reapOrphans()
}

// reapOrphans reaps zombie children outside thorp's process group that no
// one registered. Registered children cannot be mistaken for them: a child
// is registered under mu before it can exit.
func (r *reaper) reapOrphans() {
	for _, pid := range directChildren() {
		r.mu.Lock()
		_, mine := r.waiters[pid]
		r.mu.Unlock()
		if mine {
			continue
		}
		st, err := proc.ReadStat(procRoot, pid)
		if err == nil && st.State == 'Z' && st.PGID != r.ownPgid {
			reap(pid) // nothing else to do: its component sees its group empty
		}
	}
}

// reap collects pid's exit status if it has exited.
func reap(pid int) (exitStatus, bool) {
	var ws syscall.WaitStatus
	for {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if got != pid || err != nil || (!ws.Exited() && !ws.Signaled()) {
			return exitStatus{}, false
		}
		st := exitStatus{pid: pid, code: -1, time: time.Now()}
		if ws.Exited() {
			st.code = ws.ExitStatus()
		} else {
			st.signal = ws.Signal()
		}
		return st, true
	}
}

// directChildren lists this process's children from
// /proc/self/task/*/children (each thread lists the children it forked, and
// orphans land on one of them), or, on a kernel without that file, from a
// scan of /proc.
func directChildren() []int {
	tasks, err := os.ReadDir("/proc/self/task")
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/self/task/" + t.Name() + "/children")
		if err != nil {
			return scanChildren()
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				out = append(out, pid)
			}
		}
	}
	return out
}

// scanChildren finds this process's children by their parent pid.
func scanChildren() []int {
	tab, err := proc.Scan(procRoot)
	if err != nil {
		return nil
	}
	return tab.Children(os.Getpid())
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
