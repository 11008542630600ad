package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/sdnotify"
)

func init() {
	commands["startup"] = command{summary: "print or --install a systemd unit that runs 'thorp run' (Type=notify, watchdog)", run: cmdStartup}
}

const startupUsage = `startup [-c FILE] [--env PROFILE] [--install] [--user U] [--name NAME] [--unit-path PATH]

Prints a systemd unit that runs 'thorp run -c FILE [--env PROFILE]' (the
profile: --env, else $THORP_ENV of this shell) as a Type=notify service
with a watchdog, Restart=always, KillMode=mixed (systemd signals thorp
only; thorp stops the components in dependency order) and Delegate=yes
(thorp may create cgroups under the unit's: each component process gets
its own, see docs/config.md#cgroups). TimeoutStopSec covers
the slowest ordered stop: the largest kill_timeout of each dependency level,
added up, plus 30s. The unit sets Environment=PATH= to the PATH of the shell
that runs startup (its absolute directories), so a command found there (a
node installed with nvm) is found under systemd too; under sudo, keep it with
'sudo env PATH="$PATH" thorp startup --install'. With --install (as root) it
writes the unit, runs 'systemctl daemon-reload' and
'systemctl enable --now NAME'. Every command it prints names the unit (and
--user, --unit-path) as given.`

// Unit settings that are not computed from the config.
const (
	unitWatchdog   = 30 * time.Second
	unitStopMargin = 30 * time.Second
	unitDir        = "/etc/systemd/system"
)

// Hooks for tests: who we are and whether systemd manages this machine.
var (
	geteuid        = os.Geteuid
	systemdRunning = func() bool {
		fi, err := os.Stat("/run/systemd/system")
		return err == nil && fi.IsDir()
	}
)

func cmdStartup(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("startup", startupUsage, stderr)
	cfgPath := configFlag(fs)
	profileValue := profileFlag(fs)
	install := fs.Bool("install", false, "write the unit and enable it (needs root)")
	runAs := fs.String("user", "", "run thorp as `USER` (User= in the unit)")
	name := fs.String("name", "thorp", "unit `NAME` (without .service)")
	unitPath := fs.String("unit-path", "", "where --install writes the unit (default "+unitDir+"/NAME.service)")
	if pos, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	} else if len(pos) > 0 {
		fmt.Fprintf(stderr, "thorp startup: unexpected argument %q\n", pos[0])
		return exitUsage
	}
	if !validUnitName(*name) {
		fmt.Fprintf(stderr, "thorp startup: --name %q: use letters, digits, '-', '_', '.', '@' only\n", *name)
		return exitUsage
	}
	if *unitPath == "" {
		*unitPath = filepath.Join(unitDir, *name+".service")
	}

	abs, err := filepath.Abs(*cfgPath)
	if err != nil {
		fmt.Fprintf(stderr, "thorp startup: %v\n", err)
		return exitFailed
	}
	cfg, problems := readConfig(abs, activeProfile(*profileValue))
	if cfg == nil {
		printProblems(stderr, problems)
		fmt.Fprintf(stderr, "thorp startup: %s has errors; fix them (thorp check -c %s) first\n", *cfgPath, *cfgPath)
		return exitFailed
	}
	printProblems(stderr, problems.Warnings()) // a profile no component defines
	exe, err := os.Executable()
	if err == nil {
		exe, err = filepath.EvalSymlinks(exe)
	}
	if err != nil {
		fmt.Fprintf(stderr, "thorp startup: cannot find thorp's own path: %v\n", err)
		return exitFailed
	}
	if *runAs != "" {
		if _, err := user.Lookup(*runAs); err != nil {
			fmt.Fprintf(stderr, "warning: user %q: %v; the unit will fail to start until it exists\n", *runAs, err)
		}
	}
	path := unitEnvPath(os.Getenv("PATH"))
	unit := renderUnit(unitParams{
		Exe: exe, Config: cfg.File, Profile: cfg.Profile, Dir: cfg.Dir, User: *runAs, Path: path,
		Watchdog: unitWatchdog, StopTimeout: stopTimeout(cfg),
	})
	installCmd := installCommand(exe, cfg.File, *name, *runAs, *unitPath, unitPathSet(fs))
	if cfg.Profile != "" {
		installCmd += " --env " + cfg.Profile
	}
	pathNote := "the unit sets no PATH: this shell's PATH has no absolute directory"
	if path != "" {
		pathNote = "the unit sets Environment=PATH=" + path + " (this shell's PATH), so the commands this shell finds (a node from nvm, say) are found under systemd too"
	}

	if !*install {
		fmt.Fprint(stdout, unit)
		fmt.Fprintf(stderr, "# %s\n", termSafe(pathNote))
		fmt.Fprintf(stderr, "# install it with: %s (or save it as %s, then systemctl daemon-reload && systemctl enable --now %s)\n",
			termSafe(installCmd), termSafe(shellArg(*unitPath)), *name)
		return exitOK
	}
	if geteuid() != 0 {
		fmt.Fprintf(stderr, "thorp startup --install: writing %s and enabling the unit needs root; run: %s\n",
			termSafe(*unitPath), termSafe(installCmd))
		return exitFailed
	}
	if err := writeFileAtomic(*unitPath, []byte(unit), 0o644); err != nil {
		fmt.Fprintf(stderr, "thorp startup: %v\n", err)
		return exitFailed
	}
	fmt.Fprintf(stdout, "wrote %s; %s\n", termSafe(*unitPath), termSafe(pathNote))
	systemctl, lookErr := exec.LookPath("systemctl")
	if lookErr != nil || !systemdRunning() {
		fmt.Fprintf(stdout, "systemd is not running here; on the target machine run:\n  systemctl daemon-reload\n  systemctl enable --now %s\n", *name)
		return exitOK
	}
	for _, argv := range [][]string{{"daemon-reload"}, {"enable", "--now", *name}} {
		cmd := exec.CommandContext(ctx, systemctl, argv...)
		cmd.Stdout, cmd.Stderr = stdout, stderr
		if err := cmd.Run(); err != nil {
			fmt.Fprintf(stderr, "thorp startup: systemctl %s: %v\n", strings.Join(argv, " "), err)
			return exitFailed
		}
	}
	fmt.Fprintf(stdout, "enabled and started %s; see 'systemctl status %s', 'journalctl -u %s' and 'thorp status -c %s'\n",
		*name, *name, *name, termSafe(shellArg(cfg.File)))
	return exitOK
}

