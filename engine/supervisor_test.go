package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/proc"
	"github.com/thorp-dev/thorp/policies"
)

// testComponent is a component running sh -c script with quick defaults.
func testComponent(t *testing.T, name, script string, mod func(*config.Component)) config.Component {
	t.Helper()
	c := config.DefaultComponent()
	c.Name = name
	c.Command = config.Command{Argv: []string{"/bin/sh", "-c", script}, Shell: true}
	c.Cwd = t.TempDir()
	c.Logs = config.Defaults().Logs
	c.Logs.Dir = filepath.Join(c.Cwd, "logs")
	c.RestartDelay = 0
	c.KillTimeout = 2 * time.Second
	if mod != nil {
		mod(&c)
	}
	return c
}

// testConfig is a config for comps with every path in a temporary directory.
func testConfig(t testing.TB, comps ...config.Component) *config.Config {
	dir := t.TempDir()
	st := config.Defaults()
	st.Control = filepath.Join(dir, ".thorp", "thorp.sock")
	st.State = filepath.Join(dir, ".thorp", "state.json")
	st.Logs.Dir = filepath.Join(dir, "logs")
	return &config.Config{File: filepath.Join(dir, "thorp.lua"), Dir: dir, Settings: st, Components: comps}
}

// startSupervisor runs a Supervisor for comps until the test ends.
func startSupervisor(t testing.TB, comps ...config.Component) *Supervisor {
	t.Helper()
	return startSupervisorWith(t, Options{}, comps...)
}

// startSupervisorWith runs a Supervisor with opts for comps until the test ends.
func startSupervisorWith(t testing.TB, opts Options, comps ...config.Component) *Supervisor {
	t.Helper()
	s, err := New(testConfig(t, comps...), opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = s.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if err := s.Close(); err != nil {
				t.Error(err)
			}
			checkNoEngineGoroutines(t)
		case <-time.After(15 * time.Second):
			t.Error("supervisor did not shut down within 15s")
		}
	})
	<-s.Started()
	return s
}

// waitEvents waits until cond holds for the events recorded so far.
func waitEvents(t *testing.T, s *Supervisor, timeout time.Duration, what string, cond func([]Event) bool) []Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		ch := s.WaitEvent()
		evs := s.Events(0, "", time.Time{})
		if cond(evs) {
			return evs
		}
		select {
		case <-ch:
		case <-deadline:
			t.Fatalf("timed out after %s waiting for %s; events:\n%s", timeout, what, dumpEvents(evs))
		}
	}
}

func dumpEvents(evs []Event) string {
	var b strings.Builder
	for _, e := range evs {
		code := ""
		if e.Code != nil {
			code = fmt.Sprintf(" code=%d", *e.Code)
		}
		fmt.Fprintf(&b, "  %s %s/%d %s state=%s pid=%d reason=%s%s %s\n", e.Time.Format("15:04:05.000"), e.Component, e.Instance, e.Type, e.State, e.PID, e.Reason, code, e.Message)
	}
	return b.String()
}

func count(evs []Event, component, typ string) int {
	n := 0
	for _, e := range evs {
		if e.Component == component && e.Type == typ {
			n++
		}
	}
	return n
}

func pidsOf(evs []Event, component, typ string) []int {
	var out []int
	for _, e := range evs {
		if e.Component == component && e.Type == typ {
			out = append(out, e.PID)
		}
	}
	return out
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	if err != nil {
		return false
	}
	// A zombie is not alive for our purposes.
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

func statusOf(t *testing.T, s *Supervisor, name string) Status {
	t.Helper()
	for _, st := range s.Status() {
		if st.Name == name {
			return st
		}
	}
	t.Fatalf("no component %q", name)
	return Status{}
}

func TestSupervisor_CrashRestartsWithNewPID(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "crashy", "sleep 0.05; exit 3", func(c *config.Component) {
		c.MinUptime = 0
	}))
	evs := waitEvents(t, s, 10*time.Second, "three spawns", func(evs []Event) bool { return count(evs, "crashy", EventSpawn) >= 3 })
	pids := pidsOf(evs, "crashy", EventSpawn)
	if pids[0] == pids[1] || pids[1] == pids[2] {
		t.Fatalf("restart reused a pid: %v", pids)
	}
	for _, e := range evs {
		if e.Type == EventExit && (e.Code == nil || *e.Code != 3) {
			t.Fatalf("exit event without code 3: %+v", e)
		}
	}
	st := statusOf(t, s, "crashy")
	if st.RestartsByReason["crash"] < 2 {
		t.Fatalf("restarts_by_reason = %v, want crash >= 2", st.RestartsByReason)
	}
	if st.LastExit == nil || st.LastExit.Code != 3 {
		t.Fatalf("last_exit = %+v, want code 3", st.LastExit)
	}
}

