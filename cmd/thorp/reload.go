package main

import (
	"context"
	"fmt"
	"io"
)

func init() {
	commands["reload-config"] = command{summary: "re-read thorp.lua and apply the difference; a bad file changes nothing", run: cmdReloadConfig}
}

const reloadUsage = `reload-config [-c FILE] [--json]

Asks the running thorp to evaluate its config file again (with the files it
include()s, read anew) in a fresh Lua state, with the env profile it was
started with (run --env), validate it fully and only then apply the
difference: new components
start, removed ones stop, components whose command, cwd, env, user, group,
sockets, ready, instances or log paths changed restart with reason "config"
(dependencies first), components whose policies changed (restart, memory,
stop, log rotation settings) take the new values without a restart, and
unchanged ones keep their pids. settings apply too: a changed http address
is rebound, a changed token or http_hosts takes effect; a changed control path needs a
thorp restart. A file with errors changes nothing: the errors are printed
and the exit code is 1. A reload is all or nothing: every socket, HTTP
address and log file it needs is bound or opened before anything changes,
and if one fails (a busy port, a log that cannot be written) nothing
changed: the message says so, the exit code is 1, and the running
components, sockets and health checks stay as they were. SIGHUP to thorp
does the same.`

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
		r := res.Report
		// A reload that fails before its commit reports nothing: nothing
		// changed. One that applied and then met an error (a component
		// that did not restart) reports what it did.
		applied := len(r.Added)+len(r.Removed)+len(r.Restarted)+len(r.Updated)+len(r.Unchanged) > 0
		if res.OK || applied {
			fmt.Fprintf(stdout, "config reloaded: %d added, %d removed, %d restarted, %d updated in place, %d unchanged\n",
				len(r.Added), len(r.Removed), len(r.Restarted), len(r.Updated), len(r.Unchanged))
			for _, l := range []struct {
				what  string
				names []string
			}{{"added", r.Added}, {"removed", r.Removed}, {"restarted", r.Restarted}, {"updated", r.Updated}} {
				if len(l.names) > 0 {
					fmt.Fprintf(stdout, "  %s: %s\n", l.what, termSafe(fmt.Sprint(l.names)))
				}
			}
		}
		switch {
		case res.OK:
		case applied:
			fmt.Fprintf(stderr, "thorp: %s\n", termSafe(res.Error)) // "the new config was applied, but: …"
		default:
			fmt.Fprintf(stderr, "thorp: reload failed: %s\n", termSafe(res.Error))
		}
	}
	if !res.OK {
		return exitFailed
	}
	return exitOK
}
