// Package config holds thorp's typed configuration: the settings and components
// a thorp.lua declares, their defaults, the size and duration types, and the
// one loader (Decode) that layers defaults, the raw values of thorp.lua,
// THORP_* variables and --set flags with koanf, decodes them strictly and
// validates them into a Config or a list of Problems. Lua functions are Func
// values; this package never calls them.
//
// Values of these types are immutable once built; share them freely between
// goroutines. A reload builds a new Config instead of changing one in place.
package config

import (
	"context"
	"syscall"
	"time"
)

// Config is one evaluated, validated thorp.lua.
type Config struct {
	// File is the absolute path of the thorp.lua this came from.
	File string
	// Dir is File's directory; relative paths in the config resolve against it.
	Dir string
	// Settings are the global settings after every layer was applied.
	Settings Settings
	// Components in the order the file declares them.
	Components []Component
	// Hooks are the on(event, fn) registrations, in file order.
	Hooks []Hook
	// Profile is the active env profile (THORP_ENV, thorp run --env), ""
	// for none: each component's Env has its EnvProfiles[Profile] merged in.
	Profile string
}

// Component returns the component called name, or nil.
func (c *Config) Component(name string) *Component {
	for i := range c.Components {
		if c.Components[i].Name == name {
			return &c.Components[i]
		}
	}
	return nil
}

// Settings are the keys of settings{} (and THORP_* / flags layered over them).
type Settings struct {
	// HTTP is the listen address of the health/metrics/dashboard server; "" disables it.
	HTTP string `koanf:"http"`
	// HTTPHosts are the extra Host names (optionally "name:port") the HTTP
	// server answers, besides its own address and localhost.
	HTTPHosts []string `koanf:"http_hosts"`
	// Control is the unix socket path for the CLI, made absolute against Config.Dir.
	Control string `koanf:"control"`
	// State is the state file path, made absolute against Config.Dir.
	State string `koanf:"state"`
	// Token authorises mutating API calls over TCP; "" makes TCP read-only.
	// When set it is at least MinTokenLength printable ASCII characters, no spaces.
	Token string `koanf:"token"`
	// Logs are the log defaults every component inherits.
	Logs LogSettings `koanf:"logs"`
	// Plugins are the Lua grants and limits.
	Plugins PluginSettings `koanf:"plugins"`
	// Alerts deliver alerts to a webhook or a command.
	Alerts AlertSettings `koanf:"alerts"`
	// MetricsPush pushes /metrics to a remote endpoint when URL is set.
	MetricsPush MetricsPush `koanf:"metrics_push"`
	// Line is the thorp.lua line of the settings{} call, 0 when absent.
	Line int `koanf:"-"`
}

// LogSettings are the keys of settings.logs and of a component's logs override.
type LogSettings struct {
	// Dir is the log directory, made absolute against Config.Dir.
	Dir string `koanf:"dir"`
	// MaxSize rotates a file when it would grow past this; 0 = no size rotation.
	MaxSize Size `koanf:"max_size"`
	// Rotate is "daily", "hourly", "none" or a Go duration string.
	Rotate string `koanf:"rotate"`
	// RetainDays removes rotated files older than this many days; 0 keeps them by age.
	RetainDays int `koanf:"retain_days"`
	// RetainFiles keeps at most this many rotated files per log; 0 = no count limit.
	RetainFiles int `koanf:"retain_files"`
	// Compress gzips rotated files.
	Compress bool `koanf:"compress"`
	// Timestamps prefixes each line with an RFC 3339 time with milliseconds.
	Timestamps bool `koanf:"timestamps"`
	// Format is "text" (default) or "json" (one object per line).
	Format string `koanf:"format"`
	// MaxLine cuts longer lines into marked pieces.
	MaxLine Size `koanf:"max_line"`
	// Overflow is "block" (default: back-pressure, nothing dropped) or "drop".
	Overflow string `koanf:"overflow"`
	// Stdout also writes each line to thorp run's own stdout (a
	// component's stdout) or stderr (its stderr), prefixed with the
	// component and instance, for a container's log driver.
	Stdout bool `koanf:"stdout"`
}