func TestSupervisor_NeverKeepsExitCode(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "once", "exit 7", func(c *config.Component) {
		c.Autorestart = config.AutorestartNever
	}))
	waitEvents(t, s, 10*time.Second, "stopped", func(evs []Event) bool { return count(evs, "once", EventStopped) >= 1 })
	st := statusOf(t, s, "once")
	if st.State != StateStopped || st.LastExit == nil || st.LastExit.Code != 7 {
		t.Fatalf("state %s last_exit %+v; want stopped with code 7", st.State, st.LastExit)
	}
	if n := count(s.Events(0, "", time.Time{}), "once", EventSpawn); n != 1 {
		t.Fatalf("spawned %d times, want 1", n)
	}
}

func TestSupervisor_ShortRunsEndErrored(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "flappy", "exit 1", func(c *config.Component) {
		c.MinUptime = 10 * time.Second
		c.MaxRestarts = 3
		c.RestartDelay = 10 * time.Millisecond
		c.ExpBackoffMax = 40 * time.Millisecond
		c.RetryErroredAfter = 0
	}))
	waitEvents(t, s, 10*time.Second, "errored", func(evs []Event) bool { return count(evs, "flappy", EventErrored) >= 1 })
	evs := s.Events(0, "", time.Time{})
	if n := count(evs, "flappy", EventSpawn); n != 3 {
		t.Fatalf("spawned %d times before errored, want 3 (max_restarts)\n%s", n, dumpEvents(evs))
	}
	if st := statusOf(t, s, "flappy"); st.State != StateErrored || st.Healthy {
		t.Fatalf("state %s healthy %v, want errored and unhealthy", st.State, st.Healthy)
	}
}

func TestSupervisor_StopKillsWhatIgnoresSIGTERM(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "stubborn", "trap '' TERM; echo ready; while :; do sleep 0.05; done", func(c *config.Component) {
		c.KillTimeout = 300 * time.Millisecond
	}))
	evs := waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "stubborn", EventRunning) >= 1 })
	pid := pidsOf(evs, "stubborn", EventRunning)[0]
	// Let the shell install its trap before the stop signal.
	waitLog(t, filepath.Join(s.cfg.Components[0].Logs.Dir, "stubborn-out.log"), "ready")
	start := time.Now()
	if err := s.Stop(context.Background(), []string{"stubborn"}, true); err != nil {
		t.Fatal(err)
	}
	took := time.Since(start)
	// README: a component that ignores SIGTERM is gone within kill_timeout
	// + 100 ms.
	if took > 300*time.Millisecond+100*time.Millisecond {
		t.Fatalf("stop took %s, want <= kill_timeout + 100ms", took)
	}
	if took < 250*time.Millisecond {
		t.Fatalf("stop took %s: SIGKILL came before kill_timeout", took)
	}
	if alive(pid) || proc.GroupAlive(pid) {
		t.Fatalf("process group %d still alive after stop", pid)
	}
	if n := count(s.Events(0, "", time.Time{}), "stubborn", EventKill); n != 1 {
		t.Fatalf("%d kill events, want 1", n)
	}
}

func waitLog(t *testing.T, path, want string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		b, _ := os.ReadFile(path)
		if strings.Contains(string(b), want) {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	b, _ := os.ReadFile(path)
	t.Fatalf("%s never contained %q; it has:\n%s", path, want, b)
}

func TestSupervisor_StopKillsGrandchildren(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "family", "sleep 100 & echo $!; sleep 100 & echo $!; wait", nil))
	path := filepath.Join(s.cfg.Components[0].Logs.Dir, "family-out.log")
	var kids []int
	deadline := time.Now().Add(10 * time.Second)
	for len(kids) < 2 && time.Now().Before(deadline) {
		kids = kids[:0]
		b, _ := os.ReadFile(path)
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				kids = append(kids, n)
			}
		}
		time.Sleep(10 * time.Millisecond)
	}
	if len(kids) < 2 {
		t.Fatalf("grandchildren never reported their pids")
	}
	if err := s.Stop(context.Background(), []string{"family"}, true); err != nil {
		t.Fatal(err)
	}
	for _, k := range kids {
		if alive(k) {
			t.Fatalf("grandchild %d survived the stop", k)
		}
	}
}

