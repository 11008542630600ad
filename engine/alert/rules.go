package alert

import (
	"fmt"
	"slices"
	"strconv"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// counted are the restart reasons the "restarts" rule counts: the restarts
// thorp decided by itself. Those an operator, a reload, cron_restart or
// watch asked for are planned and do not count.
var counted = []policies.Reason{policies.ReasonCrash, policies.ReasonExit, policies.ReasonMemory,
	policies.ReasonHealth, policies.ReasonWatchdog}

// rules is what the settings.alerts rules remember between events. It is
// kept whether or not a rule is listed, so a reload that lists one finds
// its history. Not safe for concurrent use (the Dispatcher's mutex).
type rules struct {
	restarts map[string]*policies.Window // per component, the counted restarts of the last hour, by the minute
	failing  map[instanceKey]bool        // instances whose health check fails now (an episode is open)
}

type instanceKey struct {
	component string
	instance  int
}

func newRules() rules {
	return rules{restarts: map[string]*policies.Window{}, failing: map[instanceKey]bool{}}
}

// apply updates the rules' memory with ev and returns the alerts the rules
// of s.On raise for it (none, mostly).
func (r *rules) apply(s config.AlertSettings, ev engine.Event) []engine.Event {
	on := func(rule string) bool { return slices.Contains(s.On, rule) }
	raise := func(kind, msg string, fields map[string]string) engine.Event {
		return engine.Event{Type: engine.EventAlert, Time: ev.Time, Component: ev.Component, Instance: ev.Instance,
			Reason: ev.Reason, Alert: kind, Message: msg, Fields: fields}
	}
	var out []engine.Event
	key := instanceKey{ev.Component, ev.Instance}
	switch {
	case ev.Type == engine.EventErrored:
		if on(config.AlertErrored) {
			out = append(out, raise(config.AlertErrored, "errored: thorp stopped restarting it", map[string]string{"detail": ev.Message}))
		}
	case ev.Type == engine.EventRunning && ev.Reason == policies.ReasonHealth:
		delete(r.failing, key) // "health check passes again": the episode is over
	}
	if ev.Reason == policies.ReasonHealth && (ev.Type == engine.EventWarning || ev.Type == engine.EventRestart) && !r.failing[key] {
		r.failing[key] = true
		if on(config.AlertHealth) {
			out = append(out, raise(config.AlertHealth, "health check failing", map[string]string{"detail": ev.Message}))
		}
	}
	if ev.Type != engine.EventRestart {
		return out
	}
	if ev.Reason == policies.ReasonMemory && on(config.AlertMemory) {
		out = append(out, raise(config.AlertMemory, "restarted for memory", map[string]string{"detail": ev.Message}))
	}
	if !slices.Contains(counted, ev.Reason) {
		return out
	}
	w := r.restarts[ev.Component]
	if w == nil {
		w = policies.NewWindow(time.Hour, time.Minute)
		r.restarts[ev.Component] = w
	}
	w.Add(ev.Time)
	if n := w.Count(ev.Time); n > s.RestartsPerHour && on(config.AlertRestarts) {
		out = append(out, raise(config.AlertRestarts, fmt.Sprintf("more than %d restarts in the last hour", s.RestartsPerHour),
			map[string]string{"restarts": strconv.Itoa(n), "restarts_per_hour": strconv.Itoa(s.RestartsPerHour),
				"reason": string(ev.Reason), "detail": ev.Message}))
	}
	return out
}
