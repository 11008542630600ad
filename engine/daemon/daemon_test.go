package daemon

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
)

// component is a sh -c script with quick test defaults.
func component(t *testing.T, dir, name, script string) config.Component {
	t.Helper()
	c := config.DefaultComponent()
	c.Name = name
	c.Command = config.Command{Argv: []string{"/bin/sh", "-c", script}, Shell: true}
	c.Cwd = dir
	c.Logs = config.Defaults().Logs
	c.Logs.Dir = filepath.Join(dir, "logs")
	c.RestartDelay = 0
	c.KillTimeout = 2 * time.Second
	return c
}

// testConfig is a config for comps with every path under dir and the HTTP
// server on a free loopback port.
func testConfig(dir string, comps ...config.Component) *config.Config {
	st := config.Defaults()
	st.Control = filepath.Join(dir, ".thorp", "thorp.sock")
	st.State = filepath.Join(dir, ".thorp", "state.json")
	st.Logs.Dir = filepath.Join(dir, "logs")
	st.HTTP = "127.0.0.1:0"
	return &config.Config{File: filepath.Join(dir, "thorp.lua"), Dir: dir, Settings: st, Components: comps}
}

// fakeHooks records what the daemon asks of its hooks.
type fakeHooks struct {
	mu       sync.Mutex
	sets     []*config.Config
	reloads  int
	running  atomic.Bool
	ended    atomic.Bool
	received atomic.Int64
	reloaded chan struct{} // one value per reload
}

func (h *fakeHooks) Set(l Load) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sets = append(h.sets, l.Config)
}
func (h *fakeHooks) Handle(engine.Event) { h.received.Add(1) }
func (h *fakeHooks) Reloaded(engine.ReloadReport) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.reloads++
	h.reloaded <- struct{}{}
}
func (h *fakeHooks) Run(ctx context.Context) {
	h.running.Store(true)
	<-ctx.Done()
	h.ended.Store(true)
}

// fakeNotifier records the lifecycle calls.
type fakeNotifier struct {
	stopping, reloading, reloaded atomic.Int64
	ended                         atomic.Bool
}

func (n *fakeNotifier) Run(ctx context.Context, _ *engine.Supervisor) {
	<-ctx.Done()
	n.ended.Store(true)
}
func (n *fakeNotifier) Stopping()  { n.stopping.Add(1) }
func (n *fakeNotifier) Reloading() { n.reloading.Add(1) }
func (n *fakeNotifier) Reloaded()  { n.reloaded.Add(1) }

// running is a daemon whose Run goes on in the background.
type running struct {
	d      *Daemon
	hooks  *fakeHooks
	notify *fakeNotifier
	sigs   chan os.Signal
	cancel context.CancelFunc
	done   chan error
}

// startDaemon runs a daemon for cfg until the test ends, once every
// component runs; load serves reloads (nil: none).
func startDaemon(t *testing.T, cfg *config.Config, load Loader) *running {
	t.Helper()
	r := launchDaemon(t, cfg, load)
	waitState(t, r.d.Supervisor(), engine.StateRunning)
	return r
}

// launchDaemon runs a daemon for cfg until the test ends, without waiting
// for its components.
func launchDaemon(t *testing.T, cfg *config.Config, load Loader) *running {
	t.Helper()
	r := &running{hooks: &fakeHooks{reloaded: make(chan struct{}, 8)}, notify: &fakeNotifier{}, sigs: make(chan os.Signal, 4), done: make(chan error, 1)}
	d, err := New(Load{Config: cfg}, Options{Version: "test", Load: load, Hooks: r.hooks, Notifier: r.notify, Signals: r.sigs})
	if err != nil {
		t.Fatal(err)
	}
	r.d = d
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		_ = d.Close()
	})
	return r
}

// wait returns Run's result, failing after d.
func (r *running) wait(t *testing.T, d time.Duration) error {
	t.Helper()
	select {
	case err := <-r.done:
		r.done <- err
		return err
	case <-time.After(d):
		t.Fatalf("Run did not return within %v", d)
		return nil
	}
}