func TestSupervisor_MainExitStopsGroupBeforeRestart(t *testing.T) {
	// The main process leaves a grandchild behind and exits: the grandchild
	// must be gone before the next run starts.
	s := startSupervisor(t, testComponent(t, "leaky", "sleep 100 & echo $! >> kids; sleep 0.1; exit 1", func(c *config.Component) {
		c.MinUptime = 0
		c.KillTimeout = time.Second
	}))
	evs := waitEvents(t, s, 10*time.Second, "second spawn", func(evs []Event) bool { return count(evs, "leaky", EventSpawn) >= 2 })
	_ = evs
	b, _ := os.ReadFile(filepath.Join(s.cfg.Components[0].Cwd, "kids"))
	first, err := strconv.Atoi(strings.Fields(string(b))[0])
	if err != nil {
		t.Fatalf("kids file: %q", b)
	}
	if alive(first) {
		t.Fatalf("grandchild %d of the first run still alive when the second run started", first)
	}
}

func TestSupervisor_DependencyOrder(t *testing.T) {
	s := startSupervisor(t,
		testComponent(t, "api", "exec sleep 100", func(c *config.Component) { c.DependsOn = []string{"db"} }),
		testComponent(t, "db", "exec sleep 100", nil),
	)
	evs := waitEvents(t, s, 10*time.Second, "both running", func(evs []Event) bool {
		return count(evs, "api", EventRunning) >= 1 && count(evs, "db", EventRunning) >= 1
	})
	idx := func(comp, typ string) int {
		for i, e := range evs {
			if e.Component == comp && e.Type == typ {
				return i
			}
		}
		return -1
	}
	if idx("db", EventRunning) > idx("api", EventSpawn) {
		t.Fatalf("api spawned before db was running:\n%s", dumpEvents(evs))
	}
	// Shutdown order: api has fully stopped before db gets its signal.
	seq := s.Events(0, "", time.Time{})[len(evs)-1].Seq
	done := make(chan error)
	go func() { s.shutdown(); done <- nil }()
	<-done
	after := s.Events(seq, "", time.Time{})
	apiStopped, dbStopping := -1, -1
	for i, e := range after {
		if e.Component == "api" && e.Type == EventStopped && apiStopped < 0 {
			apiStopped = i
		}
		if e.Component == "db" && e.Type == EventStopping && dbStopping < 0 {
			dbStopping = i
		}
	}
	if apiStopped < 0 || dbStopping < 0 || apiStopped > dbStopping {
		t.Fatalf("api must be stopped before db is signalled:\n%s", dumpEvents(after))
	}
}

func TestSupervisor_StartStopRestartWait(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "svc", "exec sleep 100", nil))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "svc", EventRunning) >= 1 })
	old := statusOf(t, s, "svc").PID
	if err := s.Restart(context.Background(), []string{"svc"}, "manual", true); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, s, "svc")
	if st.State != StateRunning || st.PID == old || st.PID == 0 {
		t.Fatalf("after restart: state %s pid %d (old %d)", st.State, st.PID, old)
	}
	if alive(old) {
		t.Fatalf("old pid %d alive after restart", old)
	}
	if st.RestartsByReason["manual"] != 1 {
		t.Fatalf("restarts_by_reason %v, want manual 1", st.RestartsByReason)
	}
	if err := s.Stop(context.Background(), []string{"all"}, true); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "svc"); st.State != StateStopped || st.PID != 0 {
		t.Fatalf("after stop: %s pid %d", st.State, st.PID)
	}
	if err := s.Start(context.Background(), []string{"svc"}, true); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "svc"); st.State != StateRunning {
		t.Fatalf("after start: %s", st.State)
	}
	if err := s.Start(context.Background(), []string{"nope"}, true); err == nil {
		t.Fatal("start of an unknown component succeeded")
	}
}

func TestSupervisor_RestartWhy_IsTheEventsDetail(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "svc", "exec sleep 100", nil))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "svc", EventRunning) >= 1 })
	if err := s.RestartWhy(context.Background(), []string{"svc"}, policies.ReasonManual, "crash of web", true); err != nil {
		t.Fatal(err)
	}
	var msgs []string
	for _, ev := range s.Events(0, "svc", time.Time{}) {
		if ev.Type == EventRestart {
			msgs = append(msgs, string(ev.Reason)+": "+ev.Message)
		}
	}
	if want := []string{"manual: restart requested (manual): crash of web"}; !slices.Equal(msgs, want) {
		t.Errorf("restart events %q, want %q", msgs, want)
	}
	if err := s.RestartWhy(context.Background(), []string{"nope"}, policies.ReasonManual, "x", false); !errors.Is(err, ErrUnknownComponent) {
		t.Errorf("restart of an unknown name: %v", err)
	}
}

