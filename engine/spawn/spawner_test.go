package spawn

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// newSpawner is a Spawner closed when the test ends.
func newSpawner(t *testing.T) *Spawner {
	t.Helper()
	s := New()
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// sh is a Spec running script with /bin/sh in a temporary directory.
func sh(t *testing.T, script string) Spec {
	return Spec{Argv: []string{"/bin/sh", "-c", script}, Dir: t.TempDir(), Environ: os.Environ()}
}

// start spawns spec, drains its output, and returns its pid, its output
// (complete once exit is received from) and its exit.
func start(t *testing.T, s *Spawner, spec Spec) (int, func() string, <-chan Exit) {
	t.Helper()
	exit := make(chan Exit, 1)
	p, err := s.Spawn(spec, func(e Exit) { exit <- e })
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu  sync.Mutex
		out strings.Builder
		wg  sync.WaitGroup
	)
	wg.Add(2)
	for _, f := range []*os.File{p.Stdout, p.Stderr} {
		go func() {
			defer wg.Done()
			defer f.Close()
			b, _ := io.ReadAll(f)
			mu.Lock()
			out.Write(b) // the tests write to one stream only
			mu.Unlock()
		}()
	}
	return p.PID, func() string { wg.Wait(); return out.String() }, exit
}

func wait(t *testing.T, exit <-chan Exit) Exit {
	t.Helper()
	select {
	case e := <-exit:
		return e
	case <-time.After(10 * time.Second):
		t.Fatal("no exit reported within 10s")
		return Exit{}
	}
}

func TestSpawner_Spawn_ReportsExitCodeAndSignal(t *testing.T) {
	s := newSpawner(t)
	pid, _, exit := start(t, s, sh(t, "exit 3"))
	if e := wait(t, exit); e.PID != pid || e.Code != 3 || e.Signal != 0 {
		t.Fatalf("exit %+v, want pid %d code 3", e, pid)
	}
	_, _, exit = start(t, s, sh(t, "kill -TERM $$"))
	if e := wait(t, exit); e.Code != -1 || e.Signal != syscall.SIGTERM {
		t.Fatalf("exit %+v, want SIGTERM", e)
	}
}

func TestSpawner_Spawn_PipesOutputAndBuildsEnv(t *testing.T) {
	s := newSpawner(t)
	spec := sh(t, `echo "$A $B $C $NOTIFY_SOCKET"; pwd`)
	spec.Environ = []string{"PATH=/usr/bin:/bin", "A=base", "B=base", "NOTIFY_SOCKET=/run/thorps"}
	spec.Env = map[string]string{"B": "own"}
	spec.Extra = []string{"C=extra"}
	_, out, exit := start(t, s, spec)
	wait(t, exit)
	if got, want := out(), "base own extra \n"+spec.Dir+"\n"; got != want {
		t.Fatalf("output %q, want %q", got, want)
	}
}

