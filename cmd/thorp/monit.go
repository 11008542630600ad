package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
)

func init() {
	commands["monit"] = command{summary: "live terminal dashboard (Ctrl-C to quit)", run: cmdMonit}
}

// monitEvents is how many recent events a monit frame shows.
const monitEvents = 10

// ANSI sequences of the live view: the alternate screen keeps the operator's
// scrollback intact, and the cursor is hidden while frames redraw.
const (
	ansiEnter = "\x1b[?1049h\x1b[?25l"
	ansiLeave = "\x1b[?25h\x1b[?1049l"
	ansiClear = "\x1b[H\x1b[2J"
)

func cmdMonit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("monit", "monit [-c FILE] [--interval 1s]\n\n"+
		"Redraws the status table and the last events at each event thorp reports,\n"+
		"and at least every interval, until Ctrl-C.\n"+
		"When stdout is not a terminal it prints one frame, without colours, and exits.", stderr)
	cfgPath := configFlag(fs)
	interval := fs.Duration("interval", time.Second, "time between redraws when no event comes (an event redraws at once)")
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
	m := &monitor{client: clientFor(*cfgPath)}
	if !isTerminal(stdout) {
		if err := m.frame(ctx, stdout); err != nil {
			return clientExit(stderr, err)
		}
		return exitOK
	}
	return m.live(ctx, stdout, stderr, *interval)
}

// monitor draws frames from one thorp. It keeps the recent events between
// frames and asks only for new ones. Not safe for concurrent use.
type monitor struct {
	client *api.Client
	comps  []engine.Status // as of the last successful refresh
	events []engine.Event  // the last monitEvents, oldest first
	seq    uint64
	pid    int
}

// live redraws a frame at every event thorp reports, and every interval
// for the figures that change without one (memory, CPU, uptime), until
// ctx ends or a signal arrives. A thorp that is not running at the first
// frame exits 3; one that goes away later is reported on screen while
// monit keeps trying (at each interval, and follows it again once back).
func (m *monitor) live(ctx context.Context, stdout, stderr io.Writer, interval time.Duration) int {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := m.refresh(ctx); err != nil {
		return clientExit(stderr, err)
	}
	fmt.Fprint(stdout, ansiEnter)
	defer fmt.Fprint(stdout, ansiLeave)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var stream *api.EventStream
	defer func() {
		if stream != nil {
			stream.Close()
		}
	}()
	var err error
	for {
		var events <-chan engine.Event
		if stream == nil && err == nil {
			// Replay from the last event seen, so nothing between the
			// refresh and the stream is missed.
			stream, _ = m.client.Follow(ctx, api.FollowOptions{Replay: true, Since: m.seq})
		}
		if stream != nil {
			events = stream.Events()
		}
		fmt.Fprint(stdout, ansiClear)
		m.draw(stdout, err)
		select {
		case <-ctx.Done():
			return exitOK
		case <-tick.C:
		case _, ok := <-events:
			if !ok {
				stream.Close()
				stream = nil
			}
		}
		err = m.refresh(ctx)
		if ctx.Err() != nil {
			return exitOK
		}
	}
}

// frame fetches and draws one frame.
func (m *monitor) frame(ctx context.Context, w io.Writer) error {
	if err := m.refresh(ctx); err != nil {
		return err
	}
	m.draw(w, nil)
	return nil
}

// refresh asks thorp for its pid, the components and the events since the
// last refresh. A thorp that restarted (new pid) starts the events over.
func (m *monitor) refresh(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	info, err := m.client.Info(ctx)
	if err != nil {
		return err
	}
	if info.PID != m.pid {
		m.pid, m.seq, m.events = info.PID, 0, nil
	}
	comps, err := m.client.Components(ctx)
	if err != nil {
		return err
	}
	evs, err := m.client.Events(ctx, m.seq, "", "")
	if err != nil {
		return err
	}
	for _, ev := range evs {
		m.seq = max(m.seq, ev.Seq)
	}
	m.events = append(m.events, evs...)
	if len(m.events) > monitEvents {
		m.events = append([]engine.Event(nil), m.events[len(m.events)-monitEvents:]...)
	}
	m.comps = comps
	return nil
}

// draw writes the header, the status table and the recent events; err, if
// not nil, says why the figures may be stale.
func (m *monitor) draw(w io.Writer, err error) {
	fmt.Fprintf(w, "thorp pid %d · %s · every component (Ctrl-C to quit)\n", m.pid, time.Now().Format("2006-01-02 15:04:05"))
	if err != nil {
		fmt.Fprintf(w, "!! %s (showing the last figures)\n", termSafeErr(err))
	}
	fmt.Fprintln(w)
	printStatusTable(w, m.comps)
	fmt.Fprintln(w)
	fmt.Fprintln(w, "RECENT EVENTS")
	if len(m.events) == 0 {
		fmt.Fprintln(w, "(none)")
	}
	for _, ev := range m.events {
		fmt.Fprintf(w, "%s  %-16s %s\n", ev.Time.Local().Format("15:04:05.000"), eventSource(ev), formatEvent(ev))
	}
}

// eventSource names an event's component, with the instance when not 0.
func eventSource(ev engine.Event) string {
	if ev.Instance > 0 {
		return fmt.Sprintf("%s#%d", termSafe(ev.Component), ev.Instance)
	}
	return termSafe(ev.Component)
}