// waitState waits until every component of sup is in state.
func waitState(t *testing.T, sup *engine.Supervisor, state engine.State) {
	t.Helper()
	deadline := time.NewTimer(15 * time.Second)
	defer deadline.Stop()
	for {
		changed := sup.WaitEvent() // before the look, so no change is missed
		if !slices.ContainsFunc(sup.Status(), func(s engine.Status) bool { return s.State != state }) {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("components not %s within 15s: %+v", state, sup.Status())
		}
	}
}

// goroutinesBackTo waits (bounded) until at most n goroutines run.
func goroutinesBackTo(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines after Close, %d before Run:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		runtime.Gosched()
		time.Sleep(10 * time.Millisecond) // the runtime's own goroutines wind down on their own time
	}
}

// runOnce starts a daemon, follows its events over the control socket,
// and closes it, returning once Run has returned.
func runOnce(t *testing.T) {
	t.Helper()
	dir := t.TempDir()
	cfg := testConfig(dir, component(t, dir, "svc", "exec sleep 100"))
	cfg.Settings.MetricsPush = config.MetricsPush{URL: "http://127.0.0.1:1/api/v1/import/prometheus", Interval: time.Hour}
	r := startDaemon(t, cfg, nil)
	stream, err := api.NewClient(cfg.Settings.Control).Follow(context.Background(), api.FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := r.d.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-r.done:
		if err != nil {
			t.Fatalf("Run: %v", err)
		}
	case <-time.After(time.Second):
		// Close returns once Run's deferred cleanup closed d.done; the
		// goroutine above still has to get Run's result across.
		t.Fatal("Run did not return within 1s of Close")
	}
	if !r.hooks.ended.Load() || !r.notify.ended.Load() {
		t.Error("Run returned before the hooks or the notifier ended")
	}
	for range stream.Events() {
	}
	if err := stream.Err(); err != nil {
		t.Errorf("the event stream ended with %v; want a clean end at shutdown", err)
	}
	if _, err := os.Stat(cfg.Settings.Control); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind: %v", err)
	}
	if _, err := os.Stat(cfg.Settings.State); err != nil {
		t.Errorf("no state saved at shutdown: %v", err)
	}
}

func TestDaemon_Run_EndsEveryGoroutine(t *testing.T) {
	// The first run starts what lives as long as the process (the reaper,
	// os/signal's watcher); count after it.
	runOnce(t)
	before := runtime.NumGoroutine()
	runOnce(t)
	goroutinesBackTo(t, before)
}

func TestDaemon_Signals_OrderedThenKill(t *testing.T) {
	dir := t.TempDir()
	// Ignores SIGTERM: the ordered stop would wait out kill_timeout.
	c := component(t, dir, "stubborn", "trap '' TERM; echo trapped; while :; do sleep 0.1; done")
	c.KillTimeout = time.Minute
	r := startDaemon(t, testConfig(dir, c), nil)
	pid := r.d.Supervisor().Status()[0].PID
	// Running comes at the spawn: the SIGTERM must wait until the shell
	// has installed its trap, or it simply ends the shell.
	out := r.d.Supervisor().Status()[0].Logs[0].Path
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		if b, _ := os.ReadFile(out); strings.Contains(string(b), "trapped") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("stubborn did not say it ignores SIGTERM within 10s (%s)", out)
		}
	}
	r.sigs <- syscall.SIGTERM
	waitState(t, r.d.Supervisor(), engine.StateStopping)
	if r.notify.stopping.Load() != 1 {
		t.Errorf("notifier told of stopping %d times, want 1", r.notify.stopping.Load())
	}
	r.sigs <- syscall.SIGHUP // ignored during the shutdown
	r.sigs <- syscall.SIGINT
	if err := r.wait(t, 10*time.Second); !errors.Is(err, ErrKilled) {
		t.Fatalf("Run after a second signal: %v, want ErrKilled", err)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("pid %d survived the kill", pid)
	}
	if r.notify.reloading.Load() != 0 {
		t.Error("SIGHUP during the shutdown reloaded")
	}
}

