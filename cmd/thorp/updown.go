package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/daemon"
	"github.com/thorp-dev/thorp/engine/proc"
)

func init() {
	commands["up"] = command{summary: "start 'thorp run' in the background and wait until every component is running", run: cmdUp}
	commands["down"] = command{summary: "stop the background thorp: ordered stop, waits until it has exited", run: cmdDown}
}

const upUsage = `up [-c FILE] [--env PROFILE] [--timeout 30s]

Starts 'thorp run -c FILE [--env PROFILE]' detached (its own session; it keeps running after
this command and the terminal are gone) and waits until it answers on its
control socket and every component is running or stopped on purpose, then
prints the status table. thorp's own log is logs/thorp.log; what it writes
before that log is open (and a crash dump) goes to logs/thorp-console.log.

Exit 0 when everything is up (or a thorp already runs this config). Exit 1
when a thorp holds this config's lock (.thorp/thorp.lock) but does not
answer (nothing is started), when thorp does not come up (the reason and the log tail are printed, and
nothing is left running), or when thorp is up but a component is errored or
still not running at the deadline (thorp keeps running and retrying it;
see 'thorp describe NAME', stop everything with 'thorp down').`

const downUsage = `down [-c FILE] [--timeout DURATION]

Asks the thorp running FILE to stop (SIGTERM: components stop in reverse
dependency order, each within its kill_timeout) and waits until its process
has exited. The default timeout is the longest ordered stop the config
allows (as for 'thorp startup'), at least 60s. Exit 3 when no thorp runs
FILE.`

// consoleLog is the file in the log directory that receives a detached
// thorp's stdout and stderr.
const consoleLog = "thorp-console.log"

func cmdUp(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("up", upUsage, stderr)
	cfgPath := configFlag(fs)
	profileValue := profileFlag(fs)
	timeout := fs.Duration("timeout", 30*time.Second, "how long to wait for thorp and its components")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "thorp up: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	abs, err := filepath.Abs(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "thorp up: %s\n", termSafeErr(err))
		return exitFailed
	}

	profile := activeProfile(*profileValue)
	cfg, problems := readConfig(abs, profile)
	// A thorp that already runs this config is success, even if the file
	// has been broken since.
	client := controlClient(cfg, abs)
	if info, err := infoWithin(ctx, client, 3*time.Second); err == nil {
		fmt.Fprintf(stderr, "thorp is already running (pid %d)\n", info.PID)
		return printUpStatus(ctx, client, stdout, stderr)
	} else if !errors.Is(err, api.ErrNotRunning) {
		return clientExit(stderr, err)
	}
	// A thorp that holds the lock but does not answer (still starting,
	// or hung): starting another would only be refused.
	if cfg != nil {
		if pid, held := daemon.LockHolder(cfg.Settings.Control); held {
			fmt.Fprintf(stderr, "thorp up: a thorp (pid %d) holds %s but does not answer on %s; nothing was started\n",
				pid, daemon.LockPath(cfg.Settings.Control), cfg.Settings.Control)
			return exitFailed
		}
	}
	printProblems(stderr, problems)
	if cfg == nil {
		fmt.Fprintf(stderr, "thorp up: %s has errors; nothing was started. Fix them (thorp check -c %s) and run again.\n", *cfgPath, *cfgPath)
		return exitFailed
	}

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "thorp up: cannot find thorp's own path: %s\n", termSafeErr(err))
		return exitFailed
	}
	logDir := cfg.Settings.Logs.Dir
	if err := os.MkdirAll(logDir, 0o755); err != nil {
		fmt.Fprintf(stderr, "thorp up: %v; make the log directory writable\n", err)
		return exitFailed
	}
	consolePath := filepath.Join(logDir, consoleLog)
	// Like every log, never followed through a symlink.
	console, err := os.OpenFile(consolePath, os.O_WRONLY|os.O_APPEND|os.O_CREATE|syscall.O_NOFOLLOW, 0o644)
	if err != nil {
		fmt.Fprintf(stderr, "thorp up: %v; make the log directory writable\n", err)
		return exitFailed
	}
	defer console.Close()
	consoleStart, _ := console.Seek(0, io.SeekEnd)
	fmt.Fprintf(console, "--- thorp up %s: %s run -c %s\n", time.Now().Format(time.RFC3339), self, abs)

	// thorp run writes a line to fd 3 once its control socket listens, and
	// closes it unsaid if it fails before: no polling for the socket.
	readyR, readyW, err := os.Pipe()
	if err != nil {
		fmt.Fprintf(stderr, "thorp up: %s\n", termSafeErr(err))
		return exitFailed
	}
	defer readyR.Close()
	runArgs := []string{"run", "-c", abs, "--ready-fd", "3"}
	if profile != "" {
		runArgs = append(runArgs, "--env", profile)
	}
	cmd := exec.Command(self, runArgs...)
	cmd.Dir = cfg.Dir
	cmd.Env = detachedEnv(os.Environ())
	cmd.Stdout, cmd.Stderr = console, console // stdin stays /dev/null
	cmd.ExtraFiles = []*os.File{readyW}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	err = cmd.Start()
	readyW.Close()
	if err != nil {
		fmt.Fprintf(stderr, "thorp up: start %s: %v\n", self, err)
		return exitFailed
	}
	pid := cmd.Process.Pid
	// Our child until we exit; then init (or a subreaper) adopts it. The
	// goroutine ends with the process or with ours.
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	// Ends at the notice, when thorp closes the pipe, or when we close it.
	ready := make(chan bool, 1)
	go func() {
		n, _ := readyR.Read(make([]byte, 16))
		ready <- n > 0
	}()

	fmt.Fprintf(stderr, "starting thorp (pid %d) for %s\n", pid, abs)
	w := &upWaiter{client: client, pid: pid, ready: ready, exited: exited, stderr: stderr, deadline: time.Now().Add(*timeout), states: map[string]engine.State{}}
	outcome := w.wait(ctx)
	tail := func() {
		printTail(stderr, consolePath, consoleStart, 20)
		printTail(stderr, filepath.Join(logDir, "thorp.log"), -1, 20)
	}
	switch outcome.kind {
	case upOK:
		printStatusTable(stdout, outcome.comps)
		fmt.Fprintf(stdout, "thorp is up (pid %d); stop it with 'thorp down -c %s'\n", pid, *cfgPath)
		return exitOK
	case upComponentFailed:
		printStatusTable(stdout, outcome.comps)
		fmt.Fprintf(stderr, "thorp up: %s\n", termSafe(outcome.why))
		fmt.Fprintf(stderr, "thorp itself is up (pid %d) and keeps retrying; see 'thorp describe NAME' and 'thorp logs NAME', stop everything with 'thorp down -c %s'\n", pid, *cfgPath)
		return exitFailed
	default:
		fmt.Fprintf(stderr, "thorp up: %s\n", termSafe(outcome.why))
		if outcome.kind == upNoAnswer {
			stopChild(cmd.Process, exited, stderr)
		}
		tail()
		return exitFailed
	}
}