// unitPathSet reports whether --unit-path was given.
func unitPathSet(fs *flag.FlagSet) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == "unit-path" })
	return set
}

// installCommand is the command line that installs the same unit: run
// through sudo with this shell's PATH kept (sudo would reset it), with
// --name, --user and --unit-path as given.
func installCommand(exe, cfgFile, name, runAs, unitPath string, unitPathGiven bool) string {
	args := []string{"sudo", "env", `PATH="$PATH"`, shellArg(exe), "startup", "--install", "-c", shellArg(cfgFile)}
	if name != "thorp" {
		args = append(args, "--name", name)
	}
	if runAs != "" {
		args = append(args, "--user", shellArg(runAs))
	}
	if unitPathGiven {
		args = append(args, "--unit-path", shellArg(unitPath))
	}
	return strings.Join(args, " ")
}

// shellArg quotes s for a POSIX shell when it needs quoting.
func shellArg(s string) string {
	plain := s != "" && !strings.ContainsFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("/._-:=@%+,", r))
	})
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// unitEnvPath returns the PATH a unit gets from the shell's: its absolute
// directories, each once, in order; a relative entry ("", ".") would
// resolve against WorkingDirectory as root, so it is left out.
func unitEnvPath(shellPath string) string {
	var dirs []string
	for _, d := range filepath.SplitList(shellPath) {
		if filepath.IsAbs(d) && !slices.Contains(dirs, d) {
			dirs = append(dirs, d)
		}
	}
	return strings.Join(dirs, string(filepath.ListSeparator))
}

// validUnitName accepts the characters systemd allows in a unit name prefix.
func validUnitName(s string) bool {
	if s == "" || len(s) > 200 {
		return false
	}
	for _, r := range s {
		ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_.@:", r)
		if !ok {
			return false
		}
	}
	return true
}

// writeFileAtomic writes data to path through a temporary file in the same
// directory, so systemd never reads half a unit.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		tmp.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// stopTimeout is how long an ordered stop of cfg can take: levels stop one
// after another, the members of a level in parallel, so it is the sum over
// dependency levels of the level's largest kill_timeout, plus a margin for
// the SIGKILL and the reaping after it.
func stopTimeout(cfg *config.Config) time.Duration {
	levels, err := config.TopoOrder(cfg.Components)
	if err != nil {
		// A validated config has no cycles; be safe and count everything as
		// one level per component.
		levels = nil
		for _, c := range cfg.Components {
			levels = append(levels, []string{c.Name})
		}
	}
	total := unitStopMargin
	for _, level := range levels {
		var longest time.Duration
		for _, name := range level {
			if c := cfg.Component(name); c != nil {
				longest = max(longest, c.KillTimeout)
			}
		}
		total += longest
	}
	return total
}

