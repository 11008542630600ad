package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
)

// newFlags returns a FlagSet for a subcommand that writes its usage to stderr.
func newFlags(name, usageLine string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: thorp %s\n\nFlags:\n", usageLine)
		fs.PrintDefaults()
	}
	return fs
}

// configFlag registers -c/--config on fs. Left out, the config is found
// by findConfig once the flags are parsed (parseInterspersed), so every
// command finds the same thorp from any directory.
func configFlag(fs *flag.FlagSet) *string {
	v := &configValue{}
	fs.Var(v, "c", "config `FILE` (default: $THORP_CONFIG, else the first of ./thorp.lua, ~/.config/thorp/thorp.lua, /etc/thorp/thorp.lua that exists)")
	fs.Var(v, "config", "config `FILE` (same as -c)")
	return &v.path
}

// configValue is the value of -c/--config.
type configValue struct {
	path string
	set  bool
}

func (v *configValue) String() string { return v.path }

// Set records FILE as given.
func (v *configValue) Set(s string) error {
	v.path, v.set = s, true
	return nil
}

// errNoConfig means no config file was given or found; the places tried
// have been printed. usageExit maps it to exitFailed.
var errNoConfig = errors.New("no config file found")

// systemConfig is the config file of a thorp that serves the whole host.
const systemConfig = "/etc/thorp/thorp.lua"

// findConfig returns the config file a command uses when -c is not given:
// $THORP_CONFIG when set (whether or not it exists: the operator named
// it), else the first that exists of ./thorp.lua, thorp/thorp.lua in the
// user's config directory ($XDG_CONFIG_HOME, else ~/.config; skipped for
// root) and system. ok is false when there is none; tried then lists the
// places looked at, in order.
func findConfig(getenv func(string) string, root bool, system string) (path string, tried []string, ok bool) {
	if p := getenv("THORP_CONFIG"); p != "" {
		return p, nil, true
	}
	candidates := []string{"thorp.lua"}
	tried = []string{"-c FILE (not given)", "$THORP_CONFIG (not set)", "./thorp.lua"}
	if !root {
		dir := getenv("XDG_CONFIG_HOME")
		if dir == "" && getenv("HOME") != "" {
			dir = filepath.Join(getenv("HOME"), ".config")
		}
		if dir != "" {
			p := filepath.Join(dir, "thorp", "thorp.lua")
			candidates = append(candidates, p)
			tried = append(tried, p)
		}
	} else {
		tried = append(tried, "~/.config/thorp/thorp.lua (not for root)")
	}
	candidates = append(candidates, system)
	tried = append(tried, system)
	for _, p := range candidates {
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p, nil, true
		}
	}
	return "", tried, false
}

// resolveConfig fills in -c/--config on fs, when fs has it and it was not
// given, with findConfig's answer; with none it prints the places tried to
// fs's output and returns errNoConfig.
func resolveConfig(fs *flag.FlagSet) error {
	f := fs.Lookup("c")
	if f == nil {
		return nil
	}
	v, ok := f.Value.(*configValue)
	if !ok || v.set {
		return nil
	}
	path, tried, found := findConfig(os.Getenv, os.Geteuid() == 0, systemConfig)
	if !found {
		fmt.Fprintf(fs.Output(), "thorp %s: no config file found; looked at %s. Write a thorp.lua (thorp init) or name one with -c FILE or $THORP_CONFIG.\n",
			fs.Name(), strings.Join(tried, ", "))
		if addr, info, ok := thorpOfThisHost(); ok {
			cfg := termSafe(info.Config)
			fmt.Fprintf(fs.Output(), "thorp %s: the thorp answering on %s (pid %d) runs %s: give -c %s, or export THORP_CONFIG=%s for every command.\n",
				fs.Name(), addr, info.PID, cfg, shellArg(cfg), shellArg(cfg))
		}
		return errNoConfig
	}
	v.path = path
	return nil
}

// thorpOfThisHost asks the address a thorp's HTTP server has when its
// config does not say (settings.http's default, or $THORP_HTTP) whether a
// thorp answers there, and which config it runs: what resolveConfig
// suggests when it finds no config here.
func thorpOfThisHost() (addr string, info api.Info, ok bool) {
	addr = cmp.Or(os.Getenv("THORP_HTTP"), config.Defaults().HTTP)
	info, ok = thorpAt(context.Background(), addr)
	return addr, info, ok
}

// profileFlag registers --env on fs: the env profile to run with.
func profileFlag(fs *flag.FlagSet) *string {
	return fs.String("env", "", "env `PROFILE`: merge each component's env_PROFILE over its env (default $THORP_ENV)")
}

// activeProfile is the --env value, else $THORP_ENV.
func activeProfile(flagValue string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv(config.ProfileEnv)
}

// parseInterspersed parses flags that may appear anywhere among positional
// arguments ("thorp logs api -n 10") and returns the positional ones.
// It then finds the config when fs has -c and it was not given
// (resolveConfig). It returns flag.ErrHelp for -h, and an error already
// printed to the FlagSet's output for a bad flag or no config; callers
// return usageExit(err).
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, resolveConfig(fs)
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), resolveConfig(fs)
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageExit maps a parseInterspersed error to an exit code.
func usageExit(err error) int {
	switch {
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.Is(err, errNoConfig):
		return exitFailed
	}
	return exitUsage
}

// setFlag collects repeated --set KEY=VALUE settings overrides, the
// highest layer over thorp.lua and THORP_* variables.
type setFlag map[string]any

func (s setFlag) String() string { return "" }

// Set parses one KEY=VALUE.
func (s setFlag) Set(v string) error {
	k, val, ok := strings.Cut(v, "=")
	if !ok || k == "" {
		return fmt.Errorf("want KEY=VALUE, like http=127.0.0.1:3002 or logs.max_size=50MB")
	}
	// Typed like a thorp.lua value would be: numbers and booleans as such.
	switch {
	case val == "true" || val == "false":
		s[k] = val == "true"
	default:
		if f, err := strconv.ParseFloat(val, 64); err == nil {
			s[k] = f
		} else {
			s[k] = val
		}
	}
	return nil
}

// overridesFlag registers --set on fs.
func overridesFlag(fs *flag.FlagSet) setFlag {
	s := setFlag{}
	fs.Var(s, "set", "override a settings key, `KEY=VALUE` (repeatable; e.g. --set http=127.0.0.1:3002 --set logs.max_size=50MB)")
	return s
}
