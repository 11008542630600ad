package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/proc"
)

// pid1Thorp is a `thorp run` started as PID 1 of a new PID namespace, as
// a container's entrypoint is: the namespace's orphans re-parent to it and
// the kernel ignores the signals it installs no handler for.
type pid1Thorp struct {
	cmd            *exec.Cmd
	cfg            string
	stdout, stderr *syncBuffer
	done           chan error
	ns             string // the namespace, as /proc/PID/ns/pid reads
}

// startPID1 starts `thorp run -c cfg` as PID 1 of a new PID namespace with
// a private /proc (the namespace's own, so thorp reads its children
// there), and waits until its control socket answers. Only root can;
// others skip.
func startPID1(t testing.TB, cfg string) *pid1Thorp {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("running thorp as PID 1 of a new PID namespace needs root (CLONE_NEWPID, mounting /proc); CI runs as root")
	}
	// The shell is PID 1 for the two mounts, then execs thorp: the mount
	// namespace is made private first so that the new /proc does not
	// reach the host's.
	script := `mount --make-rprivate / && mount -t proc proc /proc && exec "$0" run -c "$1"`
	cmd := exec.Command("/bin/sh", "-c", script, thorpBin, cfg)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID | syscall.CLONE_NEWNS, Pdeathsig: syscall.SIGKILL}
	r := &pid1Thorp{cmd: cmd, cfg: cfg, stdout: &syncBuffer{}, stderr: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = r.stdout, r.stderr
	// The parent-death signal follows the thread that forks: fork from a
	// goroutine locked to its thread for the child's life, so that the
	// runtime never retires that thread under a running thorp.
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with the goroutine, after thorp
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		r.done <- cmd.Wait()
	}()
	if err := <-started; err != nil {
		t.Fatalf("start thorp in a new PID namespace: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGKILL) // PID 1 dies: the kernel kills the namespace
		<-r.done
		r.done <- nil
	})
	deadline := time.Now().Add(30 * time.Second)
	for {
		if _, _, code := thorpCmd(t, "status", "-c", cfg); code == 0 {
			break
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("thorp as PID 1 exited early (%v):\n%s%s", err, r.stdout, r.stderr)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("thorp as PID 1 never answered on its control socket:\n%s%s", r.stdout, r.stderr)
		}
		time.Sleep(20 * time.Millisecond)
	}
	ns, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/pid", cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	r.ns = ns
	if nspid := nsPID(t, cmd.Process.Pid); nspid != 1 {
		t.Fatalf("thorp is pid %d in its namespace, want 1", nspid)
	}
	return r
}

// nsPID is pid's number in its own PID namespace (the last NSpid field).
func nsPID(t testing.TB, pid int) int {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f, ok := strings.CutPrefix(line, "NSpid:"); ok {
			fs := strings.Fields(f)
			n, _ := strconv.Atoi(fs[len(fs)-1])
			return n
		}
	}
	t.Fatalf("no NSpid in /proc/%d/status", pid)
	return 0
}

// processes lists the processes of r's namespace other than thorp, as the
// host's /proc shows them (host pids).
func (r *pid1Thorp) processes() []proc.Stat {
	tab, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []proc.Stat
	for _, e := range tab {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == r.cmd.Process.Pid {
			continue
		}
		if ns, err := os.Readlink("/proc/" + e.Name() + "/ns/pid"); err != nil || ns != r.ns {
			continue
		}
		if st, err := proc.ReadStat("/proc", pid); err == nil {
			out = append(out, st)
		}
	}
	return out
}

// count returns how many of r's namespace's processes match, live and
// zombies apart.
func (r *pid1Thorp) count(match func(proc.Stat) bool) (live, zombies int) {
	for _, st := range r.processes() {
		switch {
		case !match(st):
		case st.State == 'Z':
			zombies++
		default:
			live++
		}
	}
	return live, zombies
}

// exit waits (bounded) for thorp to exit and returns its exit code.
func (r *pid1Thorp) exit(t testing.TB, within time.Duration) int {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return r.cmd.ProcessState.ExitCode()
	case <-time.After(within):
		t.Fatalf("thorp as PID 1 still running %s later:\n%s%s", within, r.stdout, r.stderr)
		return -1
	}
}