func TestSupervisor_StartFailureIsReported(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "missing", "", func(c *config.Component) {
		c.Command = config.Command{Argv: []string{"/nonexistent/thorp-test-binary"}}
		c.MaxRestarts = 2
		c.RestartDelay = 10 * time.Millisecond
	}))
	waitEvents(t, s, 10*time.Second, "errored", func(evs []Event) bool { return count(evs, "missing", EventErrored) >= 1 })
	st := statusOf(t, s, "missing")
	if !strings.Contains(st.Message, "nonexistent") {
		t.Fatalf("message %q does not name the missing command", st.Message)
	}
}

func TestSupervisor_LogsBothStreams(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "talker", "echo to-out; echo to-err >&2; exec sleep 100", nil))
	dir := s.cfg.Components[0].Logs.Dir
	waitLog(t, filepath.Join(dir, "talker-out.log"), "to-out")
	waitLog(t, filepath.Join(dir, "talker-error.log"), "to-err")
}

func TestSupervisor_DropsPrivileges(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("dropping privileges needs root: skipped on a non-root developer machine; CI runs it as root")
	}
	s := startSupervisor(t, testComponent(t, "unpriv", "echo uid=$(id -u) gid=$(id -g); exec sleep 100", func(c *config.Component) {
		c.User = "nobody"
		// nobody must be able to enter its working directory.
		for d := c.Cwd; d != "/"; d = filepath.Dir(d) {
			_ = os.Chmod(d, 0o755)
		}
	}))
	path := filepath.Join(s.cfg.Components[0].Logs.Dir, "unpriv-out.log")
	waitLog(t, path, "uid=65534")
	if st := statusOf(t, s, "unpriv"); st.State != StateRunning {
		t.Fatalf("state %s: %s", st.State, st.Message)
	}
}

func TestSupervisor_StartDuringStopStartsAgain(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "slow", "trap 'sleep 0.2; exit 0' TERM; echo ready; while :; do sleep 0.05; done", nil))
	waitLog(t, filepath.Join(s.cfg.Components[0].Logs.Dir, "slow-out.log"), "ready")
	old := statusOf(t, s, "slow").PID
	if err := s.Stop(context.Background(), []string{"slow"}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background(), []string{"slow"}, true); err != nil {
		t.Fatalf("start during a stop: %v", err)
	}
	st := statusOf(t, s, "slow")
	if st.State != StateRunning || st.PID == old {
		t.Fatalf("after stop+start: %s pid %d (old %d)", st.State, st.PID, old)
	}
}

