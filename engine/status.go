package engine

import (
	"time"

	"github.com/thorp-dev/thorp/policies"
)

// Status is the public view of one component: the element of
// `thorp status --json`, GET /api/v1/components and /health. Values are
// copies; they are safe to keep and share.
type Status struct {
	Name string   `json:"name"`
	Tags []string `json:"tags,omitempty"`
	// Autostart is the component's autostart: false leaves it stopped
	// until someone starts it.
	Autostart bool `json:"autostart"`
	// WaitingFor names the dependencies that are not running while an
	// instance waits for them to start; empty otherwise.
	WaitingFor       []string       `json:"waiting_for,omitempty"`
	State            State          `json:"state"`
	PID              int            `json:"pid"`
	UptimeSeconds    float64        `json:"uptime_seconds"`
	Restarts         int            `json:"restarts"`
	RestartsByReason map[string]int `json:"restarts_by_reason"`
	MemoryBytes      int64          `json:"memory_bytes"`
	// MemoryBytes is the sum over the instances; MemoryLimitBytes is
	// max_memory_restart, a limit per process (instance), never of the sum.
	MemoryLimitBytes           int64   `json:"memory_limit_bytes"`
	MemoryGrowthBytesPerHour   float64 `json:"memory_growth_bytes_per_hour"`
	MemoryGrowthPercentPerHour float64 `json:"memory_growth_percent_per_hour"`
	MemoryTimeToLimitSeconds   float64 `json:"memory_time_to_limit_seconds,omitempty"`
	CPUSeconds                 float64 `json:"cpu_seconds"`
	// CPUPercent is the CPU use of every instance's process tree between
	// the last two samples, in % of one core (200 = two cores busy).
	CPUPercent        float64          `json:"cpu_percent"`
	LastExit          *ExitInfo        `json:"last_exit"`
	LastRestartReason policies.Reason  `json:"last_restart_reason"`
	Healthy           bool             `json:"healthy"`
	Message           string           `json:"message,omitempty"`
	Instances         []InstanceStatus `json:"instances"`
	Logs              []LogStatus      `json:"logs,omitempty"`
	// Proxy is the component's balancer; nil when it has no proxy.
	Proxy *ProxyStatus `json:"proxy,omitempty"`
	// Scale is set while 'thorp scale' overrides the config's instance
	// count; nil otherwise.
	Scale *ScaleStatus `json:"scale,omitempty"`
}

// ScaleStatus is a runtime instance count (thorp scale): Instances run
// while the config says ConfigInstances, until a reload brings a config
// whose instances value changed.
type ScaleStatus struct {
	Instances       int `json:"instances"`
	ConfigInstances int `json:"config_instances"`
}

// Rotation states of a proxied process (InstanceStatus.Rotation,
// BackendStatus.Rotation).
const (
	RotationIn       = "in rotation"     // receives new connections
	RotationDraining = "draining"        // out of rotation, its connections finishing
	RotationOut      = "out of rotation" // not ready yet, or stopping
)

// ProxyStatus is a proxied component's balancer.
type ProxyStatus struct {
	Listen string `json:"listen"`
	Mode   string `json:"mode"`
	// ConnectionsTotal counts client connections accepted since thorp
	// started the balancer; Active is those open now.
	ConnectionsTotal uint64 `json:"connections_total"`
	Active           int    `json:"active"`
	// Errors counts failures by kind: refused, reset, timeout, no_backend.
	Errors map[string]uint64 `json:"errors"`
	// Requests counts http-mode responses by status code.
	Requests map[string]uint64 `json:"requests,omitempty"`
	// Backends lists every process in rotation or draining, a replaced
	// process of an overlap restart included.
	Backends []BackendStatus `json:"backends"`
}

// BackendStatus is one process behind a balancer.
type BackendStatus struct {
	Instance    int    `json:"instance"`
	PID         int    `json:"pid"`
	Port        int    `json:"port"`
	Rotation    string `json:"rotation"`
	Connections int    `json:"connections"`
}

// InstanceStatus is one instance of a component.
type InstanceStatus struct {
	Index         int     `json:"index"`
	PID           int     `json:"pid"`
	State         State   `json:"state"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	// MemoryBytes is the instance's process tree (compare it with the
	// component's MemoryLimitBytes, a per-process limit).
	MemoryBytes int64 `json:"memory_bytes"`
	// Restarts counts this instance's restarts since thorp started, every
	// reason (the component's Restarts also keeps those before a thorp
	// restart, from the state file).
	Restarts int `json:"restarts"`
	// CPUPercent is the CPU use of the instance's process tree between the
	// last two samples, in % of one core.
	CPUPercent float64 `json:"cpu_percent"`
	// Procs is how many processes the instance's tree had at the last sample.
	Procs int `json:"procs"`
	// Port is the loopback port of a proxied instance's process ($PORT);
	// Rotation is one of RotationIn, RotationDraining, RotationOut and
	// Connections its open connections. All zero without a proxy.
	Port        int    `json:"port,omitempty"`
	Rotation    string `json:"rotation,omitempty"`
	Connections int    `json:"connections,omitempty"`

	runningSince time.Time // for UptimeSeconds at read time; zero when not running
}

// ExitInfo is how a main process last ended. Code is -1 when a signal killed it.
type ExitInfo struct {
	Code   int       `json:"code"`
	Signal string    `json:"signal,omitempty"`
	Time   time.Time `json:"time"`
}

// LogStatus reports one log file a component writes to.
type LogStatus struct {
	Stream       string `json:"stream"`
	Path         string `json:"path"`
	Bytes        int64  `json:"bytes"`
	Lines        int64  `json:"lines"`
	Rotations    int64  `json:"rotations"`
	DroppedBytes int64  `json:"dropped_bytes"`
}

// Detail is `thorp describe --json`: a Status plus the config and recent events.
type Detail struct {
	Status
	Config map[string]any `json:"config"`
	Events []Event        `json:"events"`
	// Profile is thorp's active env profile (config.Config.Profile), ""
	// for none; Config's env has it merged in.
	Profile string `json:"profile,omitempty"`
}
