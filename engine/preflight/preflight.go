// Package preflight runs the host checks of `thorp check` that a config can
// pass decoding and still fail at run time: missing or non-executable
// commands, an interpreter's missing script (node server.js without
// server.js), missing working directories, unwritable log directories, unknown
// users, busy, privileged or twice-used addresses and low disk space.
//
// Check starts nothing and leaves nothing behind: it may create and remove a
// probe file in an existing log directory and briefly bind a TCP port to see
// whether it is free. It keeps no state; concurrent calls are safe, though
// two calls probing the same port at the same instant may see each other.
package preflight

import (
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/fswatch"
)

// Options tune Check.
type Options struct {
	// HeldBySelf reports whether an address is held by the running thorp
	// of this same config: a TCP "host:port" (as written in the config
	// without any "tcp://") or a "unix:///path" socket (the control
	// socket, unix:// sockets); such an address is not busy. May be nil.
	HeldBySelf func(addr string) bool
	// HeldBy names what holds a busy TCP "host:port", when it can tell
	// (another thorp: "another thorp (pid 123, config /srv/thorp.lua)"),
	// for the busy-port problem; "" when it cannot. May be nil.
	HeldBy func(addr string) string
	// Env is the environment thorp would run with (for PATH); nil means
	// os.Environ().
	Env []string
	// File is the config file's name as the operator gave it, used in
	// problems; "" means cfg.File.
	File string
	// SkipSettings leaves out the host checks of the settings (the HTTP
	// address, control socket, state file and thorp's log directory), for
	// settings that have errors of their own; the components are checked.
	SkipSettings bool
}

// Check inspects the host for problems a valid config would still hit at
// run time and returns them all, errors and warnings, settings first, then
// components in declaration order. A log directory that does not exist yet
// is fine when thorp can create it (its nearest existing parent is a
// writable directory). Check is safe for concurrent use.
func Check(cfg *config.Config, opts Options) config.Problems {
	c := newChecker(cfg, opts)
	if !opts.SkipSettings {
		c.checkSettings()
	}
	for i := range cfg.Components {
		c.checkComponent(&cfg.Components[i])
	}
	return c.problems
}

// CheckFiles applies only the files rule of Check, the one thorp run
// applies before it opens or binds anything: every unix socket path thorp
// binds (settings.control, unix:// sockets) holds nothing or a socket
// nothing answers on (engine/sockfile), and no log file (thorp.log, each
// component's output and error logs) is a symlink or anything but a
// regular file. Its errors are Check's, at the same lines and keys.
func CheckFiles(cfg *config.Config, opts Options) config.Problems {
	c := newChecker(cfg, opts)
	c.checkSettingsFiles()
	for i := range cfg.Components {
		c.checkComponentFiles(&cfg.Components[i])
	}
	return c.problems
}

// checker collects the problems of one Check call.
type checker struct {
	cfg      *config.Config
	opts     Options
	file     string
	problems config.Problems
	// dirs are the directories already checked for writing.
	dirs map[string]bool
	// logDirs are the log directories already checked.
	logDirs map[string]bool
	// binds maps a TCP host:port or a "unix://path" to who in the config
	// listens on it.
	binds map[string]string
}

func newChecker(cfg *config.Config, opts Options) *checker {
	if opts.Env == nil {
		opts.Env = os.Environ()
	}
	c := &checker{cfg: cfg, opts: opts, file: opts.File, dirs: map[string]bool{}, logDirs: map[string]bool{}, binds: map[string]string{}}
	if c.file == "" {
		c.file = cfg.File
	}
	return c
}

func (c *checker) add(line int, component, key, msg string, warning bool) {
	file := c.file
	if comp := c.cfg.Component(component); comp != nil {
		file = config.ProblemFile(file, comp.File)
	}
	c.problems = append(c.problems, config.Problem{
		File: file, Line: line, Component: component, Key: key, Message: msg, Warning: warning,
	})
}

func (c *checker) checkSettings() {
	s := c.cfg.Settings
	line := s.Line
	errf := func(key, msg string) { c.add(line, "", key, msg, false) }
	if s.HTTP != "" {
		if msg := c.checkBind(s.HTTP, "settings.http"); msg != "" {
			errf("http", msg)
		}
		if !isLoopback(s.HTTP) && s.Token == "" {
			c.add(line, "", "http", "listens on "+s.HTTP+", beyond loopback, without settings.token: anyone who can reach it can read status and logs (mutations stay disabled)", true)
		}
	}
	if msg := checkSocketPath(s.Control); msg != "" {
		errf("control", msg)
	}
	if msg := c.checkWritableDir(parentDir(s.Control)); msg != "" {
		errf("control", msg)
	}
	if msg := c.checkWritableDir(parentDir(s.State)); msg != "" {
		errf("state", msg)
	}
	c.checkLogDir(s.Logs.Dir, line, "")
	if msg := checkPluginPath(s.Plugins.Path); msg != "" {
		errf("plugins.path", msg)
	}
	for _, prog := range s.Plugins.AllowExec {
		if msg := checkExecutable(prog); msg != "" {
			c.add(line, "", "plugins.allow_exec", msg+"; thorp.exec of it will fail", true)
		}
	}
	c.checkSettingsFiles()
}