// PluginSettings are the keys of settings.plugins.
type PluginSettings struct {
	// Timeout bounds each hook call.
	Timeout time.Duration `koanf:"timeout"`
	// AllowExec lists the programs (absolute paths) thorp.exec may run;
	// empty grants none.
	AllowExec []string `koanf:"allow_exec"`
	// AllowHosts lists the hosts thorp.http may reach besides loopback.
	AllowHosts []string `koanf:"allow_hosts"`
	// Path is the directory require() and plugin files are read from,
	// made absolute against Config.Dir (default "plugins").
	Path string `koanf:"path"`
	// MaxFailures disables a hook after this many failures in a row.
	MaxFailures int `koanf:"max_failures"`
	// MaxMemory is the memory ceiling of one Lua call and of evaluating
	// thorp.lua: a call that grows thorp's heap past it is stopped.
	MaxMemory Size `koanf:"max_memory"`
}

// AlertSettings are the keys of settings.alerts.
type AlertSettings struct {
	// Webhook is the URL alerts are POSTed to as JSON; "" sends none.
	Webhook string `koanf:"webhook"`
	// Format is the webhook body's shape: "json" (default) or "slack".
	Format string `koanf:"format"`
	// Command is run once per alert (argv, no shell), the alert as JSON
	// on its stdin and in THORP_ALERT_* variables; empty runs none.
	Command []string `koanf:"command"`
	// On are the rules that raise alerts by themselves: "errored",
	// "health", "memory", "restarts".
	On []string `koanf:"on"`
	// RestartsPerHour is the "restarts" rule's budget: more restarts of
	// one component within an hour raise an alert.
	RestartsPerHour int `koanf:"restarts_per_hour"`
	// Timeout bounds one delivery attempt.
	Timeout time.Duration `koanf:"timeout"`
	// Retries is how many times a failed delivery is tried again.
	Retries int `koanf:"retries"`
	// RepeatInterval is how long an identical alert (same kind,
	// component and message) is held back after one was raised.
	RepeatInterval time.Duration `koanf:"repeat_interval"`
}

// MinPluginMemory is the smallest settings.plugins.max_memory.
const MinPluginMemory = MiB

// MetricsPush are the keys of settings.metrics_push.
type MetricsPush struct {
	URL      string            `koanf:"url"`
	Interval time.Duration     `koanf:"interval"`
	Labels   map[string]string `koanf:"labels"`
}

// Autorestart values.
const (
	AutorestartAlways    = "always"
	AutorestartOnFailure = "on-failure"
	AutorestartNever     = "never"
)