func TestSpawner_Spawn_ResolvesCommandInChildPATH(t *testing.T) {
	s := newSpawner(t)
	dir := t.TempDir()
	if err := os.WriteFile(dir+"/hello-thorp", []byte("#!/bin/sh\necho hi\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Argv: []string{"hello-thorp"}, Dir: t.TempDir(), Environ: []string{"PATH=/nonexistent"}, Env: map[string]string{"PATH": dir}}
	_, out, exit := start(t, s, spec)
	wait(t, exit)
	if got := out(); got != "hi\n" {
		t.Fatalf("output %q", got)
	}
	spec.Env = nil
	if _, err := s.Spawn(spec, func(Exit) {}); err == nil || !strings.Contains(err.Error(), "not found in PATH (/nonexistent)") {
		t.Fatalf("err %v, want not found in the inherited PATH", err)
	}
}

// TestSpawner_Spawn_Credentials: as root a child runs as its user; as
// anyone else asking for a user is refused with advice.
func TestSpawner_Spawn_Credentials(t *testing.T) {
	s := newSpawner(t)
	spec := sh(t, "id -u")
	spec.User = "nobody"
	spec.Dir = "/"
	if os.Geteuid() != 0 {
		if _, err := s.Spawn(spec, func(Exit) {}); err == nil || !strings.Contains(err.Error(), "not running as root") {
			t.Fatalf("err %v, want a refusal without root", err)
		}
		return
	}
	_, out, exit := start(t, s, spec)
	wait(t, exit)
	if got := out(); got != "65534\n" {
		t.Fatalf("child runs as uid %q, want nobody's 65534", got)
	}
}

// TestSpawner_ReapsOrphans: a child leaves a grandchild in its own process
// group and exits; the grandchild re-parents to this process (a subreaper)
// and must be reaped when it exits, the child's own code being reported.
func TestSpawner_ReapsOrphans(t *testing.T) {
	s := newSpawner(t)
	_, out, exit := start(t, s, sh(t, "(sleep 0.2; exit 5) >/dev/null 2>&1 & echo $!; exit 3"))
	if e := wait(t, exit); e.Code != 3 {
		t.Fatalf("exit %+v, want code 3", e)
	}
	orphan, err := strconv.Atoi(strings.TrimSpace(out()))
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", orphan)); os.IsNotExist(err) {
			return // reaped: not even a zombie is left
		}
		if time.Now().After(deadline) {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", orphan))
			t.Fatalf("orphan %d not reaped: %s", orphan, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// churn spawns children that exit at once until stop is closed, so the
// reaper sees SIGCHLD all the time; it checks each reported exit code.
func churn(t *testing.T, s *Spawner, code int, stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; i < 1000; i++ {
			select {
			case <-stop:
				return
			default:
			}
			exit := make(chan Exit, 1)
			p, err := s.Spawn(sh(t, "exit "+strconv.Itoa(code)), func(e Exit) { exit <- e })
			if err != nil {
				t.Error(err)
				return
			}
			p.Stdout.Close()
			p.Stderr.Close()
			select {
			case e := <-exit:
				if e.Code != code {
					t.Errorf("spawner's child exited %+v, want code %d", e, code)
					return
				}
			case <-time.After(10 * time.Second):
				t.Error("a spawner's child exit was lost")
				return
			}
		}
	}()
	return &wg
}

// TestSpawner_LeavesOtherChildrenToTheirOwnWait: a program that runs a
// Spawner may still start children with os/exec; the reaper, busy with
// children that exit all the time, must not take their exit statuses.
func TestSpawner_LeavesOtherChildrenToTheirOwnWait(t *testing.T) {
	s := newSpawner(t)
	stop := make(chan struct{})
	wg := churn(t, s, 1, stop)
	defer wg.Wait()
	defer close(stop)
	for i := 0; i < 30; i++ {
		err := exec.Command("/bin/sh", "-c", "exit 7").Run()
		var ee *exec.ExitError
		if !errors.As(err, &ee) || ee.ExitCode() != 7 {
			t.Fatalf("run %d: got %v, want exit status 7 (the reaper took it?)", i, err)
		}
	}
}

// TestSpawner_SpawnersKeepTheirOwnChildren: two open Spawners see every
// SIGCHLD; neither may take the other's children for orphans.
func TestSpawner_SpawnersKeepTheirOwnChildren(t *testing.T) {
	a, b := newSpawner(t), newSpawner(t)
	stop := make(chan struct{})
	wa, wb := churn(t, a, 4, stop), churn(t, b, 6, stop)
	time.AfterFunc(time.Second, func() { close(stop) })
	wa.Wait()
	wb.Wait()
}

// TestSpawner_ChildrenLiveUntilClose: the spawn thread outlives the
// runtime retiring other threads, so children keep running; when Close ends
// the thread, their parent-death signal fires.
func TestSpawner_ChildrenLiveUntilClose(t *testing.T) {
	s := New()
	defer s.Close()
	pid, _, exit := start(t, s, sh(t, "exec sleep 30"))
	// Goroutines that exit locked take their threads with them.
	var wg sync.WaitGroup
	for i := 0; i < 20; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			runtime.LockOSThread()
		}()
	}
	wg.Wait()
	select {
	case e := <-exit:
		t.Fatalf("child %d died with the runtime's threads: %+v", pid, e)
	case <-time.After(100 * time.Millisecond):
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	// Close stopped the reaper: reap the child here.
	var ws syscall.WaitStatus
	if _, err := syscall.Wait4(pid, &ws, 0, nil); err != nil {
		t.Fatal(err)
	}
	if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("child ended %v, want SIGKILL (its parent-death signal)", ws)
	}
}

// spawnerGoroutines are the goroutines running the Spawner's own code.
func spawnerGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var out []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		if strings.Contains(g, "spawn.(*Spawner).thread") || strings.Contains(g, "spawn.(*Spawner).reaper") {
			out = append(out, g)
		}
	}
	return out
}

// waitGoroutines waits until the Spawner goroutines running number n
// pass ok, at most 2 s.
func waitGoroutines(t *testing.T, what string, ok func(n int) bool) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for g := spawnerGoroutines(); !ok(len(g)); g = spawnerGoroutines() {
		if time.Now().After(deadline) {
			t.Fatalf("%s; running:\n%s", what, strings.Join(g, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSpawner_Close_StopsItsGoroutines(t *testing.T) {
	s := New()
	waitGoroutines(t, "the thread and the reaper are not found in the stacks", func(n int) bool { return n == 2 })
	_, out, exit := start(t, s, sh(t, "echo hi"))
	wait(t, exit)
	out()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	waitGoroutines(t, "still running after Close", func(n int) bool { return n == 0 })
	if _, err := s.Spawn(sh(t, "exit 0"), func(Exit) {}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Spawn after Close: %v, want ErrClosed", err)
	}
}
