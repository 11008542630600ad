package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

// loadConfig runs the shared load path for the config at path. luaLog
// receives print/thorp.log/thorp.alert output of the script (nil discards).
func loadConfig(path string, luaLog ...func(level, msg, where string)) (*config.Config, *plugins.Script, config.Problems) {
	var log func(level, msg, where string)
	if len(luaLog) > 0 {
		log = luaLog[0]
	}
	return loadConfigWith(path, nil, log)
}

// loadConfigWith is loadConfig with the flag layer: overrides are settings
// keys given with --set, applied over thorp.lua and THORP_* variables.
func loadConfigWith(path string, overrides map[string]any, luaLog func(level, msg, where string)) (*config.Config, *plugins.Script, config.Problems) {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	return plugins.Load(path, plugins.Options{Self: self, Version: version, Log: luaLog}, os.Environ(), overrides)
}

// printProblems writes each problem on its own line.
func printProblems(w io.Writer, ps config.Problems) {
	for _, p := range ps {
		prefix := "error: "
		if p.Warning {
			prefix = "warning: "
		}
		fmt.Fprintln(w, prefix+p.String())
	}
}

// clientFor returns a control client for the thorp running cfgPath. It
// evaluates the file but decodes only its settings (a large config stays
// fast), and when the file cannot be evaluated it falls back to the default
// socket next to it, so a broken file does not cut the operator off from a
// running thorp.
func clientFor(cfgPath string) *api.Client {
	self, err := os.Executable()
	if err != nil {
		self = os.Args[0]
	}
	raw, script, _ := plugins.Evaluate(cfgPath, plugins.Options{Self: self, Version: version})
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
	fmt.Fprintf(stderr, "thorp: %v\n", err)
	if errors.Is(err, api.ErrNotRunning) {
		return exitNoThorp
	}
	return exitFailed
}