func TestDaemon_SIGTERM_OrderedShutdown(t *testing.T) {
	dir := t.TempDir()
	r := startDaemon(t, testConfig(dir, component(t, dir, "svc", "exec sleep 100")), nil)
	pid := r.d.Supervisor().Status()[0].PID
	r.sigs <- syscall.SIGTERM
	if err := r.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if syscall.Kill(pid, 0) == nil {
		t.Errorf("pid %d survived the shutdown", pid)
	}
}

func TestDaemon_Reload(t *testing.T) {
	dir := t.TempDir()
	first := testConfig(dir, component(t, dir, "a", "exec sleep 100"))
	var mu sync.Mutex
	next := Load{}
	var released []string
	load := func() Load {
		mu.Lock()
		defer mu.Unlock()
		return next
	}
	set := func(l Load, name string) {
		mu.Lock()
		defer mu.Unlock()
		l.Release = func() {
			mu.Lock()
			released = append(released, name)
			mu.Unlock()
		}
		next = l
	}
	r := startDaemon(t, first, load)
	ctx := context.Background()

	// A file with errors changes nothing.
	set(Load{Problems: config.Problems{{File: "thorp.lua", Line: 3, Message: "bad"}}}, "broken")
	rep, problems, err := r.d.Reload(ctx)
	if err != nil || problems.Err() == nil || len(rep.Added)+len(rep.Removed) != 0 {
		t.Fatalf("broken reload: %+v %v %v", rep, problems, err)
	}
	if ok, _ := r.d.Supervisor().LastReload(); ok {
		t.Error("a refused reload counts as a success")
	}

	// A good one applies and swaps the hooks.
	cfg := testConfig(dir, component(t, dir, "a", "exec sleep 100"), component(t, dir, "b", "exec sleep 100"))
	cfg.Settings = first.Settings
	cfg.Settings.HTTP = "127.0.0.1:0"
	set(Load{Config: cfg}, "second")
	rep, problems, err = r.d.Reload(ctx)
	if err != nil || problems.Err() != nil || !slices.Equal(rep.Added, []string{"b"}) || !slices.Equal(rep.Unchanged, []string{"a"}) {
		t.Fatalf("reload: %+v %v %v", rep, problems, err)
	}
	<-r.hooks.reloaded // sent before Reload returned
	r.hooks.mu.Lock()
	if len(r.hooks.sets) != 2 || r.hooks.sets[1] != cfg || r.hooks.reloads != 1 {
		t.Errorf("hooks: %d sets, %d reloads; want the new config set and one reload", len(r.hooks.sets), r.hooks.reloads)
	}
	r.hooks.mu.Unlock()

	// SIGHUP reloads too, and tells the notifier.
	cfg3 := testConfig(dir, component(t, dir, "a", "exec sleep 100"))
	cfg3.Settings = cfg.Settings
	set(Load{Config: cfg3}, "third")
	r.sigs <- syscall.SIGHUP
	select {
	case <-r.hooks.reloaded:
	case <-time.After(10 * time.Second):
		t.Fatal("SIGHUP did not reload")
	}
	if n := len(r.d.Supervisor().Status()); n != 1 {
		t.Errorf("%d components after the SIGHUP reload, want 1", n)
	}
	r.cancel()
	if err := r.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run: %v", err)
	}
	_ = r.d.Close()
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(released, []string{"broken", "third"}) {
		t.Errorf("released %v, want the broken load at once and the last at Close, not a replaced one (its functions may still run)", released)
	}
	if r.notify.reloading.Load() != 1 || r.notify.reloaded.Load() != 1 {
		t.Errorf("notifier: %d reloading, %d reloaded; want 1 each", r.notify.reloading.Load(), r.notify.reloaded.Load())
	}
	if _, _, err := r.d.Reload(ctx); err == nil {
		t.Error("a reload after the shutdown was accepted")
	}
}