// unitParams are the values a unit is rendered from.
type unitParams struct {
	Exe, Config, Dir, User string
	// Profile is the env profile thorp runs with (run --env); "" for none.
	Profile string
	// Path is the PATH of the unit's Environment=; "" sets none.
	Path                  string
	Watchdog, StopTimeout time.Duration
}

// renderUnit returns the text of the systemd unit for p.
func renderUnit(p unitParams) string {
	var b strings.Builder
	w := func(format string, a ...any) { fmt.Fprintf(&b, format+"\n", a...) }
	w("# Generated by 'thorp startup' for %s.", p.Config)
	w("# TimeoutStopSec covers the ordered stop: the largest kill_timeout of each")
	w("# dependency level, added up, plus %s.", unitStopMargin)
	w("[Unit]")
	w("Description=thorp process supervisor (%s)", unitEscape(p.Config))
	w("After=network-online.target")
	w("Wants=network-online.target")
	w("")
	w("[Service]")
	w("Type=notify")
	w("NotifyAccess=main")
	if p.Profile != "" {
		w("ExecStart=%s run -c %s --env %s", execArg(p.Exe), execArg(p.Config), execArg(p.Profile))
	} else {
		w("ExecStart=%s run -c %s", execArg(p.Exe), execArg(p.Config))
	}
	w("ExecReload=/bin/kill -HUP $MAINPID")
	w("WorkingDirectory=%s", unitEscape(p.Dir))
	if p.Path != "" {
		w("Environment=%s", envAssign("PATH="+p.Path))
	}
	if p.User != "" {
		w("User=%s", unitEscape(p.User))
	}
	w("Restart=always")
	w("RestartSec=2s")
	w("WatchdogSec=%s", unitSeconds(p.Watchdog))
	w("TimeoutStopSec=%s", unitSeconds(p.StopTimeout))
	w("KillMode=mixed")
	w("# Delegate=yes: thorp puts each component process in a cgroup of its own")
	w("# under the unit's, to find, measure and kill all it starts.")
	w("Delegate=yes")
	w("LimitNOFILE=65536")
	w("")
	w("[Install]")
	w("WantedBy=multi-user.target")
	return b.String()
}

// unitSeconds renders d as whole seconds, rounded up ("37s").
func unitSeconds(d time.Duration) string {
	s := (d + time.Second - 1) / time.Second
	return fmt.Sprintf("%ds", s)
}

// unitEscape escapes systemd's specifier character.
func unitEscape(s string) string { return strings.ReplaceAll(s, "%", "%%") }