// orphanConfig is a config whose component "forker" leaves 2×pairs
// orphaned grandchildren (cat processes reading the FIFO gate, half of
// them in a session of their own), then sleeps; "api" depends on "db",
// and both append their names to the file order when SIGTERM stops them
// ("api" keeps its lines off thorp's stdout: logs = { stdout = false }).
func orphanConfig(t testing.TB, pairs int, extra string) (cfg, gate string) {
	t.Helper()
	dir := t.TempDir()
	gate = filepath.Join(dir, "gate")
	if err := syscall.Mkfifo(gate, 0o600); err != nil {
		t.Fatal(err)
	}
	cfg = filepath.Join(dir, "thorp.lua")
	body := fmt.Sprintf(`
settings { http = "" %s }
component "db" { command = "echo db up; trap 'echo db bye >&2; echo db >> order; exit 0' TERM; sleep 100000 & wait" }
component "api" { command = "echo api up; trap 'echo api >> order; exit 0' TERM; sleep 100000 & wait", depends_on = { "db" }, logs = { stdout = false } }
component "forker" { command = [[
i=0
while [ $i -lt %d ]; do
  ( cat < gate > /dev/null & )
  ( setsid cat < gate > /dev/null & )
  i=$((i+1))
done
exec sleep 100000
]] }
`, extra, pairs)
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg, gate
}

// enteredOrphans is how many orphans orphansReaped adds from a process
// that enters the namespace from outside, as docker exec does: their
// process group, outside the namespace, reads as 0 there, as thorp's own
// does when whatever started it is outside too.
const enteredOrphans = 10

// orphansReaped holds the FIFO gate open while forker leaves its
// orphans and a process entering the namespace (nsenter) leaves
// enteredOrphans more, checks that every one re-parented to thorp, then
// releases them all at once (EOF) and waits until none is left, live or
// zombie. n counts forker's. It returns the zombies left at the deadline
// (0 when all were reaped) and how long reaping them took.
func orphansReaped(t testing.TB, r *pid1Thorp, gate string, n int) (int, time.Duration) {
	t.Helper()
	// Held open for writing, so each cat's open returns at once; closing
	// it is the EOF that ends them.
	w, err := os.OpenFile(gate, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	thorp := r.cmd.Process.Pid
	enter := exec.Command("nsenter", "-t", strconv.Itoa(thorp), "-p", "--", "/bin/sh", "-c",
		`i=0; while [ $i -lt $1 ]; do ( cat < "$0" > /dev/null 2>&1 & ); i=$((i+1)); done`, gate, strconv.Itoa(enteredOrphans))
	// No pipes: the orphans would hold them open.
	if err := enter.Run(); err != nil {
		t.Fatalf("nsenter: %v", err)
	}
	n += enteredOrphans
	isOrphan := func(st proc.Stat) bool { return st.Comm == "cat" && st.PPID == thorp }
	isCat := func(st proc.Stat) bool { return st.Comm == "cat" }
	deadline := time.Now().Add(60 * time.Second)
	for {
		if live, _ := r.count(isOrphan); live == n {
			break
		}
		if time.Now().After(deadline) {
			live, _ := r.count(isOrphan)
			all, zombies := r.count(isCat)
			t.Fatalf("%d of %d grandchildren orphaned to thorp within 60s (%d cat processes, %d zombies)", live, n, all, zombies)
		}
		time.Sleep(20 * time.Millisecond)
	}
	released := time.Now()
	w.Close()
	deadline = time.Now().Add(60 * time.Second)
	for {
		live, zombies := r.count(isCat)
		if live+zombies == 0 {
			return 0, time.Since(released)
		}
		if time.Now().After(deadline) {
			return zombies, time.Since(released)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestPID1_ReapsOrphansStopsInOrderExits0: thorp as PID 1 of a PID
// namespace reaps every orphaned grandchild a component leaves (double
// forks, some through setsid) and those of a process that entered the
// namespace from outside, leaves no zombie in the namespace, and at
// SIGTERM (and SIGINT, SIGQUIT) stops its components in reverse
// dependency order and exits 0. With settings.logs.stdout their lines
// reach thorp's stdout and stderr.
func TestPID1_ReapsOrphansStopsInOrderExits0(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT} {
		t.Run(unix.SignalName(sig), func(t *testing.T) {
			cfg, gate := orphanConfig(t, 50, ", logs = { stdout = true, timestamps = false }")
			r := startPID1(t, cfg)
			if zombies, _ := orphansReaped(t, r, gate, 100); zombies != 0 {
				t.Fatalf("%d zombies left in the namespace 60s after %d orphaned grandchildren exited", zombies, 100+enteredOrphans)
			}
			if _, zombies := r.count(func(proc.Stat) bool { return true }); zombies != 0 {
				t.Fatalf("%d zombies in the namespace", zombies)
			}
			_ = r.cmd.Process.Signal(sig)
			if code := r.exit(t, 30*time.Second); code != exitOK {
				t.Fatalf("exit code %d after %v, want 0:\n%s%s", code, sig, r.stdout, r.stderr)
			}
			order, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "order"))
			if string(order) != "api\ndb\n" {
				t.Fatalf("stop order %q, want api then db (reverse dependency order)", order)
			}
			// settings.logs.stdout: the components' lines on thorp's own
			// stdout and stderr, and thorp's log on stderr.
			if out := r.stdout.String(); !strings.Contains(out, "db.0 | db up\n") || strings.Contains(out, "api up") {
				t.Errorf("thorp's stdout lacks db's stdout line, or has api's (logs = { stdout = false }):\n%s", out)
			}
			if b, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "logs", "api-out.log")); !strings.Contains(string(b), "api up") {
				t.Errorf("api's log file lacks its line: %q", b)
			}
			if errs := r.stderr.String(); !strings.Contains(errs, "db.0 | db bye\n") || !strings.Contains(errs, "thorp | ") {
				t.Errorf("thorp's stderr lacks db's stderr line or thorp's own log:\n%s", errs)
			}
		})
	}
}

