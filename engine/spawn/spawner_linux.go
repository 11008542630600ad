// Package spawn forks thorp's child processes and waits for them.
//
// A Spawner owns two long-lived things, both started by New and stopped and
// waited for by Close:
//
//   - the spawn thread: a goroutine locked to its OS thread, on which every
//     child is forked. Linux sends a child's parent-death signal when the
//     thread that forked it exits, so forking from an ordinary goroutine
//     would kill children whenever the Go runtime retires that thread
//     (golang/go#27505). The thread lives until Close, and exits then
//     (children still running get their parent-death signal).
//   - the reaper: a goroutine that, on each SIGCHLD, reaps the children the
//     Spawner registered and hands each exit status to its callback, then
//     reaps zombie orphans.
//
// The process is a child subreaper while any Spawner is open, so
// grandchildren whose parent died re-parent to it. A blind wait4(-1) would
// steal the exit statuses of children other code in the program waits for
// itself (os/exec), so a reaper takes only what is thorp's: children a
// Spawner registered (by pid), and zombie children outside the program's
// own process group (orphans from a component's group, or descendants that
// left it). A child started with os/exec stays in the program's group, or
// is started with StartWaited when it needs a group of its own
// (thorp.exec), and is left to its own Wait. When the process is PID 1 (a
// container's entrypoint, the init of a PID namespace) every orphan in the
// namespace re-parents to it whatever its group, so the reaper then takes
// every zombie child that is neither registered nor started with
// StartWaited: such a program starts every child through one of the two.
//
// SIGCHLD and the subreaper flag are process-wide, so the registry of
// children is too: every Spawner forks and registers under one lock, so a
// child that exits at once is never reaped before its owner is known, and
// no Spawner takes another's child for an orphan. Several Spawners may be
// open at once (tests run many Supervisors in one binary).
//
// Besides forking, a Spawner prepares what a child gets: its command
// resolved in the PATH of its own environment, that environment built from
// the inherited one, the credentials of its user and group, and pipes for
// its output.
package spawn

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// ErrClosed is returned by Spawn after Close.
var ErrClosed = errors.New("spawner closed")

// Exit is how a child ended, as wait4 reported it.
type Exit struct {
	PID    int
	Code   int            // exit code, -1 when killed by a signal
	Signal syscall.Signal // 0 when it exited normally
	Time   time.Time      // when it was reaped
}

// Spec is what to start.
type Spec struct {
	// Argv is the command and its arguments. Argv[0] without a slash is
	// looked up in the PATH of the child's environment, like a shell does;
	// a relative path is taken relative to Dir.
	Argv []string
	// Dir is the child's working directory.
	Dir string
	// Environ is the inherited environment. What belongs to thorp itself
	// (NOTIFY_SOCKET, LISTEN_*, WATCHDOG_*, THORP_INSTANCE, THORP_COMPONENT)
	// is dropped from it; Env's keys then override it (appended in sorted
	// order), and Extra is appended last.
	Environ []string
	Env     map[string]string
	Extra   []string
	// User and Group, when set, are the credentials the child runs with;
	// that needs root.
	User, Group string
	// Files are passed as fds 3, 4, … (held sockets).
	Files []*os.File
	// Shim, when set, is an argv prefix the command runs through: the child
	// execs Shim[0] with Shim[1:], then the resolved path of Argv[0], then
	// Argv.
	Shim []string
	// Stdin is the child's fd 0; nil means /dev/null.
	Stdin *os.File
	// Cgroup, when set, is an open cgroup2 directory the child starts in
	// (clone3's CLONE_INTO_CGROUP: it is in the cgroup before it can fork).
	Cgroup *os.File
	// V1Cgroup, when set, is a cgroup v1 directory the child starts in,
	// and V1Home the one the spawn thread belongs in: v1 has no
	// CLONE_INTO_CGROUP but places each thread on its own, so the spawn
	// thread moves into V1Cgroup (its tasks file) for the fork and back
	// to V1Home after it. Best effort: the caller moves the child itself
	// as well.
	V1Cgroup, V1Home string
	// Detached starts the child in a session of its own, without a
	// parent-death signal and with its output discarded (the fence, which
	// must outlive thorp). Otherwise the child gets a process group of its
	// own, SIGKILL as its parent-death signal, and pipes for its output.
	Detached bool
}

// Process is a started child.
type Process struct {
	PID int
	// Stdout and Stderr are the read ends of the child's output pipes (nil
	// for a detached child). The caller reads them to EOF, never stopping
	// (a full pipe blocks the child), and closes them.
	Stdout, Stderr *os.File
}

// Spawner forks children from its spawn thread and reaps them. Create it
// with New and stop it with Close. Spawn is safe for concurrent use.
type Spawner struct {
	work chan func()
	sigs chan os.Signal
	done chan struct{}
	wg   sync.WaitGroup

	closeOnce sync.Once
}

