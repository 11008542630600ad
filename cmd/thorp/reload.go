package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"sync"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/web"
	"github.com/thorp-dev/thorp/plugins"
)

func init() {
	commands["reload-config"] = command{summary: "re-read thorp.lua and apply the difference; a bad file changes nothing", run: cmdReloadConfig}
}

const reloadUsage = `reload-config [-c FILE] [--json]

Asks the running thorp to evaluate its config file again in a fresh Lua
state, validate it fully and only then apply the difference: new components
start, removed ones stop, components whose command, cwd, env, user, group,
sockets, ready, instances or log paths changed restart with reason "config"
(dependencies first), components whose policies changed (restart, memory,
stop, log rotation settings) take the new values without a restart, and
unchanged ones keep their pids. settings apply too: a changed http address
is rebound, a changed token takes effect; a changed control path needs a
thorp restart. A file with errors changes nothing: the errors are printed
and the exit code is 1. SIGHUP to thorp does the same.`

func cmdReloadConfig(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reload-config", reloadUsage, stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the result as JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	}
	res, err := clientFor(*cfgPath).ReloadConfig(ctx)
	if err != nil && res.Error == "" {
		return clientExit(stderr, err)
	}
	if *asJSON {
		writeJSON(stdout, res)
	} else {
		printProblems(stderr, res.Errors)
		printProblems(stderr, res.Warnings)
		if res.OK {
			r := res.Report
			fmt.Fprintf(stdout, "config reloaded: %d added, %d removed, %d restarted, %d updated in place, %d unchanged\n",
				len(r.Added), len(r.Removed), len(r.Restarted), len(r.Updated), len(r.Unchanged))
			for _, l := range []struct {
				what  string
				names []string
			}{{"added", r.Added}, {"removed", r.Removed}, {"restarted", r.Restarted}, {"updated", r.Updated}} {
				if len(l.names) > 0 {
					fmt.Fprintf(stdout, "  %s: %v\n", l.what, l.names)
				}
			}
		} else {
			fmt.Fprintf(stderr, "thorp: reload failed: %s\n", res.Error)
		}
	}
	if !res.OK {
		return exitFailed
	}
	return exitOK
}

// configReloader re-evaluates the config for a running thorp and applies
// it to the supervisor and the HTTP server. It owns the current Lua script.
type configReloader struct {
	path      string
	overrides map[string]any // --set given to thorp run, kept across reloads
	sup       *engine.Supervisor
	web       *web.Server
	hooks     *plugins.HookRunner
	log       *slog.Logger
	luaLog    func(level, msg, where string)

	mu     sync.Mutex
	script *plugins.Script
	cfg    *config.Config
}

// reload is an api.Reloader.
func (r *configReloader) reload(ctx context.Context) (engine.ReloadReport, config.Problems, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	cfg, script, problems := loadConfigWith(r.path, r.overrides, r.luaLog)
	if cfg == nil {
		r.sup.MarkReloadFailed()
		r.log.Warn("config reload refused: the file has errors; nothing was changed", "errors", len(problems.Errors()))
		for _, p := range problems.Errors() {
			r.log.Warn(p.String())
		}
		return engine.ReloadReport{}, problems, nil
	}
	if cfg.Settings.Control != r.cfg.Settings.Control {
		problems = append(problems, config.Problem{File: r.path, Line: cfg.Settings.Line, Key: "control", Warning: true,
			Message: "a new control socket path takes effect when thorp restarts; the old one stays in use"})
	}
	if !reflect.DeepEqual(cfg.Settings.MetricsPush, r.cfg.Settings.MetricsPush) {
		problems = append(problems, config.Problem{File: r.path, Line: cfg.Settings.Line, Key: "metrics_push", Warning: true,
			Message: "a changed metrics_push takes effect when thorp restarts"})
	}
	rep, err := r.sup.Reload(ctx, cfg, script)
	// Hooks move to the new script first; the old script's functions are no
	// longer referenced once Reload has handed every component its config.
	r.hooks.Set(script, cfg)
	if r.script != nil {
		r.script.Close()
	}
	r.script, r.cfg = script, cfg
	r.hooks.Handle(engine.Event{Type: plugins.EventReload, Time: time.Now(),
		Message: fmt.Sprintf("added %v, removed %v, restarted %v, updated %v", rep.Added, rep.Removed, rep.Restarted, rep.Updated)})
	if r.web != nil {
		r.web.SetToken(cfg.Settings.Token)
		if err2 := r.web.Rebind(cfg.Settings.HTTP); err2 != nil {
			problems = append(problems, config.Problem{File: r.path, Line: cfg.Settings.Line, Key: "http", Warning: true,
				Message: fmt.Sprintf("%v; the server stays on its old address", err2)})
		}
	}
	r.log.Info("config reloaded", "added", rep.Added, "removed", rep.Removed, "restarted", rep.Restarted, "updated", rep.Updated)
	return rep, problems, err
}

// close releases the current script.
func (r *configReloader) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.script != nil {
		r.script.Close()
		r.script = nil
	}
}