// detachedEnv is env without the variables that tie a process to the
// service manager or socket activation of the shell that ran 'thorp up'.
func detachedEnv(env []string) []string {
	return slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		return k == "NOTIFY_SOCKET" || strings.HasPrefix(k, "WATCHDOG_") || strings.HasPrefix(k, "LISTEN_")
	})
}

type upKind int

const (
	upOK              upKind = iota
	upComponentFailed        // thorp runs, a component does not
	upExited                 // thorp exited before it was up
	upNoAnswer               // thorp never answered; it is stopped again
	upCancelled
)

type upOutcome struct {
	kind  upKind
	why   string
	comps []engine.Status
}

// upWaiter watches a freshly started thorp until it is up, has failed, or
// the deadline passes. It is used by one goroutine.
type upWaiter struct {
	client   *api.Client
	pid      int
	ready    <-chan bool  // true: the control socket listens; false: thorp gave up
	exited   <-chan error // our child's exit
	stderr   io.Writer
	deadline time.Time
	answered bool
	states   map[string]engine.State
}

// wait waits for the ready notice, then follows thorp's events and looks
// at the components again at each one.
func (w *upWaiter) wait(ctx context.Context) upOutcome {
	timer := time.NewTimer(time.Until(w.deadline))
	defer timer.Stop()
	exited := w.exited
	select {
	case ok := <-w.ready:
		if ok {
			break
		}
		// thorp closed the pipe unsaid: it is failing. Another thorp may
		// have won the race for the socket; then ours exits and that one
		// is watched instead.
		info, err := infoWithin(ctx, w.client, time.Second)
		if err != nil || info.PID == w.pid {
			select {
			case err := <-exited:
				return w.exitedEarly(err)
			case <-timer.C:
				return upOutcome{kind: upNoAnswer, why: fmt.Sprintf("thorp (pid %d) did not answer on its control socket within the timeout", w.pid)}
			case <-ctx.Done():
				return upOutcome{kind: upCancelled, why: "interrupted; thorp may still be starting ('thorp status' tells)"}
			}
		}
		fmt.Fprintf(w.stderr, "  another thorp (pid %d) answers for this config\n", info.PID)
		w.pid, exited = info.PID, nil
	case err := <-exited:
		return w.exitedEarly(err)
	case <-ctx.Done():
		return upOutcome{kind: upCancelled, why: "interrupted; thorp may still be starting ('thorp status' tells)"}
	case <-timer.C:
		return upOutcome{kind: upNoAnswer, why: fmt.Sprintf("thorp (pid %d) did not answer on its control socket within the timeout", w.pid)}
	}
	w.answered = true
	fmt.Fprintf(w.stderr, "  thorp answers on its control socket\n")
	// Follow first, then look: every change after the look is an event.
	var events <-chan engine.Event
	if stream, err := w.client.Follow(ctx, api.FollowOptions{}); err == nil {
		defer stream.Close()
		events = stream.Events()
	}
	for {
		if o, done := w.look(ctx); done {
			return o
		}
		select {
		case _, ok := <-events:
			if !ok {
				events = nil // thorp is going away; its exit or the deadline tells
			}
		case err := <-exited:
			return w.exitedEarly(err)
		case <-ctx.Done():
			return upOutcome{kind: upCancelled, why: "interrupted; thorp may still be starting ('thorp status' tells)"}
		case <-timer.C:
			return w.timedOut(ctx)
		}
	}
}

