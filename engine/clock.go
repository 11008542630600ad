package engine

import "time"

// Clock is the engine's source of time: every "now" the engine reads and
// every timer it waits on (restart delays, kill_timeout, listen_timeout,
// watchdog, cron_restart, probe, health and sampling intervals) come from
// it. The default is the system clock; tests pass a clock they advance by
// hand (Options.Clock) instead of reaching into the engine's state.
// Implementations must be safe for concurrent use.
//
// Timeouts inside one blocking call (an HTTP probe's, a Lua call's) and
// the exit times the reaper records are not engine timing and use the
// system clock.
type Clock interface {
	// Now returns the current time.
	Now() time.Time
	// NewTimer returns a Timer that fires once, after d.
	NewTimer(d time.Duration) Timer
}

// Timer is a one-shot timer of a Clock, like time.Timer with Go 1.23
// semantics: after Stop or Reset returns, no stale time is received.
type Timer interface {
	// C delivers the time when the timer fires.
	C() <-chan time.Time
	// Reset makes the timer fire after d, whether or not it was active.
	Reset(d time.Duration)
	// Stop prevents the timer from firing.
	Stop()
}

// systemClock is the Clock of package time.
type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }

func (systemClock) NewTimer(d time.Duration) Timer { return systemTimer{time.NewTimer(d)} }

type systemTimer struct{ t *time.Timer }

func (t systemTimer) C() <-chan time.Time   { return t.t.C }
func (t systemTimer) Reset(d time.Duration) { t.t.Reset(d) }
func (t systemTimer) Stop()                 { t.t.Stop() }

// every calls f at a fixed rate of d on clk until done is closed: like a
// time.Ticker, a slow f makes the next call come at once rather than
// shifting the schedule. It returns when done is closed.
func every(clk Clock, d time.Duration, done <-chan struct{}, f func()) {
	next := clk.Now().Add(d)
	t := clk.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C():
		}
		f()
		now := clk.Now()
		if next = next.Add(d); next.Before(now) {
			next = now // fell behind: go on from now, as a ticker drops ticks
		}
		t.Reset(next.Sub(now))
	}
}
