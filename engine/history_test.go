package engine

import (
	"errors"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// restartOf returns the first restart event of component and the pids
// of its first two spawns.
func restartOf(t *testing.T, evs []Event, component string) (Event, int, int) {
	t.Helper()
	spawns := pidsOf(evs, component, EventSpawn)
	for _, e := range evs {
		if e.Component == component && e.Type == EventRestart && len(spawns) >= 2 {
			return e, spawns[0], spawns[1]
		}
	}
	t.Fatalf("no restart of %s between two spawns:\n%s", component, dumpEvents(evs))
	return Event{}, 0, 0
}

// checkMarker checks that h's first restart marker is ev's, from oldPID
// to newPID.
func checkMarker(t *testing.T, h History, ev Event, oldPID, newPID int) {
	t.Helper()
	if len(h.Restarts) == 0 {
		t.Fatalf("no restart markers: %+v", h)
	}
	m := h.Restarts[0]
	if m.Reason != ev.Reason || m.Detail != ev.Message || m.Instance != 0 || m.OldPID != oldPID || m.NewPID != newPID {
		t.Fatalf("marker %+v, want reason %s, detail %q, old pid %d, new pid %d", m, ev.Reason, ev.Message, oldPID, newPID)
	}
	if d := m.Time.Sub(ev.Time); d < -time.Millisecond || d > time.Millisecond {
		t.Fatalf("marker at %s, restart event at %s", m.Time, ev.Time)
	}
}

func TestSupervisor_HistoryOfAMemoryRestart(t *testing.T) {
	s := startSupervisor(t, leakComponent(t, "leaky", 100<<20, false, func(c *config.Component) {
		c.MaxMemoryRestart = 60 << 20
	}))
	evs := waitEvents(t, s, 20*time.Second, "a memory restart and a new run", func(evs []Event) bool {
		return count(evs, "leaky", EventSpawn) >= 2
	})
	ev, oldPID, newPID := restartOf(t, evs, "leaky")
	if ev.Reason != policies.ReasonMemory {
		t.Fatalf("first restart is not a memory restart:\n%s", dumpEvents(evs))
	}
	// The replacement's samples continue instance 0's history (points
	// are stamped with the start of their second).
	var h History
	deadline := time.Now().Add(10 * time.Second)
	for {
		var err error
		if h, err = s.History("leaky", 0); err != nil {
			t.Fatal(err)
		}
		in := h.Instances[0]
		if n := len(in.Time); n > 0 && in.Time[n-1] > float64(ev.Time.UnixMilli())/1000+1 && in.Time[0] <= float64(ev.Time.Unix()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no samples on both sides of the restart at %s: %+v", ev.Time, h)
		}
		time.Sleep(100 * time.Millisecond)
	}
	if h.Component != "leaky" || h.Window != time.Hour || h.Interval != 100*time.Millisecond || h.Limit != 60<<20 {
		t.Fatalf("history header %q %s %s %d", h.Component, h.Window, h.Interval, h.Limit)
	}
	checkMarker(t, h, ev, oldPID, newPID)
	in := h.Instances[0]
	if len(h.Instances) != 1 || len(in.RSS) != len(in.Time) || len(in.PSS) != len(in.Time) || len(in.CPU) != len(in.Time) {
		t.Fatalf("columns of unequal length: %+v", h.Instances)
	}
	peak := int64(0)
	for i := range in.Time {
		if i > 0 && in.Time[i] <= in.Time[i-1] {
			t.Fatalf("times not increasing: %v", in.Time)
		}
		if in.PSS[i] != -1 {
			t.Fatalf("pss %d without memory_measure = \"pss\"", in.PSS[i])
		}
		peak = max(peak, in.RSS[i])
	}
	if peak < 30<<20 {
		t.Fatalf("highest RSS %d; the leak reached 60 MiB", peak)
	}
}

func TestSupervisor_HistoryOfACrashRestart(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "crashy", "sleep 0.3; exit 3", func(c *config.Component) {
		c.MemoryInterval = 100 * time.Millisecond
		c.MaxMemoryRestart = 1 << 30
	}))
	evs := waitEvents(t, s, 20*time.Second, "a crash restart and a new run", func(evs []Event) bool {
		return count(evs, "crashy", EventSpawn) >= 2
	})
	ev, oldPID, newPID := restartOf(t, evs, "crashy")
	if ev.Reason != policies.ReasonCrash {
		t.Fatalf("first restart is not a crash restart:\n%s", dumpEvents(evs))
	}
	h, err := s.History("crashy", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	checkMarker(t, h, ev, oldPID, newPID)
}