func (w *upWaiter) exitedEarly(err error) upOutcome {
	return upOutcome{kind: upExited, why: fmt.Sprintf("thorp (pid %d) exited before it was up: %s", w.pid, describeWaitErr(err))}
}

// look asks thorp how far it got and reports progress lines.
func (w *upWaiter) look(ctx context.Context) (upOutcome, bool) {
	cctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	comps, err := w.client.Components(cctx)
	if err != nil {
		return upOutcome{}, false
	}
	w.progress(comps)
	var errored []string
	for _, c := range comps {
		if c.State == engine.StateErrored {
			errored = append(errored, describeComponent(c))
		}
	}
	if len(errored) > 0 {
		return upOutcome{kind: upComponentFailed, comps: comps, why: "errored: " + strings.Join(errored, "; ")}, true
	}
	// Up means running, or stopped on purpose after its start (e.g. a job
	// with autorestart = "never" that has finished).
	if settled(comps) && !slices.ContainsFunc(comps, func(c engine.Status) bool { return c.State == engine.StateBackoff }) {
		return upOutcome{kind: upOK, comps: comps}, true
	}
	return upOutcome{}, false
}

// progress prints one line per component state change.
func (w *upWaiter) progress(comps []engine.Status) {
	for _, c := range comps {
		if old, ok := w.states[c.Name]; ok && old == c.State {
			continue
		}
		w.states[c.Name] = c.State
		line := fmt.Sprintf("  %s: %s", termSafe(c.Name), termSafe(string(c.State)))
		if c.Message != "" && c.State != engine.StateRunning {
			line += " (" + c.Message + ")"
		}
		fmt.Fprintln(w.stderr, line)
	}
}

func (w *upWaiter) timedOut(ctx context.Context) upOutcome {
	if !w.answered {
		return upOutcome{kind: upNoAnswer, why: fmt.Sprintf("thorp (pid %d) did not answer on its control socket within the timeout", w.pid)}
	}
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	comps, err := w.client.Components(cctx)
	if err != nil {
		return upOutcome{kind: upComponentFailed, why: fmt.Sprintf("thorp stopped answering: %v", err)}
	}
	var notUp []string
	for _, c := range comps {
		if c.State != engine.StateRunning && c.State != engine.StateStopped {
			notUp = append(notUp, describeComponent(c))
		}
	}
	return upOutcome{kind: upComponentFailed, comps: comps, why: "not running at the deadline: " + strings.Join(notUp, "; ")}
}

func describeComponent(c engine.Status) string {
	s := fmt.Sprintf("%s is %s", termSafe(c.Name), termSafe(string(c.State)))
	if c.Message != "" {
		s += " (" + c.Message + ")"
	}
	return s
}

func describeWaitErr(err error) string {
	var ee *exec.ExitError
	if errors.As(err, &ee) {
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			return "killed by " + ws.Signal().String()
		}
		return fmt.Sprintf("exit code %d", ee.ExitCode())
	}
	if err == nil {
		return "exit code 0"
	}
	return err.Error()
}