// TestSupervisor_ReapsOrphansWithoutStealingExits: the main process leaves
// a grandchild and exits 3 at once; the grandchild re-parents to this
// process (the subreaper) and exits later. The main's exit code must be
// the one recorded, and no zombie may be left behind.
func TestSupervisor_ReapsOrphansWithoutStealingExits(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "daemonish", "(sleep 0.3; exit 5) & echo $! > orphan; exit 3", func(c *config.Component) {
		c.Autorestart = config.AutorestartNever
		c.KillTimeout = 5 * time.Second
	}))
	// The orphan is still in the group, so it gets the stop sequence once
	// the main has exited; whether it ends by SIGTERM or by itself, the
	// main's code must be 3 and the orphan must be reaped.
	waitEvents(t, s, 10*time.Second, "stopped", func(evs []Event) bool { return count(evs, "daemonish", EventStopped) >= 1 })
	st := statusOf(t, s, "daemonish")
	if st.LastExit == nil || st.LastExit.Code != 3 {
		t.Fatalf("last exit %+v, want code 3 (an orphan's status was taken for the main's)", st.LastExit)
	}
	b, _ := os.ReadFile(filepath.Join(s.cfg.Components[0].Cwd, "orphan"))
	orphan, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := os.Stat(fmt.Sprintf("/proc/%d", orphan))
		if orphan > 0 && os.IsNotExist(err) {
			return // reaped: not even a zombie is left
		}
		if time.Now().After(deadline) {
			stat, _ := os.ReadFile(fmt.Sprintf("/proc/%d/stat", orphan))
			t.Fatalf("orphan %d not reaped: %s", orphan, stat)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSupervisor_UptimeAdvancesWithoutEvents(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "steady", "exec sleep 100", nil))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "steady", EventRunning) >= 1 })
	first := statusOf(t, s, "steady").UptimeSeconds
	deadline := time.Now().Add(5 * time.Second)
	for statusOf(t, s, "steady").UptimeSeconds < first+0.2 {
		if time.Now().After(deadline) {
			t.Fatalf("uptime stuck at %.3fs", statusOf(t, s, "steady").UptimeSeconds)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSupervisor_LastWordsReachTheLogAtShutdown(t *testing.T) {
	comp := testComponent(t, "polite", "trap 'echo goodbye from $$; exit 0' TERM; echo hello; while :; do sleep 0.05; done", nil)
	s, err := New(testConfig(t, comp), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	<-s.Started()
	path := comp.OutLog()
	waitLog(t, path, "hello")
	cancel()
	<-done
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "goodbye from") {
		t.Fatalf("the line written while stopping was lost at shutdown:\n%s", b)
	}
}

// With {instance} in log_file each instance writes a file of its own, one
// added by scale too; the error file without it stays shared; status lists
// every file and Rotate reaches each.
func TestSupervisor_PerInstanceLogFile(t *testing.T) {
	var dir string
	s := startSupervisor(t, testComponent(t, "api", "echo out-$THORP_INSTANCE; echo err-$THORP_INSTANCE >&2; exec sleep 100", func(c *config.Component) {
		c.Instances = 2
		dir = c.Logs.Dir
		c.LogFile = filepath.Join(dir, "api-{instance}.log")
		c.Logs.Compress = false // a backup being compressed is two files for a moment
	}))
	for i := range 2 {
		waitLog(t, filepath.Join(dir, fmt.Sprintf("api-%d.log", i)), fmt.Sprintf("out-%d", i))
	}
	waitLog(t, filepath.Join(dir, "api-error.log"), "err-1")
	waitLog(t, filepath.Join(dir, "api-error.log"), "err-0")
	if err := s.Scale(context.Background(), "api", 3, true); err != nil {
		t.Fatal(err)
	}
	waitLog(t, filepath.Join(dir, "api-2.log"), "out-2")
	for i := range 3 {
		b, _ := os.ReadFile(filepath.Join(dir, fmt.Sprintf("api-%d.log", i)))
		if strings.Count(string(b), "out-") != 1 {
			t.Errorf("api-%d.log has %q; want its instance's line alone", i, b)
		}
	}
	var paths []string
	for _, l := range statusOf(t, s, "api").Logs {
		paths = append(paths, l.Stream+" "+filepath.Base(l.Path))
	}
	if want := []string{"out api-0.log", "err api-error.log", "out api-1.log", "out api-2.log"}; !slices.Equal(paths, want) {
		t.Errorf("status logs %v, want %v", paths, want)
	}
	if err := s.Rotate(nil); err != nil {
		t.Fatal(err)
	}
	for i := range 3 { // backups are api-<i>-<time>.log
		if got, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("api-%d-*.log*", i))); len(got) != 1 {
			t.Errorf("instance %d: backups %v after Rotate, want one", i, got)
		}
	}
	// A reload that moves the files restarts the instances into new ones.
	cc := s.Config().Components[0]
	cc.LogFile = filepath.Join(dir, "moved-{instance}.log")
	if rep, err := s.Reload(context.Background(), testConfig(t, cc)); err != nil || !slices.Equal(rep.Restarted, []string{"api"}) {
		t.Fatalf("reload: %+v, %v; want api restarted", rep, err)
	}
	for i := range 3 {
		waitLog(t, filepath.Join(dir, fmt.Sprintf("moved-%d.log", i)), fmt.Sprintf("out-%d", i))
	}
}

func TestSupervisor_CrashRestartEventNamesTheExit(t *testing.T) {
	crash := testComponent(t, "crash", "exit 3", func(c *config.Component) { c.MaxRestarts = 0 })
	s := startSupervisor(t, crash)
	var exit, restart Event
	waitEvents(t, s, 10*time.Second, "a crash restart", func(evs []Event) bool {
		for _, ev := range evs {
			switch {
			case ev.Component != "crash":
			case ev.Type == EventExit && exit.PID == 0:
				exit = ev
			case ev.Type == EventRestart && exit.PID != 0:
				restart = ev
				return true
			}
		}
		return false
	})
	if restart.Reason != policies.ReasonCrash || restart.PID != exit.PID || restart.Code == nil || *restart.Code != 3 {
		t.Errorf("restart event %+v (code %v), want reason crash, the exit's pid %d and code 3", restart, restart.Code, exit.PID)
	}
}