// Component is one component{} declaration with defaults applied.
type Component struct {
	// Name is the component's name: letters, digits, '_' and '-' only.
	Name string `koanf:"-"`
	// Line is the line of the component{} call, in thorp.lua or File.
	Line int `koanf:"-"`
	// File is the file included by thorp.lua that declares the component,
	// relative to thorp.lua's directory ("conf.d/web.lua"); "" when
	// thorp.lua itself does (see ProblemFile).
	File string `koanf:"-"`

	// Command is the argv; when Shell is set it is {"/bin/sh", "-c", script}.
	Command Command `koanf:"command,omitnested"`
	// Cwd is the working directory, absolute.
	Cwd string `koanf:"cwd"`
	// Env is added over thorp's own environment: the env key with the
	// active profile's env_<profile> merged over it (Config.Profile).
	Env map[string]string `koanf:"env"`
	// EnvProfiles are the env_<name> keys by name, as written (decoded by
	// hand: any name matching ProfileNameRule).
	EnvProfiles map[string]map[string]string `koanf:"-"`
	User        string                       `koanf:"user"`
	Group       string                       `koanf:"group"`

	Autorestart       string        `koanf:"autorestart"`
	RestartDelay      time.Duration `koanf:"restart_delay"`
	ExpBackoffMax     time.Duration `koanf:"exp_backoff_max"`
	MinUptime         time.Duration `koanf:"min_uptime"`
	MaxRestarts       int           `koanf:"max_restarts"`
	RetryErroredAfter time.Duration `koanf:"retry_errored_after"`
	StopExitCodes     []int         `koanf:"stop_exit_codes"`
	StopSignal        Signal        `koanf:"stop_signal"`
	KillTimeout       time.Duration `koanf:"kill_timeout"`

	MaxMemoryRestart Size `koanf:"max_memory_restart"`
	// MaxMemoryRestartText is max_memory_restart as written in the file
	// ("150MB"); "" when it was a number or not given. See Size.Written.
	MaxMemoryRestartText string        `koanf:"-"`
	MemoryInterval       time.Duration `koanf:"memory_interval"`
	MemorySamples        int           `koanf:"memory_samples"`
	MemoryMeasure        string        `koanf:"memory_measure"`
	MemoryPolicy         Func          `koanf:"memory_policy"`
	// MemoryHigh is the v2 memory controller's memory.high of each of the
	// component's cgroups (0: none): the kernel throttles and reclaims
	// above it, before max_memory_restart restarts.
	MemoryHigh Size `koanf:"memory_high"`

	DependsOn []string          `koanf:"depends_on"`
	Sockets   map[string]string `koanf:"sockets"`
	// Ready is "started", "notify", "http://…", "tcp://…" or "log:REGEX"
	// (with Proxy, "started" waits until the process's port accepts a
	// connection); ReadyFunc is set instead for a Lua function.
	Ready         string        `koanf:"-"`
	ReadyFunc     Func          `koanf:"-"`
	ListenTimeout time.Duration `koanf:"listen_timeout"`
	Watchdog      time.Duration `koanf:"watchdog"`
	Health        *Health       `koanf:"health"`
	RestartMode   string        `koanf:"restart_mode"`
	// Instances is how many processes run; thorp.lua's "max" (InstancesMax)
	// is decoded to the host's CPU count.
	Instances   int    `koanf:"instances"`
	CronRestart string `koanf:"cron_restart"`
	// Proxy, when set, puts thorp's balancer in front of the component's
	// processes (the proxy key; a string is the short form of Listen).
	Proxy *Proxy `koanf:"proxy"`
	// Rolling is how many instances a rolling restart of a proxied
	// component replaces at a time.
	Rolling int `koanf:"rolling"`
	// Tags group components: "@TAG" wherever a component name is
	// accepted selects every component tagged TAG.
	Tags []string `koanf:"tags"`
	// Autostart false leaves the component stopped until `thorp start`:
	// thorp run, up and a reload that adds it do not start it.
	Autostart bool `koanf:"autostart"`
	// Watch, when set, restarts every instance (reason "watch") when a
	// file under its paths changes.
	Watch *Watch `koanf:"watch"`
	// Critical makes the component's errored state thorp's end: when an
	// instance ends errored, thorp stops every component in reverse
	// dependency order and thorp run exits non-zero, so that whatever
	// runs thorp (a container's orchestrator, systemd) restarts it.
	Critical bool `koanf:"critical"`

	LogFile   string `koanf:"log_file"`
	ErrorFile string `koanf:"error_file"`
	MergeLogs bool   `koanf:"merge_logs"`
	// Logs is settings.logs with this component's overrides applied.
	Logs LogSettings `koanf:"logs"`
}

// Proxy modes.
const (
	ProxyTCP  = "tcp"
	ProxyHTTP = "http"
)

// InstancesMax is the instances value meaning one process per CPU thorp
// may run on, counted when the config is decoded (at start and reload).
const InstancesMax = "max"

