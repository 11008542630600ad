package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/daemon"
	"github.com/thorp-dev/thorp/rotate"
)

func init() {
	commands["logs"] = command{summary: "show and follow component logs, across rotations (works without a running thorp)", run: cmdLogs}
	commands["rotate"] = command{summary: "rotate components' logs now", run: cmdRotate}
	commands["flush"] = command{summary: "empty components' current log files (rotated files are kept)", run: cmdFlush}
}

const logsUsage = `logs [-c FILE] [NAME...|@TAG...|thorp] [-n|--lines 100] [-f] [--out|--err] [--since 10m]

Prints the last lines of the components' logs (all components when no name
is given), both streams merged by time unless --out or --err is given, each
line prefixed with its component and stream when more than one file is
shown. The name thorp (when no component has it) is thorp's own log,
logs/thorp.log. With -f it keeps printing new lines, across rotations,
until Ctrl-C.

--since takes a duration back from now (90m, 1h30m, 2d), a date
(2026-11-27, local midnight), a local date and time (2026-11-27 10:00) or
an RFC 3339 time (2026-11-27T10:00:00Z). It selects by the lines'
timestamps: a log written with logs.timestamps = false has none, which
thorp logs says on stderr before showing that log's last lines instead.
It reads the files directly, so it works whether or not thorp is running.
The lines are printed as the components wrote them, escape sequences
included (colour output stays colour, as with tail or PM2); pipe through
'less' or 'cat -v' to see a component's output you do not trust.`

// logSource is one log file to show.
type logSource struct {
	prefix string
	path   string
	// untimed: the lines carry no timestamp (logs.timestamps = false with
	// the text format), so --since cannot select among them.
	untimed bool
}

// sinceFlag is --since: the time from which lines are shown.
type sinceFlag struct{ t time.Time }

func (f *sinceFlag) String() string {
	if f.t.IsZero() {
		return ""
	}
	return f.t.Format(time.RFC3339)
}

func (f *sinceFlag) Set(s string) error {
	t, err := parseSince(s, time.Now())
	f.t = t
	return err
}

// parseSince reads --since relative to now: a Go duration (90m, 1h30m), a
// number of days (2d), RFC 3339, a date (local midnight) or a local date
// and time to the minute or second.
func parseSince(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if days, ok := strings.CutSuffix(s, "d"); ok {
		if n, err := strconv.ParseFloat(days, 64); err == nil && n >= 0 && n <= 100*365 {
			return now.Add(-time.Duration(n * 24 * float64(time.Hour))), nil
		}
	}
	if d, err := time.ParseDuration(s); err == nil && d >= 0 {
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{time.DateOnly, "2006-01-02 15:04", time.DateTime, "2006-01-02T15:04", "2006-01-02T15:04:05"} {
		if t, err := time.ParseInLocation(layout, s, time.Local); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%q is not a time: give a duration back from now (90m, 2d), a date (2026-11-27), a date and time (\"2026-11-27 10:00\") or RFC 3339", s)
}

func cmdLogs(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("logs", logsUsage, stderr)
	cfgPath := configFlag(fs)
	n := fs.Int("n", 100, "how many lines to show (0 with -f: only new lines)")
	fs.IntVar(n, "lines", 100, "same as -n")
	follow := fs.Bool("f", false, "follow: keep printing new lines until Ctrl-C")
	onlyOut := fs.Bool("out", false, "only stdout")
	onlyErr := fs.Bool("err", false, "only stderr")
	var since sinceFlag
	fs.Var(&since, "since", "only lines from this time: 90m, 2d, 2026-11-27, \"2026-11-27 10:00\" or RFC 3339")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if *onlyOut && *onlyErr {
		fmt.Fprintln(stderr, "thorp logs: give --out or --err, not both")
		return exitUsage
	}
	cfg, problems := readConfig(*cfgPath, activeProfile(""))
	if cfg == nil {
		printProblems(stderr, problems.Errors())
		fmt.Fprintf(stderr, "thorp logs: cannot read %s, so the log paths are unknown; fix the errors above\n", *cfgPath)
		return exitFailed
	}
	sources, err := logSources(cfg, names, !*onlyErr, !*onlyOut)
	if err != nil {
		fmt.Fprintf(stderr, "thorp logs: %s\n", termSafeErr(err))
		return exitFailed // an unknown name, as everywhere
	}
	if len(sources) == 1 {
		sources[0].prefix = ""
	}

	cutoff := since.t
	nSet := fsSet(fs, "n") || fsSet(fs, "lines")
	want := *n
	if !cutoff.IsZero() && !nSet {
		want = 1 << 20 // --since alone: every line in the window
	}
	var lines []timedLine
	for i, src := range sources {
		srcWant, srcCutoff := want, cutoff
		if src.untimed && !cutoff.IsZero() {
			srcWant, srcCutoff = *n, time.Time{}
			fmt.Fprintf(stderr, "thorp logs: %s has no timestamps (logs.timestamps = false), so --since cannot select its lines; showing its last %d\n",
				termSafe(src.path), srcWant)
		}
		got, err := rotate.Tail(src.path, srcWant)
		if err != nil && !errors.Is(err, os.ErrNotExist) {
			fmt.Fprintf(stderr, "thorp logs: %s\n", termSafeErr(err))
			continue
		}
		for j, l := range got {
			t, ok := rotate.ParseTime(l)
			if !srcCutoff.IsZero() && (!ok || t.Before(srcCutoff)) {
				continue
			}
			lines = append(lines, timedLine{t: t, src: i, seq: j, text: src.prefix + l})
		}
	}
	// Merge by time; lines without a time keep their place within their file.
	sort.SliceStable(lines, func(a, b int) bool {
		if lines[a].src == lines[b].src {
			return lines[a].seq < lines[b].seq
		}
		return lines[a].t.Before(lines[b].t)
	})
	if want >= 0 && len(lines) > want {
		lines = lines[len(lines)-want:]
	}
	for _, l := range lines {
		fmt.Fprintln(stdout, l.text)
	}
	if !*follow {
		return exitOK
	}

	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := rotate.Follow(ctx, src.path, -1, func(line string) {
				mu.Lock()
				fmt.Fprintln(stdout, src.prefix+line)
				mu.Unlock()
			})
			if err != nil {
				mu.Lock()
				fmt.Fprintf(stderr, "thorp logs: %s\n", termSafeErr(err))
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return exitOK
}

type timedLine struct {
	t    time.Time
	src  int
	seq  int
	text string
}

// logSources lists the files of the named components (all when none);
// the name thorp, when no component has it, is thorp's own log.
func logSources(cfg *config.Config, names []string, out, errs bool) ([]logSource, error) {
	var comps []*config.Component
	var own []logSource
	if len(names) == 0 {
		for i := range cfg.Components {
			comps = append(comps, &cfg.Components[i])
		}
	}
	var rest []string
	for _, n := range names {
		if n == "thorp" && cfg.Component(n) == nil {
			own = append(own, logSource{prefix: "thorp | ", path: filepath.Join(cfg.Settings.Logs.Dir, "thorp.log")})
			continue
		}
		rest = append(rest, n)
	}
	if len(rest) > 0 {
		sel, unknown := cfg.Select(rest)
		if len(unknown) > 0 {
			return nil, fmt.Errorf("%w %s; known: %s", engine.ErrUnknownComponent, strings.Join(unknown, ", "), strings.Join(cfg.Known(), ", "))
		}
		for _, n := range sel {
			comps = append(comps, cfg.Component(n))
		}
	}
	out2 := own
	seen := map[string]bool{}
	var untimed bool
	add := func(prefix, path string) {
		if !seen[path] {
			seen[path] = true
			out2 = append(out2, logSource{prefix: prefix, path: path, untimed: untimed})
		}
	}
	for _, c := range comps {
		untimed = !c.Logs.Timestamps && c.Logs.Format != "json"
		for _, i := range logInstances(c) {
			name := c.Name
			if c.PerInstanceLogs() {
				name = fmt.Sprintf("%s#%d", c.Name, i)
			}
			if c.MergeLogs {
				add(name+" | ", c.OutLogFor(i))
				continue
			}
			if out {
				add(name+"/out | ", c.OutLogFor(i))
			}
			if errs {
				add(name+"/err | ", c.ErrLogFor(i))
			}
		}
	}
	return out2, nil
}

// logInstances are the instances whose files logSources lists: 0 alone
// when every instance shares the component's files; with {instance} in a
// path, those the config declares and any other (a scaled one) whose file
// exists.
func logInstances(c *config.Component) []int {
	if !c.PerInstanceLogs() {
		return []int{0}
	}
	var is []int
	for i := range config.MaxInstances {
		if i < c.Instances || exists(c.OutLogFor(i)) || exists(c.ErrLogFor(i)) {
			is = append(is, i)
		}
	}
	return is
}

// exists reports whether something is at path (a link is not followed).
func exists(path string) bool {
	_, err := os.Lstat(path)
	return err == nil
}

// fsSet reports whether the flag called name was given.
func fsSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) {
		if f.Name == name {
			set = true
		}
	})
	return set
}

