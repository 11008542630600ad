package plugins

import (
	"context"
	"errors"
	"runtime"
	"testing"
	"time"
)

// TestCallDeadline_HoldGivesBackWhatWasLeft: while held, the limit does not
// pass; once released, the call has what was left of it before the wait.
func TestCallDeadline_HoldGivesBackWhatWasLeft(t *testing.T) {
	d := newCallDeadline(context.Background(), 100*time.Millisecond)
	defer d.stop()
	release := d.hold(time.Second)
	if held, _ := d.waiting(); !held {
		t.Fatal("not held")
	}
	select {
	case <-d.ctx.Done():
		t.Fatal("the limit passed during the wait")
	case <-time.After(300 * time.Millisecond):
	}
	release()
	start := time.Now()
	select {
	case <-d.ctx.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("the limit never passed after the wait")
	}
	if d := time.Since(start); d < 50*time.Millisecond {
		t.Errorf("the limit passed %s after the wait, want what was left (about 100ms)", d)
	}
	if !errors.Is(context.Cause(d.ctx), context.DeadlineExceeded) {
		t.Errorf("cause = %v", context.Cause(d.ctx))
	}
	// Past its limit, a call is not held off any more.
	d.hold(time.Second)()
	if held, _ := d.waiting(); held {
		t.Error("held after the limit passed")
	}
}

// TestCallDeadline_WaitsHoldTheLimitOff: a held deadline still ends at the
// wait's own bound (timeout plus slack) if the wait never returns.
func TestCallDeadline_WaitsHoldTheLimitOff(t *testing.T) {
	d := newCallDeadline(context.Background(), time.Millisecond)
	defer d.stop()
	d.hold(10 * time.Millisecond) // never released
	select {
	case <-d.ctx.Done():
	case <-time.After(waitSlack + 5*time.Second):
		t.Fatal("a wait that never returns held the limit off for ever")
	}
}

// TestWatchMemory_NotDuringWaits: what the heap grows while a call waits
// (thorp's other goroutines, the wait's own buffers) is not the call's.
func TestWatchMemory_NotDuringWaits(t *testing.T) {
	lim := newLimits()
	lim.ceiling.Store(4 << 20)
	d := newCallDeadline(context.Background(), 10*time.Second)
	defer d.stop()
	ctx, cancel := context.WithCancelCause(d.ctx)
	done := make(chan struct{})
	go func() { // owner: this test, which waits for it
		defer close(done)
		lim.watchMemory(ctx, cancel)
	}()
	time.Sleep(5 * memorySample) // the watchdog takes its base first
	release := d.hold(time.Second)
	grown := make([]byte, 16<<20) // four times the ceiling, during the wait
	for i := range grown {
		grown[i] = 1
	}
	// Let the watchdog sample the grown heap many times.
	time.Sleep(20 * memorySample)
	release()
	time.Sleep(20 * memorySample)
	runtime.KeepAlive(grown)
	cancel(nil)
	<-done
	if errors.Is(context.Cause(ctx), errMemory) {
		t.Fatal("the watchdog counted the heap grown during a wait")
	}
}