// Proxy is a component's balancer: thorp listens on Listen and forwards each
// connection (tcp) or request (http) to the ready process with the fewest
// active connections; each process listens on its own loopback port, told
// in the environment variable PortEnv.
type Proxy struct {
	// Listen is "tcp://host:port" or "unix:///path", bound by thorp.
	Listen string `koanf:"listen"`
	// Mode is ProxyTCP or ProxyHTTP.
	Mode string `koanf:"mode"`
	// PortEnv names the variable that tells each process its port.
	PortEnv string `koanf:"port_env"`
	// DrainTimeout bounds how long a process taken out of rotation keeps
	// its open connections before it is sent stop_signal.
	DrainTimeout time.Duration `koanf:"drain_timeout"`
	// QueueTimeout bounds how long a client waits for a ready process.
	QueueTimeout time.Duration `koanf:"queue_timeout"`
}

// Watch is a component's watch key: the directories whose changes restart it.
type Watch struct {
	// Paths are the watched files and directories (directories
	// recursively), absolute (thorp.lua's are relative to the cwd).
	Paths []string `koanf:"paths"`
	// Ignore are the patterns of what changes nothing: DefaultWatchIgnore
	// and thorp.lua's ignore. A pattern without '/' is a glob matched
	// against each name below a watched path ("node_modules", "*.log");
	// one with '/' is a path, relative to the cwd, ignored with all it
	// holds (a glob matched against the whole path is also tried).
	Ignore []string `koanf:"ignore"`
	// Delay is how long changes are collected before one restart.
	Delay time.Duration `koanf:"delay"`
}

// DefaultWatchIgnore are ignored by every watch, whatever its ignore says.
var DefaultWatchIgnore = []string{"node_modules", ".git"}

// MaxWatchDirs bounds how many directories one component's watch may
// watch (each is one inotify watch).
const MaxWatchDirs = 10000

// Health is a component's health check.
type Health struct {
	HTTP     string        `koanf:"http"`
	Interval time.Duration `koanf:"interval"`
	Timeout  time.Duration `koanf:"timeout"`
	Failures int           `koanf:"failures"`
	// Func is set instead of HTTP for a Lua function check.
	Func Func `koanf:"-"`
}

// Hook is one on(event, fn) registration.
type Hook struct {
	Event string
	Func  Func
	Line  int
}

// Func is a function thorp.lua defined (a memory_policy, a ready or health
// function, an on() hook), bound to the script that defined it: it always
// runs in that script's Lua state, also after a reload replaced the script
// for everything started later. The plugins package implements it; the
// engine only calls it. Implementations are safe for concurrent use.
type Func interface {
	// Call calls the function with one table argument built from arg and
	// returns its first result (nil, string, float64, bool, map[string]any
	// or []any), bounded by timeout and ctx. A Lua error, a timeout or a
	// script that was closed comes back as an error naming Where.
	Call(ctx context.Context, arg map[string]any, timeout time.Duration) (any, error)
	// Where is "thorp.lua:LINE" of the function's definition.
	Where() string
	// Source is the text of the function's definition, "" for a function
	// not written in Lua. SameFunc compares it.
	Source() string
}

// SameFunc reports whether a and b are the same definition: the same value,
// or two evaluations' functions defined at the same place with the same
// text. nil is the same only as nil. A reload uses it to tell changed
// functions from unchanged ones; a function whose text is unchanged but
// which reads a changed upvalue or global counts as unchanged.
func SameFunc(a, b Func) bool {
	if a == nil || b == nil {
		return a == nil && b == nil
	}
	return a == b || a.Where() == b.Where() && a.Source() == b.Source()
}

// Command is an argv. A string in thorp.lua becomes {"/bin/sh", "-c", s} with Shell set.
type Command struct {
	Argv  []string
	Shell bool
}

// Signal is a signal number parsed from a name like "SIGTERM" or "TERM".
type Signal syscall.Signal

// Size is a byte count parsed from "150MB", "10M", "1.5GiB" or a plain number.
type Size int64
