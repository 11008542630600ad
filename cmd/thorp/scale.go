package main

import (
	"context"
	"fmt"
	"io"
	"strconv"

	"github.com/thorp-dev/thorp/engine/config"
)

func init() {
	commands["reset"] = command{summary: "zero the restart counters and last restart reason: reset NAME...|@TAG...|all", run: cmdReset}
	commands["scale"] = command{summary: "run N instances of a component until thorp.lua's count changes: scale NAME|@TAG N", run: cmdScale}
}

const resetUsage = `reset [-c FILE] [--json] NAME...|@TAG...|all

Zeroes the restart counters (every reason) and the last restart reason of
the components, in status, describe and /metrics; their processes are left
alone. The reset is an event of its own ("reset"), and the zeroed counters
are what the state file keeps from then on.`

func cmdReset(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("reset", resetUsage, stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print the components' status as JSON")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(names) == 0 {
		fmt.Fprintln(stderr, "thorp reset: name one or more components, or all")
		return exitUsage
	}
	comps, err := clientFor(*cfgPath).Reset(ctx, names)
	if err != nil {
		return clientExit(stderr, err)
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"components": comps})
	}
	fmt.Fprintln(stdout, "restart counters reset:")
	printStatusTable(stdout, comps)
	return exitOK
}

const scaleUsage = `scale [-c FILE] [--no-wait] [--json] NAME|@TAG N

Makes the running thorp run N instances of NAME (1 to 1024), or of each
component tagged TAG, without editing thorp.lua. status and describe show
"scaled, thorp.lua says M" while the count differs from the file's; 'thorp
reload-config' keeps it as long as the file's instances value is unchanged,
and a file whose value changed wins (so does a thorp restart: the file is
the truth). Scaling to the file's count ends the override. Added instances
start when the component runs; behind a proxy they join the rotation once
ready, and removed ones leave it and finish their connections (up to
proxy.drain_timeout) before they get stop_signal. Waits until the added
instances run or the removed ones are gone, unless --no-wait.`

func cmdScale(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("scale", scaleUsage, stderr)
	cfgPath := configFlag(fs)
	noWait := fs.Bool("no-wait", false, "return at once instead of waiting for the outcome")
	asJSON := fs.Bool("json", false, "print the component's status as JSON")
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) != 2 {
		fmt.Fprintln(stderr, "thorp scale: give a component and an instance count, like thorp scale web 4")
		return exitUsage
	}
	n, err := strconv.Atoi(pos[1])
	if err != nil || n < 1 || n > config.MaxInstances {
		fmt.Fprintf(stderr, "thorp scale: %q is not an instance count: give a number from 1 to %d\n", termSafe(pos[1]), config.MaxInstances)
		return exitUsage
	}
	comps, err := clientFor(*cfgPath).Scale(ctx, pos[0], n, !*noWait)
	if err != nil {
		return clientExit(stderr, err)
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"components": comps})
	}
	printStatusTable(stdout, comps)
	return exitOK
}
