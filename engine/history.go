package engine

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/thorp-dev/thorp/policies"
)

// The bounds of a history request.
const (
	// HistoryDefaultWindow is the window of a history request that names none.
	HistoryDefaultWindow = time.Hour
	// HistoryMaxWindow is the longest window thorp keeps.
	HistoryMaxWindow = 24 * time.Hour
	// historyMarkers bounds the restart markers kept per component.
	historyMarkers = 1000
	// historyTimeout bounds the wait for a component loop's copy.
	historyTimeout = 5 * time.Second
)

// ErrBadWindow is returned by History for a window of 0 or less, or
// longer than HistoryMaxWindow.
var ErrBadWindow = errors.New("history window out of range")

// History is what thorp kept of one component's samples and restarts over
// a window: per instance, the columns of its samples, oldest first; the
// last hour at every sample (points at least 0.9 s apart), and before it
// one point a minute (the highest RSS and PSS of the minute, its mean
// CPU). Nothing of it survives a thorp restart. Values are copies, safe
// to keep.
type History struct {
	Component string
	Window    time.Duration
	// Interval is the component's sampling period.
	Interval time.Duration
	// Limit is max_memory_restart in bytes, a limit per process; 0 for none.
	Limit     int64
	Instances []InstanceHistory
	// Restarts are the restarts within the window, oldest first.
	Restarts []RestartMarker
}

// InstanceHistory is one instance's samples as columns of equal length.
type InstanceHistory struct {
	Index int
	// Time is each sample's time in Unix seconds (to the tenth).
	Time []float64
	// RSS and PSS are the process tree's memory in bytes (KiB precision);
	// PSS is -1 where it was not measured (memory_measure is not "pss").
	RSS, PSS []int64
	// CPU is the tree's CPU use in % of one core (to the tenth).
	CPU []float64
}

// RestartMarker is one restart of an instance: when, why (the restart
// reason and the restart event's message), the process it replaced
// (OldPID, 0 when none ran) and the one that replaced it (NewPID, 0 until
// it has started).
type RestartMarker struct {
	Time     time.Time
	Instance int
	Reason   policies.Reason
	Detail   string
	OldPID   int
	NewPID   int
}

// History returns what thorp kept of the named component over the last
// window (HistoryDefaultWindow when 0). The component's loop copies it
// out, so History is safe for concurrent use and costs the loop one copy
// per call. Before Run has started the components it returns no samples.
func (s *Supervisor) History(name string, window time.Duration) (History, error) {
	if window == 0 {
		window = HistoryDefaultWindow
	}
	if window < 0 || window > HistoryMaxWindow {
		return History{}, fmt.Errorf("%w: %s; give more than 0 and at most %s", ErrBadWindow, window, HistoryMaxWindow)
	}
	c, err := s.component(name)
	if err != nil {
		return History{}, err
	}
	h := &History{}
	select {
	case <-s.running:
	default:
		return c.emptyHistory(window), nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), historyTimeout)
	defer cancel()
	if err := c.send(ctx, request{op: opHistory, window: window, history: h}); err != nil {
		return History{}, err
	}
	return *h, nil
}

// emptyHistory is the history of a component whose loop has not run yet:
// its instances, without samples.
func (c *component) emptyHistory(window time.Duration) History {
	cc := c.config()
	h := History{Component: c.name, Window: window, Interval: c.sup.samplePeriod(cc), Limit: int64(cc.MaxMemoryRestart),
		Restarts: []RestartMarker{}}
	for _, in := range c.status().Instances {
		h.Instances = append(h.Instances, noSamples(in.Index))
	}
	return h
}

// noSamples is the history of an instance without samples.
func noSamples(index int) InstanceHistory {
	return InstanceHistory{Index: index, Time: []float64{}, RSS: []int64{}, PSS: []int64{}, CPU: []float64{}}
}

// history copies out c's history over window; loop only.
func (c *component) history(window time.Duration) History {
	from := c.clock.Now().Add(-window)
	h := History{Component: c.name, Window: window, Interval: c.sup.samplePeriod(c.cfg), Limit: int64(c.cfg.MaxMemoryRestart),
		Instances: make([]InstanceHistory, 0, len(c.insts)), Restarts: []RestartMarker{}}
	for _, in := range c.insts {
		if in.series == nil {
			h.Instances = append(h.Instances, noSamples(in.index))
			continue
		}
		h.Instances = append(h.Instances, in.series.since(from, in.index))
	}
	for _, m := range c.markers {
		if !m.Time.Before(from) {
			h.Restarts = append(h.Restarts, m)
		}
	}
	return h
}

// record adds sample s of in to its series; loop only.
func (c *component) record(in *instance, s usageSample) {
	if in.series == nil {
		in.series = newSeries(c.sup.samplePeriod(c.cfg))
	}
	in.series.setInterval(c.sup.samplePeriod(c.cfg))
	in.series.add(s.time, s.rss, s.pss, s.cpuPct)
}

// markRestart adds a restart marker for in (oldPID the process it
// replaces, 0 for none); the next process spawned for in fills its NewPID.
// Loop only.
func (c *component) markRestart(in *instance, reason policies.Reason, detail string, oldPID int) {
	now := c.clock.Now()
	drop := 0 // the oldest, beyond the bound or the longest window
	for drop < len(c.markers) && (len(c.markers)-drop >= historyMarkers || now.Sub(c.markers[drop].Time) > HistoryMaxWindow) {
		drop++
	}
	if drop > 0 {
		c.markers = append(c.markers[:0], c.markers[drop:]...)
	}
	c.markerSeq++
	c.markers = append(c.markers, RestartMarker{Time: now, Instance: in.index, Reason: reason, Detail: detail, OldPID: oldPID})
	in.marker = c.markerSeq
}

// markSpawned fills the NewPID of the restart marker waiting for in's
// next process, if one is. Loop only.
func (c *component) markSpawned(in *instance, pid int) {
	if in.marker == 0 {
		return
	}
	// Marker seq k sits at len-1-(markerSeq-k) while it is kept.
	if back := c.markerSeq - in.marker; back < uint64(len(c.markers)) {
		c.markers[len(c.markers)-1-int(back)].NewPID = pid
	}
	in.marker = 0
}