// envAssign quotes one Environment= assignment: '%' is escaped (systemd
// expands specifiers there, not '$'), and an assignment with spaces, quotes
// or backslashes is double-quoted.
func envAssign(s string) string {
	s = unitEscape(s)
	if !strings.ContainsAny(s, " \t\"'\\") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// execArg quotes one ExecStart= argument: '%' and '$' are escaped, and an
// argument with spaces, quotes or backslashes is double-quoted.
func execArg(s string) string {
	s = strings.NewReplacer("%", "%%", "$", "$$").Replace(s)
	if s != "" && !strings.ContainsAny(s, " \t\"'\\;") {
		return s
	}
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// systemdLink connects 'thorp run' to systemd when it runs under a
// Type=notify unit: READY=1 once the components have started, a STATUS=
// line that follows their states, WATCHDOG=1 while the supervisor answers,
// and STOPPING=1 on shutdown. Without $NOTIFY_SOCKET it does nothing. It
// is the daemon's Notifier: the daemon runs it and calls the other methods,
// which are safe for concurrent use.
type systemdLink struct {
	n   *sdnotify.Notifier
	log *slog.Logger
}

// readyCap bounds the wait for components before READY=1 is sent anyway:
// thorp itself is up, and a component stuck in starting must not make
// systemd kill thorp at TimeoutStartSec (90s by default).
const readyCap = 60 * time.Second

// newSystemdLink returns the link for n (sdnotify.FromEnv reads
// NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID).
func newSystemdLink(n *sdnotify.Notifier, log *slog.Logger) *systemdLink {
	return &systemdLink{n: n, log: log}
}

// Run follows sup (it waits for sup.Started) and pings the watchdog until
// ctx ends, then returns once both have stopped.
func (l *systemdLink) Run(ctx context.Context, sup *engine.Supervisor) {
	if !l.n.Enabled() {
		return
	}
	l.log.Info("systemd notification enabled", "socket", l.n.Socket(), "watchdog", l.n.WatchdogInterval())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		l.follow(ctx, sup)
	}()
	go func() {
		defer wg.Done()
		l.n.RunWatchdog(ctx, func() bool { return supervisorAnswers(ctx, sup, l.n.WatchdogInterval()/4) })
	}()
	wg.Wait()
}

// follow sends READY=1 once no component is starting (or after readyCap),
// and keeps STATUS= up to date until ctx ends.
func (l *systemdLink) follow(ctx context.Context, sup *engine.Supervisor) {
	select {
	case <-sup.Started():
	case <-ctx.Done():
		return
	}
	capTimer := time.NewTimer(readyCap)
	defer capTimer.Stop()
	ready, last := false, ""
	for {
		changed := sup.WaitEvent() // before reading, so no change is missed
		comps := sup.Status()
		summary := statusSummary(comps)
		if !ready && !settled(comps) {
			summary = "starting: " + summary
		}
		if summary != last {
			last = summary
			_ = l.n.Status(summary)
		}
		if !ready && settled(comps) {
			ready = true
			if err := l.n.Ready(); err != nil {
				l.log.Warn("systemd READY=1 failed", "err", err)
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-changed:
		case <-capTimer.C:
			if !ready {
				ready = true
				l.log.Warn("components still starting; telling systemd thorp is ready anyway", "after", readyCap)
				_ = l.n.Ready()
			}
		}
	}
}

// Stopping tells systemd that thorp is shutting down.
func (l *systemdLink) Stopping() {
	if !l.n.Enabled() {
		return
	}
	_ = l.n.Stopping()
	_ = l.n.Status("stopping components in reverse dependency order")
}

// Reloading tells systemd that a config reload has begun; Reloaded that it
// is over (applied or rejected) and thorp is ready again.
func (l *systemdLink) Reloading() {
	if l.n.Enabled() {
		_ = l.n.Reloading()
	}
}

// Reloaded: see Reloading.
func (l *systemdLink) Reloaded() {
	if l.n.Enabled() {
		_ = l.n.Ready()
	}
}

// supervisorAnswers reports whether sup returns its status within limit;
// a wedged supervisor (a lock never released) misses the watchdog and
// systemd restarts thorp. A wedged call's goroutine stays behind, which is
// moot since thorp is about to be killed.
func supervisorAnswers(ctx context.Context, sup *engine.Supervisor, limit time.Duration) bool {
	done := make(chan struct{})
	go func() {
		sup.Status()
		close(done)
	}()
	t := time.NewTimer(max(limit, 100*time.Millisecond))
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C:
		return false
	case <-ctx.Done():
		return false
	}
}

// settled reports whether no component is starting or stopping: thorp's
// start (or a reload) is over, whatever each component ended as. A
// component waiting only for stopped dependencies (or for ones that wait
// so) is not starting: it waits for someone to start them.
func settled(comps []engine.Status) bool {
	// parked: stopped, or waiting only for parked dependencies (those of
	// an autostart = false component wait until someone starts it).
	parked := map[string]bool{}
	for _, c := range comps {
		parked[c.Name] = c.State == engine.StateStopped
	}
	for changed := true; changed; { // each round parks one more, or ends
		changed = false
		for _, c := range comps {
			if !parked[c.Name] && c.State == engine.StateStarting && len(c.WaitingFor) > 0 &&
				!slices.ContainsFunc(c.WaitingFor, func(d string) bool { return !parked[d] }) {
				parked[c.Name], changed = true, true
			}
		}
	}
	return !slices.ContainsFunc(comps, func(c engine.Status) bool {
		return c.State == engine.StateStopping || c.State == engine.StateStarting && !parked[c.Name]
	})
}

// statusSummary is the one line systemctl status shows: "3 components: 2
// running, 1 backoff".
func statusSummary(comps []engine.Status) string {
	order := []engine.State{engine.StateRunning, engine.StateStarting, engine.StateBackoff,
		engine.StateErrored, engine.StateStopping, engine.StateStopped}
	count := map[engine.State]int{}
	for _, c := range comps {
		count[c.State]++
	}
	var parts []string
	for _, s := range order {
		if count[s] > 0 {
			parts = append(parts, fmt.Sprintf("%d %s", count[s], s))
		}
	}
	if len(parts) == 0 {
		return "no components"
	}
	return fmt.Sprintf("%d components: %s", len(comps), strings.Join(parts, ", "))
}
