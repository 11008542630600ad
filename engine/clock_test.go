package engine

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when the test says so: Advance
// fires every timer whose time has come.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers map[*fakeTimer]bool // the armed ones
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, timers: map[*fakeTimer]bool{}}
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.now
}

func (f *fakeClock) NewTimer(d time.Duration) Timer {
	t := &fakeTimer{clock: f, c: make(chan time.Time, 1)}
	t.Reset(d)
	return t
}

// Advance moves the clock forward by d and fires the timers due by then.
func (f *fakeClock) Advance(d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.now = f.now.Add(d)
	for t := range f.timers {
		if !t.when.After(f.now) {
			t.fire(f.now)
		}
	}
}

// armed returns how many timers are waiting to fire.
func (f *fakeClock) armed() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.timers)
}

// nextFire returns when the earliest armed timer fires; false if none is.
func (f *fakeClock) nextFire() (time.Time, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var next time.Time
	for t := range f.timers {
		if next.IsZero() || t.when.Before(next) {
			next = t.when
		}
	}
	return next, !next.IsZero()
}

type fakeTimer struct {
	clock *fakeClock
	c     chan time.Time
	when  time.Time // guarded by clock.mu
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Reset(d time.Duration) {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	t.drain()
	t.when = f.now.Add(d)
	f.timers[t] = true
	if d <= 0 {
		t.fire(f.now)
	}
}

func (t *fakeTimer) Stop() {
	f := t.clock
	f.mu.Lock()
	defer f.mu.Unlock()
	t.drain()
	delete(f.timers, t)
}

// fire delivers now and disarms t; f.mu is held.
func (t *fakeTimer) fire(now time.Time) {
	delete(t.clock.timers, t)
	select {
	case t.c <- now:
	default:
	}
}

// drain drops a time fired but not received (Go 1.23 timer semantics).
func (t *fakeTimer) drain() {
	select {
	case <-t.c:
	default:
	}
}

func TestEvery_FixedRateOnTheClock(t *testing.T) {
	clk := newFakeClock(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	calls := make(chan time.Time)
	done := make(chan struct{})
	ended := make(chan struct{})
	go func() {
		defer close(ended)
		every(clk, time.Second, done, func() { calls <- clk.Now() })
	}()
	waitArmed := func() {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for clk.armed() == 0 {
			if time.Now().After(deadline) {
				t.Fatal("every never armed its timer")
			}
			time.Sleep(time.Millisecond)
		}
	}
	for i := 1; i <= 3; i++ {
		waitArmed()
		select {
		case <-calls:
			t.Fatal("called before its time")
		default:
		}
		clk.Advance(time.Second)
		select {
		case at := <-calls:
			if want := time.Duration(i) * time.Second; at.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)) != want {
				t.Fatalf("call %d at +%s, want +%s", i, at.Sub(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)), want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("call %d never came", i)
		}
	}
	close(done)
	select {
	case <-ended:
	case <-time.After(5 * time.Second):
		t.Fatal("every did not return when done closed")
	}
}