func TestNew_BusyHTTPPortStartsNothing(t *testing.T) {
	dir := t.TempDir()
	cfg := testConfig(dir, component(t, dir, "svc", "exec sleep 100"))
	r := startDaemon(t, cfg, nil)
	busy := testConfig(t.TempDir(), component(t, dir, "svc", "exec sleep 100"))
	busy.Settings.HTTP = r.d.Info().Listening[0]
	_, err := New(Load{Config: busy}, Options{})
	var le *ListenError
	if !errors.As(err, &le) {
		t.Fatalf("New on a busy port: %v, want a ListenError", err)
	}
	if _, err := os.Stat(busy.Settings.Control); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("control socket left behind after a failed New: %v", err)
	}
}

// TestDaemon_ReloadBadHTTPAddressChangesNothing: a reload whose new HTTP
// address cannot be bound fails as a whole, even though the rest of it
// (a changed command, an added component) would apply: the processes,
// hooks, config and HTTP server stay as they were, the refused load is
// released, and the error says nothing changed. With the address free
// the same load applies.
func TestDaemon_ReloadBadHTTPAddressChangesNothing(t *testing.T) {
	dir := t.TempDir()
	first := testConfig(dir, component(t, dir, "a", "exec sleep 100"))
	var mu sync.Mutex
	var next Load
	released := 0
	load := func() Load {
		mu.Lock()
		defer mu.Unlock()
		return next
	}
	r := startDaemon(t, first, load)
	sup := r.d.Supervisor()
	pid := sup.Status()[0].PID
	oldAddr := r.d.web.Addr()

	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := testConfig(dir, component(t, dir, "a", "exec sleep 101"), component(t, dir, "b", "exec sleep 100"))
	cfg.Settings = first.Settings
	cfg.Settings.HTTP = busy.Addr().String()
	mu.Lock()
	next = Load{Config: cfg, Release: func() {
		mu.Lock()
		released++
		mu.Unlock()
	}}
	mu.Unlock()
	rep, _, err := r.d.Reload(context.Background())
	if err == nil || !strings.Contains(err.Error(), "nothing changed") || !strings.Contains(err.Error(), "settings.http") {
		t.Fatalf("reload onto a busy HTTP port: %+v %v, want an error saying nothing changed", rep, err)
	}
	if len(rep.Added)+len(rep.Restarted) != 0 {
		t.Errorf("a failed reload reports changes: %+v", rep)
	}
	st := sup.Status()
	if len(st) != 1 || st[0].PID != pid || syscall.Kill(pid, 0) != nil || sup.Config() != first {
		t.Fatalf("after the failed reload: %+v, want a alone, pid %d, the first config", st, pid)
	}
	if got := r.d.web.Addr(); got != oldAddr {
		t.Fatalf("HTTP server on %s, want %s", got, oldAddr)
	}
	resp, err := http.Get("http://" + oldAddr + "/health")
	if err != nil {
		t.Fatalf("the old HTTP address: %v", err)
	}
	resp.Body.Close()
	r.hooks.mu.Lock()
	sets, reloads := len(r.hooks.sets), r.hooks.reloads
	r.hooks.mu.Unlock()
	if sets != 1 || reloads != 0 {
		t.Errorf("hooks: %d sets, %d reloads after the failed reload; want 1 and 0", sets, reloads)
	}
	mu.Lock()
	if released != 1 {
		t.Errorf("the refused load was released %d times, want 1", released)
	}
	mu.Unlock()
	if ok, _ := sup.LastReload(); ok {
		t.Error("the failed reload counts as a success")
	}

	// The address free, the same load applies.
	busy.Close()
	rep, _, err = r.d.Reload(context.Background())
	if err != nil || !slices.Equal(rep.Restarted, []string{"a"}) || !slices.Equal(rep.Added, []string{"b"}) {
		t.Fatalf("reload with the address free: %+v %v", rep, err)
	}
	if got := r.d.web.Addr(); got != cfg.Settings.HTTP {
		t.Fatalf("HTTP server on %s, want %s", got, cfg.Settings.HTTP)
	}
}
