package policies

// Reason is why a component was restarted. The values are the restart
// reasons DESIGN.md lists; they appear as the `reason` metric label and in
// events.
type Reason string

// Restart reasons, in DESIGN.md order.
const (
	// ReasonCrash: the process exited on its own.
	ReasonCrash Reason = "crash"
	// ReasonMemory: the memory threshold was exceeded.
	ReasonMemory Reason = "memory"
	// ReasonHealth: the health check failed too many times in a row.
	ReasonHealth Reason = "health"
	// ReasonWatchdog: no WATCHDOG=1 arrived in time.
	ReasonWatchdog Reason = "watchdog"
	// ReasonManual: an operator asked for it (thorp restart).
	ReasonManual Reason = "manual"
	// ReasonReload: a zero-downtime reload (thorp reload).
	ReasonReload Reason = "reload"
	// ReasonCron: the component's cron_restart schedule fired.
	ReasonCron Reason = "cron"
	// ReasonConfig: reload-config changed the component.
	ReasonConfig Reason = "config"
	// ReasonExit: the process exited with code 0 and autorestart is
	// "always" (a clean exit, not a crash). Like a crash it follows the
	// backoff of DecideExit, and a run shorter than min_uptime counts
	// toward max_restarts.
	ReasonExit Reason = "exit"
	// ReasonWatch: a file under the component's watch paths changed.
	ReasonWatch Reason = "watch"
)

// Reasons lists every Reason in DESIGN.md order, for pre-creating metrics at
// 0. Callers must not modify it.
var Reasons = []Reason{
	ReasonCrash, ReasonMemory, ReasonHealth, ReasonWatchdog,
	ReasonManual, ReasonReload, ReasonCron, ReasonConfig,
	ReasonExit,
	ReasonWatch,
}

// CountsTowardMaxRestarts reports whether a restart for r counts toward
// max_restarts. Only exits the process made on its own (crash, exit) do;
// a restart thorp or the operator asked for never does. Safe for
// concurrent use.
func (r Reason) CountsTowardMaxRestarts() bool {
	return r == ReasonCrash || r == ReasonExit
}

// WaitsRestartDelay reports whether a restart for r waits restart_delay
// between the old process's end and the new start: restarts thorp decided
// on its own while the process was still running (memory, health,
// watchdog, cron) do, so a flapping check cannot spin; a crash follows the
// backoff of DecideExit instead, and operator and config restarts start
// at once. Safe for concurrent use.
func (r Reason) WaitsRestartDelay() bool {
	switch r {
	case ReasonMemory, ReasonHealth, ReasonWatchdog, ReasonCron:
		return true
	}
	return false
}

// Overlaps reports whether restart_mode = "overlap" applies to a restart
// for r (DESIGN: reload, memory and health restarts start the new process
// next to the old one); other restarts stop the old process first. Safe for
// concurrent use.
func (r Reason) Overlaps() bool {
	switch r {
	case ReasonReload, ReasonMemory, ReasonHealth:
		return true
	}
	return false
}

// String returns r as written in DESIGN.md.
func (r Reason) String() string { return string(r) }
