// Package policies holds thorp's supervision decisions as pure functions:
// whether and when to restart a component after its process exits (restart
// delay, exponential backoff, min_uptime, max_restarts, stop_exit_codes,
// retry_errored_after), when a memory threshold or a run of failed health
// checks calls for a restart, and how fast a component's memory grows.
//
// Concurrency model: there is none inside this package. Every decision is a
// function of (policy, remembered state, observation) that returns a decision
// and the next state; the caller owns the state and passes the clock in (exit
// times, sample times, "now"). Nothing here starts goroutines, sleeps, locks,
// logs or reads the clock, so the functions are safe for concurrent use on
// distinct values and trivially table-tested. The one stateful type,
// GrowthEstimator, is not safe for concurrent use; its owner serialises calls.
//
// Counting follows DESIGN.md: max_restarts counts consecutive runs shorter
// than min_uptime and the component is errored when the count reaches it;
// only exits the process made on its own (crash, exit) count (see
// Reason.CountsTowardMaxRestarts).
package policies