// TestPID1_CriticalErroredExits4: as PID 1, a critical component that
// ends errored stops every component in reverse dependency order and
// thorp exits 4; an errored component that is not critical does not stop
// thorp.
func TestPID1_CriticalErroredExits4(t *testing.T) {
	cfg, _ := orphanConfig(t, 0, "")
	dir := filepath.Dir(cfg)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	// "flaky" ends errored first and is not critical; "migrate" waits for
	// it to be errored (a file the test writes) and then crash-loops.
	fmt.Fprint(f, `
component "flaky" { command = "exit 3", max_restarts = 1, restart_delay = "0s" }
component "migrate" { command = "[ -e go ] || exec sleep 100000; exit 2", critical = true, max_restarts = 2, restart_delay = "0s", depends_on = { "db" } }
`)
	f.Close()
	r := startPID1(t, cfg)
	waitFor(t, 30*time.Second, "flaky errored", func() bool {
		for _, c := range status(t, cfg).Components {
			if c.Name == "flaky" {
				return c.State == "errored"
			}
		}
		return false
	})
	if st := status(t, cfg); len(st.Components) != 5 {
		t.Fatalf("thorp stopped when a component that is not critical ended errored: %+v", st)
	}
	for name, want := range map[string]bool{"migrate": true, "flaky": false} {
		out, errOut, code := thorpCmd(t, "describe", name, "-c", cfg)
		if code != exitOK || strings.Contains(out, "critical") != want {
			t.Errorf("describe %s (critical %v): exit %d\n%s%s", name, want, code, out, errOut)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, code := thorpCmd(t, "restart", "migrate", "--no-wait", "-c", cfg); code != exitOK {
		t.Fatalf("restart migrate: exit %d", code)
	}
	if code := r.exit(t, 30*time.Second); code != exitCritical {
		t.Fatalf("exit code %d after a critical component ended errored, want %d:\n%s%s", code, exitCritical, r.stdout, r.stderr)
	}
	if !strings.Contains(r.stderr.String(), `critical component "migrate" (instance 0) ended errored`) {
		t.Errorf("stderr does not say which critical component ended errored:\n%s", r.stderr)
	}
	order, _ := os.ReadFile(filepath.Join(dir, "order"))
	if string(order) != "api\ndb\n" {
		t.Fatalf("stop order %q, want api then db (reverse dependency order)", order)
	}
}

// syncBuffer is a bytes.Buffer safe for a process's output and a test's
// reads at once.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
