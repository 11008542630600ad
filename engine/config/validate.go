package config

import (
	"fmt"
	"maps"
	"net"
	"net/url"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/thorp-dev/thorp/rotate"
)

// nameRE is what a component (or socket) name must look like.
var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]{0,62}$`)

// ValidName reports whether s may name a component or a socket: 1 to 63
// letters, digits, '_' or '-', starting with a letter or digit (names
// become file names and metric labels). It is safe for concurrent use.
func ValidName(s string) bool { return nameRE.MatchString(s) }

// minWatchDelay is the shortest watch.delay.
const minWatchDelay = 10 * time.Millisecond

// minMemoryLimit is the smallest max_memory_restart that does not draw a warning.
const minMemoryLimit = MiB

func (d *decoder) validateSettings(s *Settings) {
	line := d.raw.SettingsLine
	failed := d.failedKeys("", 0)
	bad := func(key, format string, args ...any) {
		if !failed[key] {
			d.settingsError(line, key, fmt.Sprintf(format, args...))
		}
	}
	if s.HTTP != "" {
		if msg := checkHostPort(s.HTTP); msg != "" {
			bad("http", `%s (use "host:port" like "127.0.0.1:9615", or "" to turn the server off)`, msg)
		}
	}
	if msg := checkToken(s.Token); msg != "" {
		bad("token", "%s", msg)
	}
	for _, h := range s.HTTPHosts {
		if msg := checkHTTPHost(h); msg != "" {
			bad("http_hosts", "%s", msg)
		}
	}
	if s.Control == "" {
		bad("control", "must not be empty; the CLI talks to thorp over this unix socket")
	}
	if s.State == "" {
		bad("state", "must not be empty")
	}
	for _, ke := range checkLogs(s.Logs, func(string) bool { return true }) {
		bad(ke.key, "%s", ke.msg)
	}
	if s.Plugins.Timeout <= 0 {
		bad("plugins.timeout", "must be more than 0")
	}
	if s.Plugins.MaxFailures < 1 {
		bad("plugins.max_failures", "must be at least 1, got %d", s.Plugins.MaxFailures)
	}
	if msg := checkPluginMemory(s.Plugins.MaxMemory); msg != "" {
		bad("plugins.max_memory", "%s", msg)
	}
	if s.Plugins.Path == "" {
		bad("plugins.path", `must not be empty; it is the directory of plugin files and modules (default "plugins", beside thorp.lua)`)
	}
	for _, h := range s.Plugins.AllowHosts {
		if msg := checkAllowHost(h); msg != "" {
			bad("plugins.allow_hosts", "%s", msg)
		}
	}
	for _, p := range s.Plugins.AllowExec {
		if msg := checkAllowExec(p); msg != "" {
			bad("plugins.allow_exec", "%s", msg)
		}
	}
	validateAlerts(s.Alerts, bad)
	if s.MetricsPush.URL != "" {
		if msg := checkHTTPURL(s.MetricsPush.URL); msg != "" {
			bad("metrics_push.url", "%s", msg)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(s.MetricsPush.Labels)) {
		if msg := checkPushLabel(name); msg != "" {
			bad("metrics_push.labels", "%s", msg)
		}
	}
	if s.MetricsPush.Interval < time.Second {
		bad("metrics_push.interval", "%s is too short; use at least 1s", s.MetricsPush.Interval)
	}
}

// checkLogs validates log settings; has reports whether a key was set at
// this level (a component reports only the keys it overrides).
func checkLogs(l LogSettings, has func(key string) bool) []keyError {
	var out []keyError
	bad := func(key, format string, args ...any) {
		if has(key) {
			out = append(out, keyError{key: "logs." + key, msg: fmt.Sprintf(format, args...)})
		}
	}
	if l.Dir == "" {
		bad("dir", "must not be empty")
	}
	if strings.Contains(l.Dir, InstanceToken) {
		bad("dir", "%s is for a component's log_file and error_file, not the logs directory", InstanceToken)
	}
	// rotate.CheckRotate is the rule; "" (rotate's zero value) is no
	// spelling a thorp.lua should use for "none".
	if l.Rotate == "" || rotate.CheckRotate(l.Rotate) != nil {
		bad("rotate", `%q is not a rotation (use "daily", "hourly", "none" or a duration of at least %s like "6h")`,
			l.Rotate, strings.TrimSuffix(rotate.MinInterval.String(), "0s"))
	}
	switch l.Format {
	case "text", "json":
	default:
		bad("format", `%q is not a log format (use "text" or "json")`, l.Format)
	}
	switch l.Overflow {
	case "block", "drop":
	default:
		bad("overflow", `%q is not an overflow policy (use "block" or "drop")`, l.Overflow)
	}
	if l.MaxSize != 0 && l.MaxSize < 1000 {
		bad("max_size", `%s is too small (use 0 to turn size rotation off, or at least "1KB")`, l.MaxSize)
	}
	if l.MaxLine < KiB {
		bad("max_line", `%s is too small (use at least "1KiB")`, l.MaxLine)
	}
	if l.RetainDays < 0 {
		bad("retain_days", "must be 0 or more, got %d", l.RetainDays)
	}
	if l.RetainFiles < 0 {
		bad("retain_files", "must be 0 or more, got %d", l.RetainFiles)
	}
	return out
}

// validateComponent checks one decoded component on its own.
//
// kill_timeout must be more than 0: a stop always gives the process a chance
// to exit on the stop signal before the group is killed.
func (d *decoder) validateComponent(c *Component, rc RawComponent) {
	failed := d.failedKeys(c.Name, c.Line)
	bad := func(key, format string, args ...any) {
		if !failed[key] {
			d.errorf(c.Line, c.Name, key, format, args...)
		}
	}
	has := func(key string) bool { _, ok := rc.Values[key]; return ok }

	switch c.Autorestart {
	case AutorestartAlways, AutorestartOnFailure, AutorestartNever:
	default:
		bad("autorestart", `%q is not an autorestart mode (use "always", "on-failure", "never", true or false)`, c.Autorestart)
	}
	if c.MaxRestarts < 0 {
		bad("max_restarts", "must be 0 or more, got %d", c.MaxRestarts)
	}
	var badCodes []string
	for _, code := range c.StopExitCodes {
		if code < 0 || code > 255 {
			badCodes = append(badCodes, strconv.Itoa(code))
		}
	}
	if len(badCodes) > 0 {
		bad("stop_exit_codes", "%s: exit codes are 0..255", strings.Join(badCodes, ", "))
	}
	if c.KillTimeout <= 0 {
		bad("kill_timeout", "must be more than 0 (the process gets this long after the stop signal before SIGKILL)")
	}
	if c.MemoryInterval < 100*time.Millisecond {
		bad("memory_interval", "%s is too short; use at least 100ms", c.MemoryInterval)
	}
	if c.MemorySamples < 1 {
		bad("memory_samples", "must be at least 1, got %d", c.MemorySamples)
	}
	switch c.MemoryMeasure {
	case "rss", "pss", "cgroup":
	default:
		bad("memory_measure", `%q is not a memory measure (use "rss", "pss" or "cgroup")`, c.MemoryMeasure)
	}
	if c.MemoryHigh > 0 {
		if c.MemoryHigh < minMemoryLimit {
			bad("memory_high", "%s is below %s; the component would be throttled from its start", c.MemoryHigh, minMemoryLimit)
		} else if c.MaxMemoryRestart > 0 && c.MemoryHigh >= c.MaxMemoryRestart {
			d.warnf(c.Line, c.Name, "memory_high", "%s is not below max_memory_restart (%s): the restart comes before any throttling", c.MemoryHigh, c.MaxMemoryRestart)
		}
	}
	if c.MaxMemoryRestart > 0 {
		if c.MaxMemoryRestart < minMemoryLimit {
			d.warnf(c.Line, c.Name, "max_memory_restart", "%s is below %s; the component would be restarted almost as soon as it starts", c.MaxMemoryRestart, minMemoryLimit)
		} else if total, err := hostMemory(); err == nil && total > 0 && c.MaxMemoryRestart > total {
			d.warnf(c.Line, c.Name, "max_memory_restart", "%s is more than this host's memory (%s); the limit can never be reached", c.MaxMemoryRestart, total)
		}
	}
	for _, name := range slices.Sorted(maps.Keys(c.Sockets)) {
		addr := c.Sockets[name]
		if !nameRE.MatchString(name) {
			bad("sockets."+name, "not a valid socket name (letters, digits, '_' and '-'; 1 to 63 characters)")
		} else if msg := checkSocketAddr(addr); msg != "" {
			bad("sockets."+name, "%s", msg)
		}
	}
	if health, ok := rc.Values["health"].(map[string]any); ok {
		if _, ok := health["http"]; !ok {
			bad("health.http", `is required in a health table (e.g. "http://127.0.0.1:8080/health")`)
		}
		if h := c.Health; h != nil {
			if _, ok := health["http"]; ok {
				if msg := checkHTTPURL(h.HTTP); msg != "" {
					bad("health.http", "%s", msg)
				}
			}
			if h.Interval <= 0 {
				bad("health.interval", "must be more than 0")
			}
			if h.Timeout <= 0 {
				bad("health.timeout", "must be more than 0")
			}
			if h.Failures < 1 {
				bad("health.failures", "must be at least 1, got %d", h.Failures)
			}
		}
	}
	if c.ListenTimeout <= 0 {
		bad("listen_timeout", "must be more than 0")
	}
	if has("watchdog") && c.Watchdog <= 0 {
		bad("watchdog", "must be more than 0 (leave it out to turn the watchdog off)")
	}
	switch c.RestartMode {
	case "stop-start", "overlap":
	default:
		bad("restart_mode", `%q is not a restart mode (use "stop-start" or "overlap")`, c.RestartMode)
	}
	if c.CronRestart != "" {
		if _, err := cron.ParseStandard(c.CronRestart); err != nil {
			bad("cron_restart", `%q is not a cron schedule: %v (use 5 fields like "0 3 * * *" or a descriptor like "@daily")`, c.CronRestart, err)
		}
	}
	for _, t := range c.Tags {
		if !nameRE.MatchString(t) {
			bad("tags", "%q is not a valid tag (letters, digits, '_' and '-'; 1 to 63 characters, starting with a letter or digit, like component names)", t)
		}
	}
	if w := c.Watch; w != nil {
		if len(w.Paths) == 0 {
			bad("watch.paths", `must name at least one path (e.g. { "src" }; leave watch out to watch nothing)`)
		}
		for _, p := range w.Paths {
			if strings.TrimSpace(p) == "" {
				bad("watch.paths", "must not contain an empty path")
			}
		}
		for _, p := range w.Ignore {
			if strings.TrimSpace(p) == "" {
				bad("watch.ignore", "must not contain an empty pattern")
			} else if _, err := path.Match(p, ""); err != nil {
				bad("watch.ignore", "%q is not a valid glob: %v", p, err)
			}
		}
		if w.Delay < minWatchDelay {
			bad("watch.delay", "%s is too short; use at least %s", w.Delay, minWatchDelay)
		}
	}
	validateLimits(c, bad)
	validateProxy(c, rc.Values["proxy"], bad)
	if has("rolling") && c.Proxy == nil && c.RestartMode != "overlap" && c.Rolling >= 1 && !failed["rolling"] {
		d.warnf(c.Line, c.Name, "rolling", `has no effect without proxy or restart_mode = "overlap": only overlap restarts are rolling`)
	}
	if c.Critical {
		switch {
		case c.Autorestart == AutorestartNever:
			d.warnf(c.Line, c.Name, "critical", `has no effect with autorestart = "never": the component stops instead of ending errored`)
		case c.MaxRestarts == 0:
			d.warnf(c.Line, c.Name, "critical", "has no effect with max_restarts = 0: the component is restarted forever and never ends errored")
		}
	}
	logs, _ := rc.Values["logs"].(map[string]any)
	for _, ke := range checkLogs(c.Logs, func(key string) bool { _, ok := logs[key]; return ok }) {
		bad(ke.key, "%s", ke.msg)
	}
}

// validateComponents checks names, duplicates and dependencies across components.
func (d *decoder) validateComponents(cs []Component) {
	first := map[string]int{}
	var names []string
	for _, c := range cs {
		if !nameRE.MatchString(c.Name) {
			d.errorf(c.Line, c.Name, "", "not a valid component name (letters, digits, '_' and '-'; 1 to 63 characters, starting with a letter or digit)")
		}
		if line, dup := first[c.Name]; dup {
			d.errorf(c.Line, c.Name, "", "declared twice (first at line %d)", line)
			continue
		}
		first[c.Name] = c.Line
		names = append(names, c.Name)
	}
	for _, c := range cs {
		for _, dep := range c.DependsOn {
			if _, ok := first[dep]; ok {
				continue
			}
			msg := fmt.Sprintf("unknown component %q", dep)
			if s := suggest(dep, names); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			d.errorf(c.Line, c.Name, "depends_on", "%s", msg)
		}
	}
	for _, cycle := range findCycles(cs) {
		c := cs[cycle.at]
		d.errorf(c.Line, c.Name, "depends_on", "dependency cycle: %s", strings.Join(cycle.path, " -> "))
	}
}

// checkHostPort returns "" when s is host:port with a numeric port.
func checkHostPort(s string) string {
	_, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Sprintf("%q has no valid port (0..65535)", s)
	}
	return ""
}

// checkSocketAddr returns "" when s is "tcp://host:port" or "unix:///path".
func checkSocketAddr(s string) string {
	switch {
	case strings.HasPrefix(s, "tcp://"):
		if msg := checkHostPort(strings.TrimPrefix(s, "tcp://")); msg != "" {
			return msg + ` (use "tcp://host:port")`
		}
		return ""
	case strings.HasPrefix(s, "unix://"):
		if strings.TrimPrefix(s, "unix://") == "" {
			return fmt.Sprintf(`%q has no path (use "unix:///path/to.sock")`, s)
		}
		return ""
	}
	return fmt.Sprintf(`%q is not a socket address (use "tcp://host:port" or "unix:///path")`, s)
}

// checkHTTPURL returns "" when s is an http(s) URL with a host.
func checkHTTPURL(s string) string {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Sprintf("%q is not an http:// or https:// URL", s)
	}
	return ""
}

// checkReady returns "" when s is a valid ready spec.
func checkReady(s string) string {
	switch {
	case s == "started", s == "notify":
		return ""
	case strings.HasPrefix(s, "http://"), strings.HasPrefix(s, "https://"):
		return checkHTTPURL(s)
	case strings.HasPrefix(s, "tcp://"):
		if msg := checkHostPort(strings.TrimPrefix(s, "tcp://")); msg != "" {
			return msg + ` (use "tcp://host:port")`
		}
		return ""
	case strings.HasPrefix(s, "log:"):
		if _, err := regexp.Compile(strings.TrimPrefix(s, "log:")); err != nil {
			return fmt.Sprintf("%q has a bad regular expression: %v", s, err)
		}
		return ""
	}
	return fmt.Sprintf(`%q is not a readiness check (use "started", "notify", "http://…", "https://…", "tcp://host:port", "log:REGEX" or a Lua function)`, s)
}

// maxPluginMemory is the largest settings.plugins.max_memory.
const maxPluginMemory = 16 * GiB

// checkPluginMemory checks settings.plugins.max_memory; "" when it is fine.
func checkPluginMemory(n Size) string {
	if n < MinPluginMemory || n > maxPluginMemory {
		return fmt.Sprintf("%s is out of range; use %s to %s (default 64MiB)", n, Size(MinPluginMemory), Size(maxPluginMemory))
	}
	return ""
}
