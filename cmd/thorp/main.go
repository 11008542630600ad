// Command thorp is a process supervisor configured by a Lua file, thorp.lua.
//
// This package only parses flags, formats output and maps errors to exit
// codes; the supervisor itself lives in the engine package, and what
// 'thorp run' wires together (servers, hooks, signals, reloads) in
// engine/daemon, to which this package hands the loading of thorp.lua and
// the Lua hooks.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"
)

// Exit codes, as DESIGN.md fixes them, and thorp run's own (run.go).
const (
	exitOK      = 0
	exitFailed  = 1
	exitUsage   = 2
	exitNoThorp = 3
	// exitCritical is thorp run's exit code when a component marked
	// critical ended errored and thorp stopped everything.
	exitCritical = 4
)

// command is one subcommand. run gets the arguments after the subcommand's
// name (flags and names in any order) and returns the exit code.
type command struct {
	summary string
	run     func(ctx context.Context, args []string, stdout, stderr io.Writer) int
}

// commands is filled by each subcommand's file in its init function.
var commands = map[string]command{}

// aliases maps alternative names to commands.
var aliases = map[string]string{"ls": "status"}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdout, os.Stderr))
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	name, rest := splitCommand(args)
	switch name {
	case "", "help", "-h", "--help", "-help":
		usage(stdout)
		if name == "" && len(args) > 0 {
			return exitUsage
		}
		return exitOK
	case "--version", "-version", "-v":
		name = "version"
	}
	if a, ok := aliases[name]; ok {
		name = a
	}
	cmd, ok := commands[name]
	if !ok {
		fmt.Fprintf(stderr, "thorp: unknown command %q; run 'thorp help' for the list\n", name)
		return exitUsage
	}
	return cmd.run(ctx, rest, stdout, stderr)
}

// splitCommand finds the subcommand among args: the first word that is not a
// flag or the value of -c/--config. The other arguments are returned in order.
func splitCommand(args []string) (string, []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "-c" || a == "--c" || a == "-config" || a == "--config" {
			i++
			continue
		}
		if strings.HasPrefix(a, "-") && !isHelpOrVersion(a) {
			continue
		}
		rest := append(append([]string{}, args[:i]...), args[i+1:]...)
		return a, rest
	}
	return "", args
}

func isHelpOrVersion(a string) bool {
	switch a {
	case "-h", "--help", "-help", "--version", "-version", "-v":
		return true
	}
	return false
}

func usage(w io.Writer) {
	fmt.Fprint(w, `thorp: a process supervisor configured by thorp.lua

Usage: thorp COMMAND [flags] [NAME...]

Every command takes -c FILE; without it the config is $THORP_CONFIG, else the
first that exists of ./thorp.lua, ~/.config/thorp/thorp.lua (not for root) and
/etc/thorp/thorp.lua, so every command finds the same thorp from any
directory. Flags may come before or after the command and after names. Where
a command takes a NAME, @TAG selects every component with that tag
(tags = { "web" } in thorp.lua). Read commands take --json.
Exit codes: 0 ok, 1 failed or problems found, 2 usage error, 3 no running thorp
(thorp run: 4 a critical component ended errored).

Commands:
`)
	names := make([]string, 0, len(commands))
	for n, c := range commands {
		if c.summary == "" {
			continue // hidden
		}
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, "\nRun 'thorp COMMAND --help' for a command's flags.\n")
}
