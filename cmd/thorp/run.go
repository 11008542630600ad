package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/daemon"
	"github.com/thorp-dev/thorp/engine/logtee"
	"github.com/thorp-dev/thorp/engine/preflight"
	"github.com/thorp-dev/thorp/engine/sdnotify"
	"github.com/thorp-dev/thorp/engine/web"
	"github.com/thorp-dev/thorp/plugins"
	"github.com/thorp-dev/thorp/rotate"
)

func init() {
	commands["run"] = command{summary: "supervise in the foreground (SIGTERM/SIGINT/SIGQUIT: ordered stop, twice: kill)", run: cmdRun}
}

const runUsage = `run [-c FILE] [--env PROFILE] [--set KEY=VALUE...] [--ready-fd N]

Supervises the components of FILE in the foreground until SIGTERM, SIGINT or
SIGQUIT, then stops them in reverse dependency order and exits 0. A second
signal during the shutdown SIGKILLs every component's process group and
exits 2. SIGHUP reloads the config (as thorp reload-config does). When an
instance of a component marked critical = true ends errored, thorp stops
every component the same way and exits 4, so that what runs it (a
container's orchestrator, systemd) starts it again.
Exit codes: 0 stopped by a signal (or thorp down), 1 did not start (config
errors, a busy port, another thorp holds the lock) or failed, 2 usage error
or killed by a second signal, 4 a critical component ended errored.
As a container's entrypoint (PID 1) thorp reaps every orphan of the
container; with settings.logs.stdout = true every component's lines also
go to thorp's stdout/stderr as "NAME.INSTANCE | line" (dropped and counted,
never waited for, when the reader is slow). See docs/containers.md.
--env PROFILE (or $THORP_ENV) merges each component's env_PROFILE over its
env; a reload keeps the profile thorp was started with. A config with an
error 'thorp check' would report in it, or in a component's user or group,
starts nothing.
thorp's own log goes to logs/thorp.log (and to stderr on a terminal, or
as "thorp | …" with settings.logs.stdout).
One thorp runs a config at a time: it first locks thorp.lock next to the
control socket (.thorp/thorp.lock by default); a second thorp run refuses
with the first one's pid and touches nothing. Unix socket paths it binds
(control, unix:// sockets) are taken over only when they hold a stale
socket; anything else there is an error.`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", runUsage, stderr)
	cfgPath := configFlag(fs)
	overrides := overridesFlag(fs)
	profileValue := profileFlag(fs)
	readyFD := fs.Int("ready-fd", -1, "write a line to file descriptor `N` and close it once the control socket listens (thorp up uses it)")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	}
	ready := readyNotice(*readyFD)
	defer ready.Close() // on failure, before the notice: EOF tells thorp up
	// Lua output (print, thorp.log) goes to thorp's log once it is open.
	lua := &luaLogger{}
	luaLog := lua.Log
	if os.Getenv("GOGC") == "" {
		// A supervisor allocates little and lives long: a tighter heap goal
		// keeps its footprint small for a negligible CPU cost.
		debug.SetGCPercent(50)
	}
	// The profile is fixed for thorp's life: a reload keeps it.
	profile := activeProfile(*profileValue)
	// The Lua functions reach the supervisor once it exists (thorp.restart, …).
	host := &luaHost{}
	load := func() daemon.Load { return daemonLoad(loadForRun(*cfgPath, profile, overrides, luaLog, host)) }
	first := load()
	// Evaluating thorp.lua (twice when it has hooks) leaves garbage thorp
	// never needs again; hand it back now rather than carry it for the
	// daemon's whole life.
	debug.FreeOSMemory()
	printProblems(stderr, first.Problems)
	if first.Config == nil {
		fmt.Fprintf(stderr, "thorp: %s has errors; nothing was started. Fix them (thorp check -c %s) and run again.\n", *cfgPath, *cfgPath)
		return exitFailed
	}
	cfg := first.Config

	// One thorp per config, decided before anything is opened or bound: a
	// second thorp run refuses here and touches nothing of the first.
	lock, err := daemon.TakeLock(cfg.Settings.Control)
	if err != nil {
		first.Release()
		fmt.Fprintf(stderr, "thorp: %v\n", err)
		return exitFailed
	}
	defer lock.Close()
	// Nothing thorp did not create is removed, followed or truncated: a
	// path it would have to bind or log to that holds something else is
	// an error here, at its thorp.lua line, before anything is opened.
	if bad := preflight.CheckFiles(cfg, preflight.Options{File: *cfgPath}); len(bad) > 0 {
		first.Release()
		printProblems(stderr, bad)
		fmt.Fprintf(stderr, "thorp: %s names paths thorp will not take over; nothing was started. Fix them (thorp check -c %s) and run again.\n", *cfgPath, *cfgPath)
		return exitFailed
	}

	// thorp's own log: logs/thorp.log through the same writer as the components.
	logPath := filepath.Join(cfg.Settings.Logs.Dir, "thorp.log")
	ownOpts := engine.LogOptions(cfg.Settings.Logs)
	ownOpts.Timestamps = false // slog writes its own time
	ownLog, err := rotate.Open(logPath, ownOpts)
	if err != nil {
		first.Release()
		fmt.Fprintf(stderr, "thorp: cannot open %s: %v; make the log directory writable\n", logPath, err)
		return exitFailed
	}
	defer ownLog.Close()
	// Components with logs.stdout also write to thorp's stdout/stderr,
	// through a tee that drops rather than waits (a container's log
	// driver may be slow). A write to a stdout whose reader is gone then
	// fails with EPIPE instead of killing thorp with SIGPIPE.
	pipeSigs := make(chan os.Signal, 1)
	signal.Notify(pipeSigs, syscall.SIGPIPE)
	defer signal.Stop(pipeSigs)
	tee := logtee.New(stdout, stderr, logtee.Options{})
	defer tee.Close() // last: after thorp's last log line
	var logOut io.Writer = ownLog
	switch {
	case cfg.Settings.Logs.Stdout:
		logOut = io.MultiWriter(ownLog, tee.Writer())
	case isTerminal(stderr):
		logOut = io.MultiWriter(ownLog, stderr)
	}
	log := slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))
	lua.open(log)

	self, err := os.Executable()
	if err != nil {
		first.Release()
		fmt.Fprintf(stderr, "thorp: cannot find my own executable: %s\n", termSafeErr(err))
		return exitFailed
	}
	sigs := make(chan os.Signal, 4)
	// SIGQUIT stops in order too: as PID 1 Go's default (a goroutine dump
	// and exit 2) would let the kernel SIGKILL every component.
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)
	defer signal.Stop(sigs)
	// on(event, fn) hooks run on their own goroutine, fed by the engine's events.
	hooks := &hookRunner{}
	hooks.HookRunner = plugins.NewHookRunner(luaLog)
	dropper := newPageDropper(quietBeforeDrop, dropQuietPages)
	d, err := daemon.New(first, daemon.Options{
		Logger:  log,
		Version: version,
		Engine: engine.Options{FenceCommand: []string{self, fenceCommand}, ExecShim: []string{self, execShimCommand},
			Cgroups: hostCgroups(log), LogTee: tee},
		Load:     load,
		Hooks:    hooks,
		Notifier: newSystemdLink(sdnotify.FromEnv(os.Getenv), log),
		Signals:  sigs,
		Metrics:  []web.MetricsWriter{tee},
		Activity: dropper.Poke,
	})
	if err != nil {
		first.Release()
		if le := (*daemon.ListenError)(nil); errors.As(err, &le) {
			fmt.Fprintf(stderr, "thorp: %s; free the port or change settings.http in %s\n", termSafeErr(err), *cfgPath)
		} else {
			fmt.Fprintf(stderr, "thorp: %s\n", termSafeErr(err))
		}
		return exitFailed
	}
	defer d.Close()
	host.sup.Store(d.Supervisor())
	ready.signal()
	dropStartupPages()
	// Again once thorp has been quiet for quietBeforeDrop after starting
	// the components (each spawn is an event), and after each later burst
	// of thorp commands or events: spawning processes, opening logs and
	// cgroups, answering thorp status run code the daemon does not run
	// while it only supervises.
	running, ran := context.WithCancel(ctx)
	dropped := make(chan struct{})
	dropper.Poke()
	go func() { // owner: cmdRun, which ends it and waits for it after Run
		defer close(dropped)
		dropper.run(running)
	}()
	err = d.Run(ctx)
	ran()
	<-dropped
	critical := (*daemon.CriticalError)(nil)
	switch {
	case errors.Is(err, daemon.ErrKilled):
		return exitUsage
	case errors.As(err, &critical):
		log.Error("thorp stopped", "err", err)
		fmt.Fprintf(stderr, "thorp: %s; every component was stopped\n", termSafeErr(err))
		return exitCritical
	case err != nil:
		log.Error("thorp stopped", "err", err)
		fmt.Fprintf(stderr, "thorp: %s\n", termSafeErr(err))
		return exitFailed
	}
	log.Info("thorp stopped")
	return exitOK
}

