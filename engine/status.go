package engine

import (
	"time"

	"github.com/thorp-dev/thorp/policies"
)

// Status is the public view of one component: the element of
// `thorp status --json`, GET /api/v1/components and /health. Values are
// copies; they are safe to keep and share.
type Status struct {
	Name                       string           `json:"name"`
	State                      State            `json:"state"`
	PID                        int              `json:"pid"`
	UptimeSeconds              float64          `json:"uptime_seconds"`
	Restarts                   int              `json:"restarts"`
	RestartsByReason           map[string]int   `json:"restarts_by_reason"`
	MemoryBytes                int64            `json:"memory_bytes"`
	MemoryLimitBytes           int64            `json:"memory_limit_bytes"`
	MemoryGrowthBytesPerHour   float64          `json:"memory_growth_bytes_per_hour"`
	MemoryGrowthPercentPerHour float64          `json:"memory_growth_percent_per_hour"`
	MemoryTimeToLimitSeconds   float64          `json:"memory_time_to_limit_seconds,omitempty"`
	CPUSeconds                 float64          `json:"cpu_seconds"`
	LastExit                   *ExitInfo        `json:"last_exit"`
	LastRestartReason          policies.Reason  `json:"last_restart_reason"`
	Healthy                    bool             `json:"healthy"`
	Message                    string           `json:"message,omitempty"`
	Instances                  []InstanceStatus `json:"instances"`
	Logs                       []LogStatus      `json:"logs,omitempty"`
}

// InstanceStatus is one instance of a component.
type InstanceStatus struct {
	Index         int     `json:"index"`
	PID           int     `json:"pid"`
	State         State   `json:"state"`
	UptimeSeconds float64 `json:"uptime_seconds"`
	MemoryBytes   int64   `json:"memory_bytes"`
	// Procs is how many processes the instance's tree had at the last sample.
	Procs int `json:"procs"`

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
}