// stopChild stops a thorp that never answered: SIGTERM, then SIGKILL after
// 10s (its components die with it through their parent-death signal).
func stopChild(p *os.Process, exited <-chan error, stderr io.Writer) {
	_ = p.Signal(syscall.SIGTERM)
	select {
	case <-exited:
		return
	case <-time.After(10 * time.Second):
	}
	fmt.Fprintf(stderr, "thorp (pid %d) ignored SIGTERM; killing it\n", p.Pid)
	_ = p.Kill()
	select {
	case <-exited:
	case <-time.After(5 * time.Second):
	}
}

// printTail prints the last n lines of path written after offset (the
// whole file when offset < 0), under a header; nothing when empty.
func printTail(w io.Writer, path string, offset int64, n int) {
	f, err := os.Open(path)
	if err != nil {
		return
	}
	defer f.Close()
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			return
		}
	}
	var lines []string
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for sc.Scan() {
		lines = append(lines, sc.Text())
		if len(lines) > n {
			lines = lines[1:]
		}
	}
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "--- last lines of %s:\n", termSafe(path))
	for _, l := range lines {
		fmt.Fprintln(w, "  "+termSafe(l))
	}
}

func printUpStatus(ctx context.Context, client *api.Client, stdout, stderr io.Writer) int {
	cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	comps, err := client.Components(cctx)
	if err != nil {
		return clientExit(stderr, err)
	}
	printStatusTable(stdout, comps)
	return exitOK
}

func infoWithin(ctx context.Context, c *api.Client, d time.Duration) (api.Info, error) {
	cctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	return c.Info(cctx)
}