func TestSupervisor_HistoryWindowBounds(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "svc", "exec sleep 100", nil))
	for _, w := range []time.Duration{-time.Second, HistoryMaxWindow + time.Second} {
		if _, err := s.History("svc", w); !errors.Is(err, ErrBadWindow) {
			t.Errorf("History(%s) = %v, want ErrBadWindow", w, err)
		}
	}
	if _, err := s.History("nope", 0); !errors.Is(err, ErrUnknownComponent) {
		t.Errorf("History of an unknown component = %v, want ErrUnknownComponent", err)
	}
	for _, w := range []time.Duration{0, HistoryMaxWindow} {
		h, err := s.History("svc", w)
		if err != nil {
			t.Fatal(err)
		}
		if want := max(w, HistoryDefaultWindow); h.Window != want || h.Interval != displayInterval || len(h.Instances) != 1 || h.Restarts == nil {
			t.Errorf("History(%s) = window %s, interval %s, %d instances, restarts %v", w, h.Window, h.Interval, len(h.Instances), h.Restarts)
		}
	}
}

// lastPoint is the time of instance 0's newest point, 0 for none.
func lastPoint(t *testing.T, s *Supervisor, name string) float64 {
	t.Helper()
	h, err := s.History(name, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if ts := h.Instances[0].Time; len(ts) > 0 {
		return ts[len(ts)-1]
	}
	return 0
}

func TestSupervisor_HistoryFillsAndDownsamplesOnTheEnginesClock(t *testing.T) {
	// A real process sampled every 10 s of a clock the test moves: an hour
	// is 360 points, and what is older goes to one point a minute.
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	s := startSupervisorWith(t, Options{Clock: clk}, testComponent(t, "svc", "exec sleep 1000", func(c *config.Component) {
		c.MemoryInterval = 10 * time.Second
		c.MaxMemoryRestart = 1 << 30
	}))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "svc", EventRunning) >= 1 })
	// 70 minutes in steps of 10 s, each waiting for its sample. A step
	// that came while the sampler was still busy with the one before
	// finds its timer disarmed; it re-arms 100 ms ahead, so the clock is
	// moved on by that much (the sample stays in the step's 10 s slot).
	missed := 0
	for step := 0; step < 420; step++ {
		clk.Advance(10 * time.Second)
		want := float64(clk.Now().Unix() / 10 * 10)
		deadline := time.Now().Add(5 * time.Second)
		for nudge := time.Now().Add(20 * time.Millisecond); lastPoint(t, s, "svc") < want; {
			if time.Now().After(deadline) {
				missed++
				break
			}
			if time.Now().After(nudge) {
				clk.Advance(100 * time.Millisecond)
				nudge = time.Now().Add(20 * time.Millisecond)
			}
			time.Sleep(time.Millisecond)
		}
	}
	t.Logf("%d of 420 steps missed", missed)
	if missed > 10 {
		t.Fatalf("the sampler missed %d steps of 420", missed)
	}
	now := clk.Now()
	h, err := s.History("svc", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	in := h.Instances[0]
	if len(in.Time) < 350 || len(in.Time) > 360 {
		t.Fatalf("%d points in the last hour at 10 s, want up to 360", len(in.Time))
	}
	for i := range in.Time {
		if in.RSS[i] <= 0 || in.PSS[i] != -1 || (i > 0 && in.Time[i] <= in.Time[i-1]) || in.Time[i] < float64(now.Add(-time.Hour).Unix()) {
			t.Fatalf("point %d: time %v rss %d pss %d (now %v)", i, in.Time[i], in.RSS[i], in.PSS[i], now.Unix())
		}
	}
	day, err := s.History("svc", HistoryMaxWindow)
	if err != nil {
		t.Fatal(err)
	}
	di := day.Instances[0]
	older := 0
	for i, at := range di.Time {
		if at >= in.Time[0] {
			break
		}
		if float64(int64(at)/60*60) != at || (i > 0 && at-di.Time[i-1] < 60) {
			t.Fatalf("point %v before the last hour is not one a minute: %v", at, di.Time[:i+1])
		}
		older++
	}
	if older == 0 || older+len(in.Time) != len(di.Time) {
		t.Fatalf("24h window: %d points a minute before the hour's %d, of %d", older, len(in.Time), len(di.Time))
	}
}

func TestSupervisor_HistoryBeforeRun(t *testing.T) {
	s, err := New(testConfig(t, testComponent(t, "svc", "exec sleep 100", func(c *config.Component) { c.Instances = 2 })), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	h, err := s.History("svc", 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(h.Instances) != 2 || h.Instances[1].Index != 1 || h.Instances[1].Time == nil || len(h.Instances[1].Time) != 0 || h.Restarts == nil {
		t.Fatalf("history before Run: %+v", h)
	}
}
