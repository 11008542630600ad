package plugins

import (
	"context"
	"sync"
	"time"
)

// waitSlack is added to a wait's own timeout while it holds off a call's
// deadline: the time an aborted request or a killed program takes to end
// after its own timeout.
const waitSlack = 2 * time.Second

// callDeadline is the time limit of one Function call. Its context ends,
// with cause context.DeadlineExceeded, once the limit passes; the caller
// (Script.call) and the owner (the Lua state's context, the memory
// watchdog) both go by it. A Go builtin that waits on the world
// (thorp.http, thorp.exec) holds the deadline off while it waits (hold):
// the limit is then the wait's own timeout, and once the wait returns
// the call has what was left of its own limit before the wait. So only
// Lua's own running time counts against settings.plugins.timeout, and a
// wait is bounded by its own timeout. The memory watchdog does not count
// the heap grown during a wait either (waiting).
//
// It is safe for concurrent use: its timer runs on its own goroutine.
type callDeadline struct {
	ctx    context.Context
	cancel context.CancelCauseFunc

	mu    sync.Mutex
	timer *time.Timer
	at    time.Time // when the limit passes
	// held is true during a wait; left is then what was left of the
	// call's limit when the wait began.
	held bool
	left time.Duration
	// waitedHeap is the heap grown during the waits so far.
	waitedHeap int64
}

// deadlineKey is the context key under which a call's context carries
// its callDeadline (so a builtin finds it through L.Context()).
type deadlineKey struct{}

// newCallDeadline returns a deadline timeout from now, whose context is
// a child of parent. The caller must stop it.
func newCallDeadline(parent context.Context, timeout time.Duration) *callDeadline {
	ctx, cancel := context.WithCancelCause(parent)
	d := &callDeadline{cancel: cancel, at: time.Now().Add(timeout)}
	d.ctx = context.WithValue(ctx, deadlineKey{}, d)
	d.mu.Lock()
	defer d.mu.Unlock()
	d.timer = time.AfterFunc(timeout, d.expire)
	return d
}

// deadlineOf returns the deadline ctx carries, nil when none (the
// evaluation of thorp.lua).
func deadlineOf(ctx context.Context) *callDeadline {
	d, _ := ctx.Value(deadlineKey{}).(*callDeadline)
	return d
}

// expire ends the context once the limit has really passed; a limit
// moved meanwhile re-arms the timer.
func (d *callDeadline) expire() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if left := time.Until(d.at); left > 0 {
		d.timer.Reset(left)
		return
	}
	d.cancel(context.DeadlineExceeded)
}

// stop releases the timer and ends the context (the call is over).
func (d *callDeadline) stop() {
	d.mu.Lock()
	d.timer.Stop()
	d.mu.Unlock()
	d.cancel(context.Canceled)
}

// hold holds the deadline off for a wait of up to wait (plus waitSlack)
// and returns the function that ends the wait, giving the call back what
// was left of its limit. A call already past its limit, or already
// waiting, is not held off (release does nothing). A nil deadline (no
// call) holds nothing.
func (d *callDeadline) hold(wait time.Duration) (release func()) {
	if d == nil {
		return func() {}
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	left := time.Until(d.at)
	if d.held || left <= 0 || d.ctx.Err() != nil {
		return func() {}
	}
	d.held, d.left = true, left
	d.at = time.Now().Add(wait + waitSlack)
	d.timer.Reset(wait + waitSlack)
	before := heapBytes()
	return func() {
		grown := heapBytes() - before
		d.mu.Lock()
		defer d.mu.Unlock()
		d.held = false
		d.waitedHeap += max(grown, 0)
		d.at = time.Now().Add(d.left)
		d.timer.Reset(d.left)
	}
}

// waiting reports whether a wait is under way and how much the heap grew
// during the waits that ended; both zero for a nil deadline.
func (d *callDeadline) waiting() (bool, int64) {
	if d == nil {
		return false, 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.held, d.waitedHeap
}
