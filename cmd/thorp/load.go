package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/preflight"
	"github.com/thorp-dev/thorp/plugins"
)

// readConfig is the config at path for a one-shot command, loaded as
// thorp run loads it (loadWith) with profile as the active env profile
// (activeProfile: --env, else $THORP_ENV); the Lua states that evaluated
// it are closed, since a one-shot command calls none of its functions.
// On any error cfg is nil and problems lists every error found; problems
// may hold warnings either way.
func readConfig(path, profile string) (*config.Config, config.Problems) {
	cfg, script, problems := loadWith(path, nil, plugins.Options{Profile: profile})
	if script != nil {
		script.Close()
	}
	return cfg, problems
}

// loadWith is the one load path `thorp run`, `thorp check` and a config
// reload share: plugins evaluates the file into raw values with opts
// (opts.Profile the active env profile, thorp.profile in Lua and THORP_ENV
// to Decode; opts.Host the running thorp, thorp run only), then
// config.Decode layers them with the THORP_* variables and overrides (the
// --set flags), decodes and validates.
//
// On success it returns the config and the Script its Lua functions are
// bound to, granted the decoded settings.plugins.allow_hosts and
// allow_exec (the caller closes it when it is done with the config; see
// plugins.Script for what keeps it open); problems may still hold warnings.
// On any error cfg and script are nil and problems lists every error found.
func loadWith(path string, overrides map[string]any, opts plugins.Options) (*config.Config, *plugins.Script, config.Problems) {
	raw, script, problems := evaluate(path, opts)
	if raw == nil {
		return nil, nil, problems
	}
	cfg, more := config.Decode(raw, environ(opts.Profile), overrides)
	problems = append(problems, more...)
	if problems.Err() != nil {
		if script != nil {
			script.Close()
		}
		return nil, nil, problems
	}
	if script != nil {
		script.Grant(cfg.Settings.Plugins) // thorp.http and thorp.exec, as decoded
	}
	return cfg, script, problems
}

// evaluate runs thorp.lua at path in the plugins sandbox with opts (Self
// and Version filled in here): the first half of the load path, shared by
// loadWith, loadForCheck and clientFor.
func evaluate(path string, opts plugins.Options) (*config.Raw, *plugins.Script, config.Problems) {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	opts.Self, opts.Version = self, version
	return plugins.Evaluate(path, opts)
}

// environ is thorp's environment for config.Decode, with THORP_ENV set to
// profile when one is given.
func environ(profile string) []string {
	env := os.Environ()
	if profile != "" {
		env = append(env, config.ProfileEnv+"="+profile)
	}
	return env
}

// loadForCheck is the load path of loadWith for 'thorp check', which
// checks the host for every part of the config that has no error of its
// own: it returns every problem, and (unless the file could not be
// evaluated) a config of the settings and the components without errors
// (config.DecodeValid); settingsOK reports that the settings have none.
// The Lua functions of cfg are not callable: its script is closed.
func loadForCheck(path, profile string, overrides map[string]any) (cfg *config.Config, settingsOK bool, problems config.Problems) {
	raw, script, problems := evaluate(path, plugins.Options{Profile: profile})
	if script != nil {
		script.Close()
	}
	if raw == nil {
		return nil, false, problems
	}
	cfg, settingsOK, more := config.DecodeValid(raw, environ(profile), overrides)
	return cfg, settingsOK, append(problems, more...)
}

// loadForRun is loadWith plus the host rules `thorp run` applies
// before it starts anything, the first time and on every reload
// (preflight.Identities: user and group): what `thorp check` rejects, run
// refuses the same way instead of starting components that can only fail.
// host is the running thorp, for thorp.status, thorp.restart and the
// other functions that reach it.
func loadForRun(path, profile string, overrides map[string]any, luaLog func(level, msg, where string), host plugins.Host) (*config.Config, *plugins.Script, config.Problems) {
	cfg, script, problems := loadWith(path, overrides, plugins.Options{Profile: profile, Log: luaLog, Host: host})
	if cfg == nil {
		return nil, nil, problems
	}
	problems = append(problems, preflight.Identities(cfg, path)...)
	if problems.Err() != nil {
		if script != nil {
			script.Close()
		}
		return nil, nil, problems
	}
	return cfg, script, problems
}

// printProblems writes each problem on its own line.
func printProblems(w io.Writer, ps config.Problems) {
	for _, p := range ps {
		prefix := "error: "
		if p.Warning {
			prefix = "warning: "
		}
		fmt.Fprintln(w, prefix+termSafe(p.String()))
	}
}

// clientFor returns a control client for the thorp running cfgPath. It
// evaluates the file but decodes only its settings (a large config stays
// fast), and when the file cannot be evaluated it falls back to the default
// socket next to it, so a broken file does not cut the operator off from a
// running thorp.
func clientFor(cfgPath string) *api.Client {
	raw, script, _ := evaluate(cfgPath, plugins.Options{})
	if script != nil {
		script.Close()
	}
	if raw != nil {
		return api.NewClient(config.DecodeSettings(raw, os.Environ()).Control)
	}
	dir := filepath.Dir(cfgPath)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return api.NewClient(filepath.Join(dir, ".thorp", "thorp.sock"))
}

// controlClient is clientFor without evaluating the file again when the
// caller has already loaded it.
func controlClient(cfg *config.Config, path string) *api.Client {
	if cfg != nil {
		return api.NewClient(cfg.Settings.Control)
	}
	return clientFor(path)
}

// clientExit maps a client error to an exit code, printing it.
func clientExit(stderr io.Writer, err error) int {
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "thorp: %s\n", termSafeErr(err))
	if errors.Is(err, api.ErrNotRunning) {
		return exitNoThorp
	}
	return exitFailed
}
