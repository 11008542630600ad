package spawn

import (
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/proc"
)

// procRoot is where /proc is mounted.
const procRoot = "/proc"

// waiter is who a registered child's exit goes to.
type waiter struct {
	owner  *Spawner
	onExit func(Exit)
}

// registry is the process-wide record of the children Spawners forked.
// Forks, registrations and every reap happen under mu, so a pid is never
// reaped by a Spawner that does not own it, nor reused under its feet.
type registry struct {
	mu      sync.Mutex
	waiters map[int]waiter
	// waited are children other code forked and waits for itself in a
	// process group of their own (StartWaited); never taken for orphans.
	waited  map[int]bool
	ownPgid int
	// init is set when the process is its PID namespace's init (PID 1, a
	// container's entrypoint): every orphan in the namespace re-parents
	// to it, in whatever process group, so every zombie child nobody
	// registered is reaped (see reapOrphans).
	init     bool
	spawners int   // Spawners not yet closed
	wasSub   int32 // the subreaper flag before the first Spawner set it
}

// children is the registry of this process (SIGCHLD and the subreaper flag
// are process-wide). It holds data only; its goroutines belong to the
// Spawners.
var children = registry{waiters: map[int]waiter{}, waited: map[int]bool{}}

// open counts a new Spawner; the first one makes the process a subreaper.
func (r *registry) open() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spawners == 0 {
		r.ownPgid = syscall.Getpgrp()
		r.init = os.Getpid() == 1
		_ = unix.Prctl(unix.PR_GET_CHILD_SUBREAPER, uintptr(unsafe.Pointer(&r.wasSub)), 0, 0, 0)
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	}
	r.spawners++
}

// release forgets the children of a closed Spawner; the last one to close
// gives the subreaper flag back its earlier value.
func (r *registry) release(s *Spawner) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for pid, w := range r.waiters {
		if w.owner == s {
			delete(r.waiters, pid)
		}
	}
	r.spawners--
	if r.spawners == 0 && r.wasSub == 0 {
		_ = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
	}
}

// reapAll reaps what has exited among the children s owns: registered
// children first, whose owners are told at once (a crash's restart waits
// for nothing else), then orphans.
func (s *Spawner) reapAll() {
	type done struct {
		fn func(Exit)
		st Exit
	}
	var ready []done
	r := &children
	r.mu.Lock()
	for pid, w := range r.waiters {
		if w.owner != s {
			continue
		}
		if st, ok := reap(pid); ok {
			delete(r.waiters, pid)
			ready = append(ready, done{w.onExit, st})
		}
	}
	r.mu.Unlock()
	for _, d := range ready {
		d.fn(d.st)
	}
	r.reapOrphans()
}

// maxOrphanRounds bounds how many times one reapOrphans lists the
// children again after a round that reaped some.
const maxOrphanRounds = 16

// reapOrphans reaps zombie children that no Spawner registered and
// StartWaited did not start: those outside the program's process group
// (orphans from a component's group, or descendants that left it), and,
// when the process is PID 1, every one, whatever its group (as a
// namespace's init it inherits every orphan, including those of processes
// that entered the namespace from outside, whose group it cannot see). A
// program that is PID 1 must therefore start every child through a
// Spawner or StartWaited. Registered children cannot be mistaken for
// orphans: a child is registered under mu before it can exit, and a pid
// is checked and reaped under mu, so it cannot be reused in between.
//
// The kernel's list of children may skip an entry when another child is
// reaped while it is read, so a round that reaped something lists them
// again.
func (r *registry) reapOrphans() {
	for range maxOrphanRounds {
		if r.reapOrphansOnce() == 0 {
			return
		}
	}
}

// reapOrphansOnce reaps the orphan zombies among the children listed now
// and returns how many it reaped.
func (r *registry) reapOrphansOnce() int {
	n := 0
	for _, pid := range directChildren() {
		r.mu.Lock()
		if _, mine := r.waiters[pid]; !mine && !r.waited[pid] {
			st, err := proc.ReadStat(procRoot, pid)
			if err == nil && st.State == 'Z' && (r.init || st.PGID != r.ownPgid) {
				if _, ok := reap(pid); ok { // nothing else to do: its component sees its group empty
					n++
				}
			}
		}
		r.mu.Unlock()
	}
	return n
}

// reap collects pid's exit status if it has exited.
func reap(pid int) (Exit, bool) {
	var ws syscall.WaitStatus
	for {
		got, err := syscall.Wait4(pid, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if got != pid || err != nil || (!ws.Exited() && !ws.Signaled()) {
			return Exit{}, false
		}
		st := Exit{PID: pid, Code: -1, Time: time.Now()}
		if ws.Exited() {
			st.Code = ws.ExitStatus()
		} else {
			st.Signal = ws.Signal()
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
