package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
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

// configFlag registers -c/--config on fs, defaulting to $THORP_CONFIG or ./thorp.lua.
func configFlag(fs *flag.FlagSet) *string {
	def := os.Getenv("THORP_CONFIG")
	if def == "" {
		def = "thorp.lua"
	}
	p := fs.String("c", def, "config `FILE` (also $THORP_CONFIG)")
	fs.StringVar(p, "config", def, "config `FILE` (same as -c)")
	return p
}

// parseInterspersed parses flags that may appear anywhere among positional
// arguments ("thorp logs api -n 10") and returns the positional ones.
// It returns flag.ErrHelp for -h, and an error already printed to the
// FlagSet's output for a bad flag; callers return exitUsage for both.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		if args[0] == "--" {
			return append(pos, args[1:]...), nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

// usageExit maps a parseInterspersed error to an exit code.
func usageExit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return exitOK
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