// daemonLoad is the result of loadForRun as the daemon takes it.
func daemonLoad(cfg *config.Config, script *plugins.Script, problems config.Problems) daemon.Load {
	l := daemon.Load{Config: cfg, Problems: problems, Release: func() {}}
	if script != nil {
		l.Release, l.Script = script.Close, script
	}
	return l
}

// hookRunner is the plugins' hook runner as the daemon uses it.
type hookRunner struct{ *plugins.HookRunner }

// Set installs the hooks of l and starts the timers of its script.
func (h *hookRunner) Set(l daemon.Load) {
	script, _ := l.Script.(*plugins.Script)
	h.HookRunner.Set(l.Config, script)
}

// Reloaded hands the hooks a reload event.
func (h *hookRunner) Reloaded(rep engine.ReloadReport) {
	h.Handle(engine.Event{Type: plugins.EventReload, Time: time.Now(),
		Message: fmt.Sprintf("added %v, removed %v, restarted %v, updated %v", rep.Added, rep.Removed, rep.Restarted, rep.Updated)})
}

// readyFile is the --ready-fd of thorp run: a line written to it tells
// the thorp up that started this process that the control socket
// listens. Its methods accept a nil receiver (no --ready-fd).
type readyFile struct{ f *os.File }

// readyNotice takes over fd; it is closed on exec, so no component
// inherits it. fd < 0 means none.
func readyNotice(fd int) *readyFile {
	if fd < 0 {
		return nil
	}
	unix.CloseOnExec(fd)
	return &readyFile{f: os.NewFile(uintptr(fd), "ready-fd")}
}

// signal writes the notice and closes the file.
func (r *readyFile) signal() {
	if r == nil || r.f == nil {
		return
	}
	_, _ = r.f.WriteString("ready\n")
	r.Close()
}

// Close closes the file without a notice (safe twice).
func (r *readyFile) Close() {
	if r == nil || r.f == nil {
		return
	}
	_ = r.f.Close()
	r.f = nil
}

// isTerminal reports whether w is a terminal.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	_, err := unix.IoctlGetTermios(int(f.Fd()), unix.TCGETS)
	return err == nil
}
