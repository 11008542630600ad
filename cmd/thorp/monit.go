package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	tea "charm.land/bubbletea/v2"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
)

func init() {
	commands["monit"] = command{summary: "live terminal view: components and instances with CPU, memory against the limit, restarts; the selected one's log; restart, reload, stop, start", run: cmdMonit}
}

// monitEvents is how many recent events a plain monit frame shows.
const monitEvents = 10

const monitUsage = `monit [-c FILE] [--interval 2s]

In a terminal, a live view of the running thorp: a row per component and,
under a component of several instances or with a proxy, one per instance,
with state, CPU %, memory against the per-process limit
(max_memory_restart) as a bar, and restarts; below it the last lines of the
selected component's log, following (tab switches stdout and stderr). It
refreshes every interval and fits the window (80x24 is enough), cutting
what does not fit.

Keys: up/down (or k/j) select, r restart, R reload, s stop, S start the
selected component (each asks y/n first, then runs over the control
socket and waits for the outcome), tab out/err, q or Ctrl-C quits.

When stdout is not a terminal it prints one frame (the status table and
the recent events), without colours, and exits.`

func cmdMonit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("monit", monitUsage, stderr)
	cfgPath := configFlag(fs)
	interval := fs.Duration("interval", 2*time.Second, "time between refreshes of the live view")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(names) > 0 {
		fmt.Fprintf(stderr, "thorp monit: unexpected arguments %q; monit shows every component\n", names)
		return exitUsage
	}
	if *interval < 100*time.Millisecond {
		fmt.Fprintf(stderr, "thorp monit: --interval %v is too short; use 100ms or more\n", *interval)
		return exitUsage
	}
	client := clientFor(*cfgPath)
	if !isTerminal(stdout) {
		if err := printMonitFrame(ctx, client, stdout); err != nil {
			return clientExit(stderr, err)
		}
		return exitOK
	}
	return runMonitLive(ctx, client, *interval, stdout, stderr)
}

// runMonitLive runs the live view until q, Ctrl-C, SIGTERM or ctx ends. A
// thorp that is not running at the start exits 3; one that goes away later
// is reported on screen while monit keeps asking.
func runMonitLive(ctx context.Context, client *api.Client, interval time.Duration, stdout, stderr io.Writer) int {
	fetchCtx, cancel := context.WithTimeout(ctx, monitFetchTimeout)
	comps, err := client.Components(fetchCtx)
	cancel()
	if err != nil {
		return clientExit(stderr, err)
	}
	m := newMonitModel(ctx, client, interval, newMonitStyles(true), comps, time.Now())
	// 10 frames a second at most: keys feel immediate and an idle view
	// wakes rarely. The view asks for the alternate screen; Bubble Tea
	// brings the colours down to what the terminal (TERM, NO_COLOR) has.
	p := tea.NewProgram(m, tea.WithContext(ctx), tea.WithOutput(stdout), tea.WithFPS(10))
	if _, err := p.Run(); err != nil && !errors.Is(err, tea.ErrProgramKilled) && !errors.Is(err, tea.ErrInterrupted) {
		fmt.Fprintf(stderr, "thorp monit: %s\n", termSafeErr(err))
		return exitFailed
	}
	return exitOK
}

// printMonitFrame writes one plain frame: thorp's pid, the status table
// and the last monitEvents events.
func printMonitFrame(ctx context.Context, client *api.Client, w io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, monitFetchTimeout)
	defer cancel()
	info, err := client.Info(ctx)
	if err != nil {
		return err
	}
	comps, err := client.Components(ctx)
	if err != nil {
		return err
	}
	events, err := client.Events(ctx, 0, "", "")
	if err != nil {
		return err
	}
	events = events[max(len(events)-monitEvents, 0):]
	fmt.Fprintf(w, "thorp pid %d · %s · every component\n\n", info.PID, time.Now().Format("2006-01-02 15:04:05"))
	printStatusTable(w, comps)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "RECENT EVENTS")
	if len(events) == 0 {
		fmt.Fprintln(w, "(none)")
	}
	for _, ev := range events {
		fmt.Fprintf(w, "%s  %-16s %s\n", ev.Time.Local().Format("15:04:05.000"), eventSource(ev), formatEvent(ev))
	}
	return nil
}

// eventSource names an event's component, with the instance when not 0.
func eventSource(ev engine.Event) string {
	if ev.Instance > 0 {
		return fmt.Sprintf("%s#%d", termSafe(ev.Component), ev.Instance)
	}
	return termSafe(ev.Component)
}
