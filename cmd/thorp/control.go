package main

import (
	"context"
	"fmt"
	"io"

	"github.com/thorp-dev/thorp/engine/config"
)

func init() {
	for _, a := range []struct{ name, summary string }{
		{"start", "start components (NAME..., @TAG... or all); waits until running"},
		{"stop", "stop components; waits until their process groups are gone"},
		{"restart", "restart components; waits until the new processes run"},
		{"reload", "zero-downtime restart with restart_mode = \"overlap\" (new process ready first); otherwise a restart with reason reload"},
	} {
		action := a.name
		commands[action] = command{summary: a.summary, run: func(ctx context.Context, args []string, stdout, stderr io.Writer) int {
			return cmdAct(ctx, action, args, stdout, stderr)
		}}
	}
	commands["signal"] = command{summary: "send a signal to components' process groups: signal SIG NAME...", run: cmdSignal}
}

func cmdAct(ctx context.Context, action string, args []string, stdout, stderr io.Writer) int {
	fs := newFlags(action, action+" [-c FILE] [--no-wait] [--json] NAME...|@TAG...|all", stderr)
	cfgPath := configFlag(fs)
	noWait := fs.Bool("no-wait", false, "return at once instead of waiting for the outcome")
	asJSON := fs.Bool("json", false, "print the resulting status as JSON")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(names) == 0 {
		fmt.Fprintf(stderr, "thorp %s: name one or more components, or all\n", action)
		return exitUsage
	}
	comps, err := clientFor(*cfgPath).Act(ctx, action, names, !*noWait)
	if err != nil {
		return clientExit(stderr, err)
	}
	if *asJSON {
		return writeJSON(stdout, map[string]any{"components": comps})
	}
	printStatusTable(stdout, comps)
	return exitOK
}

func cmdSignal(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("signal", "signal [-c FILE] SIG NAME...|@TAG...|all", stderr)
	cfgPath := configFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) < 2 {
		fmt.Fprintln(stderr, "thorp signal: give a signal and one or more components, e.g. thorp signal HUP api")
		return exitUsage
	}
	if _, err := config.ParseSignal(pos[0]); err != nil {
		fmt.Fprintf(stderr, "thorp signal: %s\n", termSafeErr(err))
		return exitUsage
	}
	if err := clientFor(*cfgPath).Signal(ctx, pos[0], pos[1:]); err != nil {
		return clientExit(stderr, err)
	}
	fmt.Fprintf(stdout, "sent %s to %v\n", pos[0], pos[1:])
	return exitOK
}
