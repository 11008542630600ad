package main

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

func init() {
	for _, a := range []struct{ name, summary string }{
		{"start", "start components (NAME..., @TAG... or all); waits until running"},
		{"stop", "stop components; waits until their process groups are gone"},
		{"restart", "restart components; waits until the new processes run"},
		{"reload", "zero-downtime restart behind a proxy or with restart_mode = \"overlap\" (new process ready first, the old one drained; several instances one at a time, see rolling); otherwise a restart with reason reload"},
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
	fs := newFlags("signal", "signal [-c FILE] SIG NAME...|@TAG...|all\n\nSends SIG to the process group of every instance of the named components\nand prints what it signalled: sent SIGHUP to api (pid 41), web (pids 42, 43).", stderr)
	cfgPath := configFlag(fs)
	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) < 2 {
		fmt.Fprintln(stderr, "thorp signal: give a signal and one or more components, e.g. thorp signal HUP api")
		return exitUsage
	}
	sig, err := config.ParseSignal(pos[0])
	if err != nil {
		fmt.Fprintf(stderr, "thorp signal: %s\n", termSafeErr(err))
		return exitUsage
	}
	comps, err := clientFor(*cfgPath).Signal(ctx, pos[0], pos[1:])
	if err != nil {
		return clientExit(stderr, err)
	}
	fmt.Fprintf(stdout, "sent %s to %s\n", sig, signalledCell(comps))
	return exitOK
}

// signalledCell names the components signalled and their processes'
// pids: "api (pid 41), web (pids 42, 43)".
func signalledCell(comps []engine.Status) string {
	var parts []string
	for _, st := range comps {
		var pids []string
		for _, in := range st.Instances {
			if in.PID > 0 {
				pids = append(pids, strconv.Itoa(in.PID))
			}
		}
		switch len(pids) {
		case 0:
			parts = append(parts, termSafe(st.Name)+" (no process)")
		case 1:
			parts = append(parts, termSafe(st.Name)+" (pid "+pids[0]+")")
		default:
			parts = append(parts, termSafe(st.Name)+" (pids "+strings.Join(pids, ", ")+")")
		}
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