// New starts a Spawner: its spawn thread and its reaper, and makes the
// process a child subreaper (best effort: without it orphans re-parent to
// init and are reaped there).
func New() *Spawner {
	s := &Spawner{
		work: make(chan func()),
		sigs: make(chan os.Signal, 1),
		done: make(chan struct{}),
	}
	children.open()
	signal.Notify(s.sigs, syscall.SIGCHLD)
	s.wg.Add(2)
	go s.thread()
	go s.reaper()
	return s
}

// Close stops the spawn thread and the reaper and waits for both. Children
// still running get their parent-death signal (SIGKILL) as the thread
// exits, and their exits are no longer reported: close a Spawner after its
// children are stopped. Close is safe to call twice; Spawn fails after it.
func (s *Spawner) Close() error {
	s.closeOnce.Do(func() {
		signal.Stop(s.sigs)
		close(s.done)
		s.wg.Wait()
		children.release(s)
	})
	return nil
}

// thread runs every fork on one OS thread that lives until Close: it never
// unlocks, so when it returns the runtime ends the thread with it.
func (s *Spawner) thread() {
	defer s.wg.Done()
	runtime.LockOSThread()
	for {
		select {
		case f := <-s.work:
			f()
		case <-s.done:
			return
		}
	}
}

// reaper reaps on every SIGCHLD until Close.
func (s *Spawner) reaper() {
	defer s.wg.Done()
	for {
		select {
		case <-s.sigs:
			s.reapAll()
		case <-s.done:
			return
		}
	}
}

// Spawn starts spec and registers onExit for the child's status before any
// exit can be reaped. onExit runs on the reaper goroutine and must not
// block. Safe for concurrent use.
func (s *Spawner) Spawn(spec Spec, onExit func(Exit)) (Process, error) {
	if len(spec.Argv) == 0 {
		return Process{}, errors.New("spawn: no command")
	}
	env := buildEnv(spec.Environ, spec.Env, spec.Extra)
	path, err := lookPath(spec.Argv[0], envValue(env, "PATH"), spec.Dir)
	if err != nil {
		return Process{}, err
	}
	cred, err := Credential(spec.User, spec.Group)
	if err != nil {
		if ie := (*IdentityError)(nil); errors.As(err, &ie) {
			err = fmt.Errorf("%s: %w", ie.Key, err)
		}
		return Process{}, err
	}
	argv := spec.Argv
	if len(spec.Shim) > 0 {
		argv = append(append(append([]string{}, spec.Shim...), path), spec.Argv...)
		path = spec.Shim[0]
	}
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return Process{}, err
	}
	defer devnull.Close()
	stdin := devnull
	if spec.Stdin != nil {
		stdin = spec.Stdin
	}
	attr := &syscall.ProcAttr{Dir: spec.Dir, Env: env}
	var out Process
	if spec.Detached {
		attr.Files = []uintptr{stdin.Fd(), devnull.Fd(), devnull.Fd()}
		attr.Sys = &syscall.SysProcAttr{Setsid: true}
	} else {
		p, err := newPipes()
		if err != nil {
			return Process{}, err
		}
		defer p.closeWriteEnds()
		out.Stdout, out.Stderr = p.outR, p.errR
		attr.Files = []uintptr{stdin.Fd(), p.outW.Fd(), p.errW.Fd()}
		attr.Sys = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL, Credential: cred}
		if spec.Cgroup != nil {
			attr.Sys.UseCgroupFD, attr.Sys.CgroupFD = true, int(spec.Cgroup.Fd())
		}
		defer func() {
			if out.PID == 0 {
				p.closeReadEnds()
			}
		}()
	}
	for _, f := range spec.Files {
		attr.Files = append(attr.Files, f.Fd())
	}
	pid, err := s.fork(path, argv, attr, spec.V1Cgroup, spec.V1Home, onExit)
	if err != nil {
		return Process{}, err
	}
	out.PID = pid
	return out, nil
}

// fork forks and execs on the spawn thread, registering the child under
// the registry's lock.
func (s *Spawner) fork(path string, argv []string, attr *syscall.ProcAttr, v1Cgroup, v1Home string, onExit func(Exit)) (int, error) {
	type result struct {
		pid int
		err error
	}
	done := make(chan result, 1)
	f := func() {
		joined := v1Cgroup != "" && v1Home != "" && joinThread(v1Cgroup) == nil
		children.mu.Lock()
		pid, err := syscall.ForkExec(path, argv, attr)
		if err == nil {
			children.waiters[pid] = waiter{owner: s, onExit: onExit}
		}
		children.mu.Unlock()
		if joined {
			// Back before anyone reads the cgroup: on v1 a thread in
			// it lists thorp's whole process there.
			_ = joinThread(v1Home)
		}
		done <- result{pid, err}
	}
	select {
	case s.work <- f:
	case <-s.done:
		return 0, ErrClosed
	}
	res := <-done
	if res.err != nil {
		return 0, fmt.Errorf("exec %s: %w", path, res.err)
	}
	return res.pid, nil
}

// joinThread moves the calling OS thread into the cgroup v1 directory dir.
func joinThread(dir string) error {
	f, err := os.OpenFile(filepath.Join(dir, "tasks"), os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(strconv.Itoa(syscall.Gettid()))
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
