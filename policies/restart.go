package policies

import (
	"fmt"
	"slices"
	"strconv"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// MinBackoff is the first backed-off delay when restart_delay is 0: the first
// restart after a good run is immediate, and while runs keep ending before
// min_uptime the delay grows 100ms, 200ms, 400ms, … up to exp_backoff_max, so
// a crash loop with restart_delay = 0 never spins hot.
const MinBackoff = 100 * time.Millisecond

// Autorestart values, as in DESIGN.md (and config.Autorestart*).
const (
	AutorestartAlways    = "always"
	AutorestartOnFailure = "on-failure"
	AutorestartNever     = "never"
)

// RestartPolicy is what a component's config says about restarting it after
// its process exits. The zero value restarts always, at once, never backs off
// and never gives up. Values are plain data, safe to share.
type RestartPolicy struct {
	// Autorestart is "always", "on-failure" or "never"; any other value
	// (including "") acts as "always".
	Autorestart string
	// RestartDelay is the wait before the first restart after a good run.
	RestartDelay time.Duration
	// ExpBackoffMax caps the doubling delay while runs end before MinUptime.
	// When it is not above RestartDelay the delay never grows.
	ExpBackoffMax time.Duration
	// MinUptime is the run length below which a run is short; 0 means no run
	// is ever short (and so the component is never errored).
	MinUptime time.Duration
	// RetryErroredAfter is when an errored instance is tried again; 0 = never.
	RetryErroredAfter time.Duration
	// MaxRestarts is how many short runs in a row make the instance errored;
	// 0 (or less) means unlimited: the instance keeps backing off forever.
	MaxRestarts int
	// StopExitCodes are exit codes that are never restarted. They match only
	// processes that exited, not ones killed by a signal.
	StopExitCodes []int
}

// RunHistory is what the restart policy remembers between runs of one
// instance. The zero value is a fresh instance; the caller stores the value
// DecideExit returns and passes it back on the next exit. Reset it to the zero
// value when an operator explicitly starts an errored or stopped instance.
type RunHistory struct {
	// ShortRuns is the number of consecutive runs shorter than MinUptime.
	ShortRuns int
	// Delay is the delay used for the last restart.
	Delay time.Duration
}

// Exit describes how one run of an instance ended. The times come from the
// caller's clock.
type Exit struct {
	// Code is the exit code, -1 when killed by a signal.
	Code int
	// Signal is the signal that killed the process, 0 when it exited.
	Signal syscall.Signal
	// Started and Ended bound the run.
	Started, Ended time.Time
	// Requested is true when thorp stopped the process on purpose (stop,
	// restart, reload, memory, health, watchdog, cron, config).
	Requested bool
}

// Reason is the restart reason of an unrequested exit: ReasonExit for an
// exit with code 0 (under autorestart "always" the only way it restarts),
// ReasonCrash for any other code or a signal.
func (e Exit) Reason() Reason {
	if !e.Signalled() && e.Code == 0 {
		return ReasonExit
	}
	return ReasonCrash
}

// Signalled reports whether the process was killed by a signal.
func (e Exit) Signalled() bool { return e.Signal != 0 }

// Uptime is how long the run lasted, never negative.
func (e Exit) Uptime() time.Duration {
	d := e.Ended.Sub(e.Started)
	if d < 0 {
		return 0
	}
	return d
}

// String describes the exit for people: "exit code 1" or "killed by SIGKILL".
func (e Exit) String() string {
	if e.Signalled() {
		return "killed by " + signalName(e.Signal)
	}
	return "exit code " + strconv.Itoa(e.Code)
}

// Action is what to do with an instance after its process exited.
type Action int

// Actions. The zero Action is invalid, so a zero RestartDecision never means
// "restart now" by accident.
const (
	// Restart after RestartDecision.Delay (state backoff while waiting).
	Restart Action = iota + 1
	// Stop: the instance stays stopped (autorestart never, on-failure with a
	// successful exit, a stop_exit_codes code, or a requested stop).
	Stop
	// Errored: too many short runs in a row; see ErroredRetryAt.
	Errored
)

// String returns "restart", "stop" or "errored".
func (a Action) String() string {
	switch a {
	case Restart:
		return "restart"
	case Stop:
		return "stop"
	case Errored:
		return "errored"
	}
	return "action(" + strconv.Itoa(int(a)) + ")"
}

// RestartDecision is DecideExit's answer.
type RestartDecision struct {
	// Action is what to do.
	Action Action
	// Delay is the wait before the restart; 0 unless Action is Restart.
	Delay time.Duration
	// ShortRun is true when the run ended before MinUptime (never for a
	// requested exit).
	ShortRun bool
	// Why is a human reason for events and logs, e.g.
	// "exit code 1; restarting in 2s (3rd short run of 10)".
	Why string
}

// DecideExit decides what follows an exit of one instance and returns the
// history to remember for the next one. It is pure: safe for concurrent use.
//
// A run is short when it lasted less than p.MinUptime (never when MinUptime is
// 0). A short run adds one to h.ShortRuns; a run of at least MinUptime resets
// the count and the backoff. When the count reaches p.MaxRestarts (> 0) the
// instance is Errored. The delay is p.RestartDelay for the first restart after
// a good run (or on a fresh history) and doubles after each further short run,
// capped at p.ExpBackoffMax; when RestartDelay is 0 the doubling starts from
// MinBackoff, so the first restart stays immediate.
//
// Autorestart "never", "on-failure" with exit code 0, and an exit code in
// p.StopExitCodes give Stop. A requested exit (thorp stopped the process on
// purpose) also gives Stop with no delay: the caller decides what comes next,
// and the run never counts as short; if it lasted MinUptime the history is
// reset, otherwise it is kept as is. Any other Stop resets the history, since
// the next start of a stopped instance is a deliberate one. Errored returns
// the counted history: an instance retried after RetryErroredAfter that runs
// short again is errored again at once (one attempt per retry, not a new burst
// of MaxRestarts), while a good run resets it. Reset the history instead to
// give an operator's explicit start the full budget.
func DecideExit(p RestartPolicy, h RunHistory, e Exit) (RestartDecision, RunHistory) {
	up := e.Uptime()
	short := p.MinUptime > 0 && up < p.MinUptime

	if e.Requested {
		if !short {
			h = RunHistory{}
		}
		return RestartDecision{Action: Stop, Why: "stopped on request (" + e.String() + ")"}, h
	}

	switch {
	case p.Autorestart == AutorestartNever:
		return RestartDecision{Action: Stop, ShortRun: short,
			Why: e.String() + "; autorestart is never: staying stopped"}, RunHistory{}
	case p.Autorestart == AutorestartOnFailure && !e.Signalled() && e.Code == 0:
		return RestartDecision{Action: Stop, ShortRun: short,
			Why: e.String() + "; autorestart is on-failure: staying stopped"}, RunHistory{}
	case !e.Signalled() && slices.Contains(p.StopExitCodes, e.Code):
		return RestartDecision{Action: Stop, ShortRun: short,
			Why: e.String() + " is in stop_exit_codes: staying stopped"}, RunHistory{}
	}

	if !short {
		d := clampDelay(p.RestartDelay)
		return RestartDecision{Action: Restart, Delay: d,
			Why: e.String() + "; " + restartingIn(d)}, RunHistory{Delay: d}
	}

	next := RunHistory{ShortRuns: h.ShortRuns + 1}
	if next.ShortRuns < 1 { // a corrupt (negative or overflowed) history
		next.ShortRuns = 1
	}
	if p.MaxRestarts > 0 && next.ShortRuns >= p.MaxRestarts {
		return RestartDecision{Action: Errored, ShortRun: true,
			Why: fmt.Sprintf("%s; errored after %d short runs in a row (each under min_uptime %s)",
				e, next.ShortRuns, p.MinUptime)}, next
	}
	next.Delay = backoffDelay(p, h)
	count := ordinal(next.ShortRuns) + " short run"
	if p.MaxRestarts > 0 {
		count += " of " + strconv.Itoa(p.MaxRestarts)
	}
	return RestartDecision{Action: Restart, Delay: next.Delay, ShortRun: true,
		Why: e.String() + "; " + restartingIn(next.Delay) + " (" + count + ")"}, next
}

// backoffDelay is the delay after a short run that followed history h: the
// restart delay when h holds no short run, else twice h.Delay (MinBackoff
// when that was 0), never below the restart delay, never above the cap.
func backoffDelay(p RestartPolicy, h RunHistory) time.Duration {
	base := clampDelay(p.RestartDelay)
	if h.ShortRuns <= 0 {
		return base // first restart after a good run or on a fresh instance
	}
	limit := max(base, clampDelay(p.ExpBackoffMax))
	prev := clampDelay(h.Delay)
	var d time.Duration
	switch {
	case prev == 0:
		d = MinBackoff
	case prev > limit/2:
		d = limit // also keeps 2*prev from overflowing
	default:
		d = 2 * prev
	}
	return min(max(d, base), limit)
}

// clampDelay turns a negative duration into 0.
func clampDelay(d time.Duration) time.Duration {
	return max(d, 0)
}

// ErroredRetryAt says when an errored instance is tried again: erroredAt plus
// p.RetryErroredAfter, and ok false when RetryErroredAfter is 0 (or negative),
// meaning never. It is pure: safe for concurrent use.
func ErroredRetryAt(p RestartPolicy, erroredAt time.Time) (at time.Time, ok bool) {
	if p.RetryErroredAfter <= 0 {
		return time.Time{}, false
	}
	return erroredAt.Add(p.RetryErroredAfter), true
}

func restartingIn(d time.Duration) string {
	if d == 0 {
		return "restarting now"
	}
	return "restarting in " + d.String()
}

func signalName(s syscall.Signal) string {
	if n := unix.SignalName(s); n != "" {
		return n
	}
	return "signal " + strconv.Itoa(int(s))
}

// ordinal renders 1 as "1st", 2 as "2nd", 11 as "11th", 23 as "23rd".
func ordinal(n int) string {
	suffix := "th"
	switch n % 100 {
	case 11, 12, 13:
	default:
		switch n % 10 {
		case 1:
			suffix = "st"
		case 2:
			suffix = "nd"
		case 3:
			suffix = "rd"
		}
	}
	return strconv.Itoa(n) + suffix
}