func cmdRotate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return logAction(ctx, "rotate", args, stdout, stderr, (*api.Client).Rotate)
}

func cmdFlush(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return logAction(ctx, "flush", args, stdout, stderr, (*api.Client).Flush)
}

func logAction(ctx context.Context, action string, args []string, stdout, stderr io.Writer,
	do func(*api.Client, context.Context, []string) error) int {
	fs := newFlags(action, action+" [-c FILE] [NAME...|@TAG...|all]", stderr)
	cfgPath := configFlag(fs)
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	err = do(clientFor(*cfgPath), ctx, names)
	if errors.Is(err, api.ErrNotRunning) && action == "flush" {
		// Without a running thorp, flush empties the files itself.
		return flushOffline(*cfgPath, names, stdout, stderr)
	}
	if err != nil {
		return clientExit(stderr, err)
	}
	what := "all components"
	if len(names) > 0 {
		what = termSafe(strings.Join(names, ", "))
	}
	fmt.Fprintf(stdout, "%s: done for %s\n", action, what)
	return exitOK
}

func flushOffline(cfgPath string, names []string, stdout, stderr io.Writer) int {
	cfg, problems := readConfig(cfgPath, activeProfile(""))
	if cfg == nil {
		printProblems(stderr, problems.Errors())
		return exitFailed
	}
	if pid, held := daemon.LockHolder(cfg.Settings.Control); held {
		// It holds the files open: only it may empty them.
		fmt.Fprintf(stderr, "thorp flush: a thorp (pid %d) runs this config but does not answer on %s; try again once it does\n", pid, cfg.Settings.Control)
		return exitFailed
	}
	sources, err := logSources(cfg, names, true, true)
	if err != nil {
		fmt.Fprintf(stderr, "thorp flush: %s\n", termSafeErr(err))
		return exitUsage
	}
	code := exitOK
	var done []string
	for _, s := range sources {
		if err := rotate.Empty(s.path); err != nil {
			fmt.Fprintf(stderr, "thorp flush: %s\n", termSafeErr(err))
			code = exitFailed
			continue
		}
		done = append(done, s.path)
	}
	slices.Sort(done)
	fmt.Fprintf(stdout, "flush: no thorp is running; emptied %d file(s) directly\n", len(done))
	return code
}