func cmdDown(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("down", downUsage, stderr)
	cfgPath := configFlag(fs)
	timeout := fs.Duration("timeout", 0, "how long to wait for thorp to exit (default: the config's longest ordered stop, at least 60s)")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "thorp down: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	abs, err := filepath.Abs(*cfgPath)
	if err != nil {
		abs = *cfgPath
	}
	cfg, _ := readConfig(abs, activeProfile(""))
	client := controlClient(cfg, abs)
	info, err := infoWithin(ctx, client, 5*time.Second)
	if errors.Is(err, api.ErrNotRunning) {
		fmt.Fprintf(stderr, "thorp down: no thorp is running for %s\n", abs)
		return exitNoThorp
	}
	if err != nil {
		return clientExit(stderr, err)
	}
	pid := info.PID
	if pid <= 1 || pid == os.Getpid() {
		fmt.Fprintf(stderr, "thorp down: the control socket reports pid %d; refusing to signal it\n", pid)
		return exitFailed
	}
	wait := *timeout
	if wait <= 0 {
		wait = 60 * time.Second
		if cfg != nil {
			wait = max(wait, stopTimeout(cfg))
		}
	}
	if unit := systemdUnitOf(pid); unit != "" {
		fmt.Fprintf(stderr, "thorp down: thorp (pid %d) runs under the systemd unit %s, which would start it again; stop it with 'systemctl stop %s'\n", pid, unit, unit)
		return exitFailed
	}
	ident, err := proc.ReadStat("/proc", pid)
	if err != nil {
		fmt.Fprintf(stdout, "thorp (pid %d) stopped\n", pid)
		return exitOK
	}

	// Watch the process and follow the events before the signal, so
	// neither its exit nor a stop is missed.
	gone, err := watchExit(pid, ident.StartTime)
	if err != nil {
		fmt.Fprintf(stderr, "thorp down: %s\n", termSafeErr(err))
		return exitFailed
	}
	defer gone.Close()
	var events <-chan engine.Event
	if stream, err := client.Follow(ctx, api.FollowOptions{}); err == nil {
		defer stream.Close()
		events = stream.Events()
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		if errors.Is(err, syscall.ESRCH) {
			fmt.Fprintf(stdout, "thorp (pid %d) stopped\n", pid)
			return exitOK
		}
		fmt.Fprintf(stderr, "thorp down: signal thorp (pid %d): %v; run as the user that runs thorp\n", pid, err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "stopping thorp (pid %d): components stop in reverse dependency order\n", pid)

	timer := time.NewTimer(wait)
	defer timer.Stop()
	for {
		select {
		case <-gone.Done():
			fmt.Fprintf(stdout, "thorp (pid %d) stopped\n", pid)
			return exitOK
		case ev, ok := <-events:
			if !ok {
				// thorp has stopped its components and closed its sockets.
				events = nil
				fmt.Fprintf(stderr, "  control socket closed; waiting for pid %d to exit\n", pid)
				continue
			}
			if ev.Type == engine.EventStopping || ev.Type == engine.EventStopped || ev.Type == engine.EventKill {
				fmt.Fprintf(stderr, "  %s: %s\n", eventSource(ev), termSafe(string(ev.State)))
			}
		case <-ctx.Done():
			fmt.Fprintf(stderr, "thorp down: interrupted; thorp (pid %d) goes on stopping\n", pid)
			return exitFailed
		case <-timer.C:
			fmt.Fprintf(stderr, "thorp down: thorp (pid %d) has not exited after %s; it may still be stopping a component. 'kill -KILL %d' ends it at once (its components get SIGKILL through their parent-death signal)\n", pid, wait, pid)
			return exitFailed
		}
	}
}

// processGone reports whether the process pid that started at startTime
// has exited: no such pid, a different process under that pid, or a
// zombie (thorp is not our child, so we cannot reap it; its parent may be
// slow to).
func processGone(pid int, startTime uint64) bool {
	st, err := proc.ReadStat("/proc", pid)
	if err != nil {
		return true
	}
	return st.StartTime != startTime || st.State == 'Z' || st.State == 'X'
}

// exitWatch reports the exit of a process that need not be our child,
// without polling: its pidfd becomes readable when it exits (a zombie
// counts). One goroutine waits in poll(2); Close wakes and waits for it.
type exitWatch struct {
	done   chan struct{} // closed when the process has exited
	ended  chan struct{} // closed when the goroutine has returned
	pidfd  int
	wakeR  int
	wakeW  int
	closed bool
}

// watchExit watches pid, which started at startTime (so a reused pid is
// not mistaken for it). Call Close when done.
func watchExit(pid int, startTime uint64) (*exitWatch, error) {
	w := &exitWatch{done: make(chan struct{}), ended: make(chan struct{}), pidfd: -1, wakeR: -1, wakeW: -1}
	fd, err := unix.PidfdOpen(pid, 0)
	if err != nil || processGone(pid, startTime) {
		if err == nil {
			unix.Close(fd)
		} else if !errors.Is(err, unix.ESRCH) {
			return nil, fmt.Errorf("watch pid %d: %w", pid, err)
		}
		close(w.done)
		close(w.ended)
		return w, nil
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("watch pid %d: %w", pid, err)
	}
	w.pidfd, w.wakeR, w.wakeW = fd, p[0], p[1]
	go w.wait()
	return w, nil
}

// wait blocks in poll until the process exits or Close writes to the pipe.
func (w *exitWatch) wait() {
	defer close(w.ended)
	fds := []unix.PollFd{{Fd: int32(w.pidfd), Events: unix.POLLIN}, {Fd: int32(w.wakeR), Events: unix.POLLIN}}
	for {
		_, err := unix.Poll(fds, -1)
		if err == unix.EINTR {
			continue
		}
		if err == nil && fds[0].Revents != 0 {
			close(w.done)
		}
		return
	}
}

// Done is closed when the process has exited.
func (w *exitWatch) Done() <-chan struct{} { return w.done }

// Close stops the watch and waits for its goroutine. Not safe for
// concurrent use; safe twice.
func (w *exitWatch) Close() {
	if w.closed || w.pidfd < 0 {
		return
	}
	w.closed = true
	_, _ = unix.Write(w.wakeW, []byte{0})
	<-w.ended
	unix.Close(w.pidfd)
	unix.Close(w.wakeR)
	unix.Close(w.wakeW)
}

// systemdUnitOf returns the system service unit that started pid as its
// notify-type main process, or "" otherwise. Being in a service's cgroup
// is not enough (a thorp that 'thorp up' started from a cron job sits in
// cron.service); systemd also gave it NOTIFY_SOCKET, which 'thorp up'
// never passes on.
func systemdUnitOf(pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return ""
	}
	unit := unitFromCgroup(string(b))
	if unit == "" {
		return ""
	}
	env, err := os.ReadFile(fmt.Sprintf("/proc/%d/environ", pid))
	if err != nil {
		return ""
	}
	for kv := range strings.SplitSeq(string(env), "\x00") {
		if strings.HasPrefix(kv, "NOTIFY_SOCKET=") {
			return unit
		}
	}
	return ""
}

// unitFromCgroup finds a system.slice service in the text of a
// /proc/PID/cgroup file: "0::/system.slice/thorp.service" (cgroup v2) or
// "1:name=systemd:/system.slice/thorp.service" (v1).
func unitFromCgroup(text string) string {
	for line := range strings.SplitSeq(text, "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		rest, ok := strings.CutPrefix(parts[2], "/system.slice/")
		if !ok {
			continue
		}
		unit, _, _ := strings.Cut(rest, "/")
		if strings.HasSuffix(unit, ".service") {
			return unit
		}
	}
	return ""
}
