package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/web"
	"github.com/thorp-dev/thorp/plugins"
	"github.com/thorp-dev/thorp/rotate"
)

func init() {
	commands["run"] = command{summary: "supervise in the foreground (SIGTERM/SIGINT: ordered stop, twice: kill)", run: cmdRun}
}

const runUsage = `run [-c FILE] [--set KEY=VALUE...]

Supervises the components of FILE in the foreground until SIGTERM or SIGINT,
then stops them in reverse dependency order and exits 0. A second signal
during the shutdown SIGKILLs every component's process group and exits 2.
thorp's own log goes to logs/thorp.log (and to stderr on a terminal).`

func cmdRun(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("run", runUsage, stderr)
	cfgPath := configFlag(fs)
	overrides := overridesFlag(fs)
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	}
	// Lua output (print, thorp.log) goes to thorp's log once it is open.
	var log *slog.Logger
	luaLog := func(level, msg, where string) {
		if log == nil {
			return
		}
		lvl := slog.LevelInfo
		_ = lvl.UnmarshalText([]byte(level))
		if level == "alert" {
			lvl = slog.LevelWarn
		}
		log.Log(context.Background(), lvl, msg, "lua", where)
	}
	if os.Getenv("GOGC") == "" {
		// A supervisor allocates little and lives long: a tighter heap goal
		// keeps its footprint small for a negligible CPU cost.
		debug.SetGCPercent(50)
	}
	cfg, script, problems := loadConfigWith(*cfgPath, overrides, luaLog)
	printProblems(stderr, problems)
	if cfg == nil {
		fmt.Fprintf(stderr, "thorp: %s has errors; nothing was started. Fix them (thorp check -c %s) and run again.\n", *cfgPath, *cfgPath)
		return exitFailed
	}
	reloader := &configReloader{path: *cfgPath, overrides: overrides, script: script, cfg: cfg, luaLog: luaLog}
	defer reloader.close()

	// thorp's own log: logs/thorp.log through the same writer as the components.
	logPath := filepath.Join(cfg.Settings.Logs.Dir, "thorp.log")
	ownOpts := rotate.OptionsFrom(cfg.Settings.Logs)
	ownOpts.Timestamps = false // slog writes its own time
	ownLog, err := rotate.Open(logPath, ownOpts)
	if err != nil {
		fmt.Fprintf(stderr, "thorp: cannot open %s: %v; make the log directory writable\n", logPath, err)
		return exitFailed
	}
	defer ownLog.Close()
	var logOut io.Writer = ownLog
	if isTerminal(stderr) {
		logOut = io.MultiWriter(ownLog, stderr)
	}
	log = slog.New(slog.NewTextHandler(logOut, &slog.HandlerOptions{Level: slog.LevelInfo}))

	self, err := os.Executable()
	if err != nil {
		fmt.Fprintf(stderr, "thorp: cannot find my own executable: %v\n", err)
		return exitFailed
	}
	// on(event, fn) hooks run on their own goroutine, fed by the engine's events.
	var sup *engine.Supervisor
	hooks := plugins.NewHookRunner(luaLog, func(component string, since time.Time) int {
		n := 0
		for _, ev := range sup.Events(0, component, since) {
			if ev.Type == engine.EventRestart {
				n++
			}
		}
		return n
	})
	hooks.Set(script, cfg)
	sup, err = engine.New(cfg, engine.Options{Logger: log, FenceCommand: []string{self, fenceCommand}, ExecShim: []string{self, execShimCommand}, Lua: script,
		StatePath: cfg.Settings.State, OnEvent: hooks.Handle})
	if err != nil {
		fmt.Fprintf(stderr, "thorp: %v\n", err)
		return exitFailed
	}
	// Releases what sup holds once Run has returned (after a second signal
	// thorp exits while Run still stops things: Close then does nothing).
	defer sup.Close()
	ln, err := api.ListenControl(cfg.Settings.Control)
	if err != nil {
		fmt.Fprintf(stderr, "thorp: %v\n", err)
		return exitFailed
	}
	started := time.Now()
	info := api.Info{PID: os.Getpid(), Version: version, Config: cfg.File, Started: started}
	publicAPI := api.NewPublicHandler(sup, info)
	httpSrv := web.New(sup, web.Options{Addr: cfg.Settings.HTTP, Token: cfg.Settings.Token, Started: started,
		API: publicAPI, Logger: log})
	defer httpSrv.Close()
	// The TCP sockets held for components count as this thorp's, for check.
	for _, cc := range cfg.Components {
		for _, addr := range cc.Sockets {
			if hp, ok := strings.CutPrefix(addr, "tcp://"); ok {
				info.Listening = append(info.Listening, hp)
			}
		}
	}
	if cfg.Settings.HTTP != "" {
		// Bind before anything starts, so a busy port fails early.
		if err := httpSrv.Listen(); err != nil {
			ln.Close()
			os.Remove(cfg.Settings.Control)
			fmt.Fprintf(stderr, "thorp: %v; free the port or change settings.http in %s\n", err, *cfgPath)
			return exitFailed
		}
		info.Listening = append(info.Listening, httpSrv.Addr())
	}
	// Serve even without an address, so a reload can turn the server on.
	go func() {
		if err := httpSrv.Serve(); err != nil {
			log.Error("http server stopped", "err", err)
		}
	}()
	if p := cfg.Settings.MetricsPush; p.URL != "" {
		pushCtx, stopPush := context.WithCancel(ctx)
		wait, err := httpSrv.Push(pushCtx, p.URL, p.Interval, p.Labels)
		if err != nil {
			stopPush()
			fmt.Fprintf(stderr, "thorp: %v\n", err)
			return exitFailed
		}
		defer wait()
		defer stopPush()
	}
	reloader.sup, reloader.web, reloader.log, reloader.hooks = sup, httpSrv, log, hooks
	control := api.NewHandler(sup, info, true)
	control.SetReloader(reloader.reload)
	publicAPI.SetReloader(reloader.reload)
	srv := api.NewServer(control)
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("control socket stopped", "err", err)
		}
	}()
	defer os.Remove(cfg.Settings.Control)
	defer srv.Close()

	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer signal.Stop(sigs)

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go hooks.Run(runCtx)
	done := make(chan error, 1)
	go func() { done <- sup.Run(runCtx) }()
	// READY=1, WATCHDOG=1 and STOPPING=1 under a Type=notify systemd unit
	// (see `thorp startup`); does nothing without NOTIFY_SOCKET.
	sd := startSystemdLink(sup, log)
	defer sd.close()
	log.Info("thorp started", "pid", os.Getpid(), "config", cfg.File, "components", len(cfg.Components),
		"control", cfg.Settings.Control)

	stopping := false
	for {
		select {
		case <-done:
			log.Info("thorp stopped")
			return exitOK
		case sig := <-sigs:
			switch {
			case sig == syscall.SIGHUP && !stopping:
				log.Info("SIGHUP received: reloading the config")
				go func() {
					sd.reloading()
					defer sd.reloaded()
					if _, _, err := reloader.reload(runCtx); err != nil {
						log.Warn("config reload finished with errors", "err", err)
					}
				}()
			case sig == syscall.SIGHUP:
				log.Info("SIGHUP ignored during shutdown")
			case !stopping:
				stopping = true
				sd.stopping()
				log.Info("shutting down: stopping components in reverse dependency order; send the signal again to kill them", "signal", sig.String())
				stop()
			default:
				log.Warn("second signal: killing every component's process group", "signal", sig.String())
				sup.Kill()
				return exitUsage
			}
		}
	}
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