// checkSettingsFiles applies the files rule to the control socket and
// thorp's own log.
func (c *checker) checkSettingsFiles() {
	s := c.cfg.Settings
	if checkSocketPath(s.Control) == "" {
		if msg := c.checkSocketFile(s.Control); msg != "" {
			c.add(s.Line, "", "control", msg, false)
		}
	}
	if msg := checkLogFile(filepath.Join(s.Logs.Dir, "thorp.log")); msg != "" {
		c.add(s.Line, "", "logs", msg, false)
	}
}

// checkComponentFiles applies the files rule to a component's log files
// and unix:// sockets.
func (c *checker) checkComponentFiles(comp *config.Component) {
	errf := func(key, msg string) { c.add(comp.Line, comp.Name, key, msg, false) }
	c.checkComponentLogs(comp, errf)
	for _, name := range slices.Sorted(maps.Keys(comp.Sockets)) {
		if path, ok := strings.CutPrefix(comp.Sockets[name], "unix://"); ok {
			if msg := c.checkSocketFile(path); msg != "" {
				errf("sockets."+name, msg)
			}
		}
	}
	if comp.Proxy != nil {
		if path, ok := strings.CutPrefix(comp.Proxy.Listen, "unix://"); ok {
			msg := checkSocketPath(path)
			if msg == "" {
				msg = c.checkSocketFile(path)
			}
			if msg != "" {
				errf("proxy.listen", msg)
			}
		}
	}
}

func (c *checker) checkComponent(comp *config.Component) {
	errf := func(key, msg string) { c.add(comp.Line, comp.Name, key, msg, false) }
	cwdErr := checkCwd(comp.Cwd)
	if cwdErr != "" {
		errf("cwd", cwdErr)
	}
	if msg := checkCommand(comp, c.opts.Env); msg != "" {
		errf("command", msg)
	}
	if cwdErr == "" {
		if msg := checkScript(comp, c.opts.Env); msg != "" {
			errf("command", msg)
		}
	}
	c.checkIdentities(comp)
	c.checkLogDir(comp.Logs.Dir, comp.Line, comp.Name)
	for _, kf := range [][2]string{{"log_file", comp.LogFile}, {"error_file", comp.ErrorFile}} {
		if kf[1] == "" {
			continue
		}
		if msg := c.checkWritableDir(parentDir(kf[1])); msg != "" {
			errf(kf[0], msg)
		}
	}
	c.checkComponentFiles(comp)
	for _, name := range slices.Sorted(maps.Keys(comp.Sockets)) {
		if msg := c.checkAddr(comp.Sockets[name], "component "+quote(comp.Name)+" socket "+quote(name)); msg != "" {
			errf("sockets."+name, msg)
		}
	}
	if comp.Proxy != nil {
		if msg := c.checkAddr(comp.Proxy.Listen, "component "+quote(comp.Name)+" proxy"); msg != "" {
			errf("proxy.listen", msg)
		}
	}
	if w := comp.Watch; w != nil {
		err := fswatch.Check(fswatch.Options{Paths: w.Paths, Ignore: w.Ignore, Base: comp.Cwd, MaxDirs: config.MaxWatchDirs})
		if err != nil {
			errf("watch.paths", strings.TrimPrefix(err.Error(), "watch: "))
		}
	}
}

// Identities returns the errors of every component's user and group: the
// host rule that `thorp run` and a reload apply before starting anything,
// so that run refuses what check rejects instead of starting components
// that can only fail (Check reports the same problems among the others).
// file names the config in problems; "" means cfg.File. It is safe for
// concurrent use.
func Identities(cfg *config.Config, file string) config.Problems {
	c := &checker{cfg: cfg, file: file}
	if c.file == "" {
		c.file = cfg.File
	}
	for i := range cfg.Components {
		c.checkIdentities(&cfg.Components[i])
	}
	return c.problems
}

// checkIdentities adds the problems of comp's user and group.
func (c *checker) checkIdentities(comp *config.Component) {
	for _, key := range []string{"user", "group"} {
		if msg := checkIdentity(key, comp.User, comp.Group); msg != "" {
			c.add(comp.Line, comp.Name, key, msg, false)
		}
	}
}

// checkLogDir checks a log directory once, with the disk-space warning.
func (c *checker) checkLogDir(dir string, line int, component string) {
	if dir == "" || c.logDirs[dir] {
		return
	}
	c.logDirs[dir] = true
	if msg := c.checkWritableDir(dir); msg != "" {
		c.add(line, component, "logs.dir", msg, false)
		return
	}
	if msg := checkDiskSpace(dir); msg != "" {
		c.add(line, component, "logs.dir", msg, true)
	}
}
