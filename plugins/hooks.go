package plugins

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// hookQueue bounds the events waiting for hooks; past it events are dropped
// (and counted), so a slow hook never holds up supervision.
const hookQueue = 256

// HookRunner runs the on(event, fn) hooks of thorp.lua for the engine's
// events: one goroutine calls them in order, each under
// settings.plugins.timeout and settings.plugins.max_memory, in a Lua state
// of their own (never the one ready, health and memory_policy functions run
// in). A hook that fails max_failures times in a row, or overruns its time
// or memory limit once, is disabled and says so once; supervision never
// waits for a hook. The timers (thorp.every, thorp.after) of the Script
// whose hooks are installed fire while that Script is installed and Run
// runs; they are called on the hooks' state's own goroutine, not on Run's.
// Handle and Set are safe for concurrent use; Run runs once.
type HookRunner struct {
	log        func(level, msg, where string)
	queue      chan engine.Event
	restartsMu sync.Mutex
	restarts   map[string]*policies.Window // by component, for ev.restarts_last_hour
	dropped    atomic.Int64
	calls      [2]atomic.Int64 // by outcome: 0 ok, 1 failed
	mu         sync.Mutex
	hooks      []config.Hook
	script     *Script // whose timers run; held so it stays open
	settings   config.PluginSettings
	failures   map[int]int // by hook index, consecutive
	disabled   map[int]bool
	generation int
}

// NewHookRunner returns a runner that logs through log.
func NewHookRunner(log func(level, msg, where string)) *HookRunner {
	if log == nil {
		log = func(string, string, string) {}
	}
	return &HookRunner{log: log, queue: make(chan engine.Event, hookQueue), restarts: map[string]*policies.Window{}}
}

// Set installs the hooks of cfg (at start and after every config reload)
// and starts the timers of script, the Script cfg's functions are bound to
// (nil for none), bounded like hooks by settings.plugins; the previous
// Script's timers stop (one running now finishes, and none fires after
// it). Failure counts start afresh. A hook already running finishes in
// the script that defined it.
func (h *HookRunner) Set(cfg *config.Config, script *Script) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if script != h.script {
		if h.script != nil {
			h.script.stopTimers()
		}
		if script != nil {
			script.startTimers(cfg.Settings.Plugins)
		}
		h.script = script
	}
	h.hooks, h.settings = cfg.Hooks, cfg.Settings.Plugins
	h.failures, h.disabled = map[int]int{}, map[int]bool{}
	h.generation++
}

// Handle queues ev for the hooks; it never blocks (engine.Options.OnEvent).
// Restarts are counted here, before the queue, so ev.restarts_last_hour
// counts those whose events were dropped too.
func (h *HookRunner) Handle(ev engine.Event) {
	if ev.Type == engine.EventRestart {
		h.restartsMu.Lock()
		w := h.restarts[ev.Component]
		if w == nil {
			w = policies.NewWindow(time.Hour, time.Minute)
			h.restarts[ev.Component] = w
		}
		w.Add(ev.Time)
		h.restartsMu.Unlock()
	}
	select {
	case h.queue <- ev:
	default:
		h.dropped.Add(1)
	}
}

// Run calls hooks until ctx ends, and then stops the timers.
func (h *HookRunner) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			h.mu.Lock()
			if h.script != nil {
				h.script.stopTimers()
			}
			h.mu.Unlock()
			return
		case ev := <-h.queue:
			for _, name := range hookEvents(ev) {
				h.dispatch(ctx, name, ev)
			}
		}
	}
}

// hookEvents maps an engine event to the on() event names it triggers.
func hookEvents(ev engine.Event) []string {
	switch ev.Type {
	case engine.EventSpawn:
		return []string{"start"}
	case engine.EventRunning:
		if ev.Reason == "" {
			return []string{"ready"}
		}
	case engine.EventExit:
		return []string{"exit"}
	case engine.EventRestart:
		names := []string{"restart"}
		switch ev.Reason {
		case policies.ReasonCrash, policies.ReasonMemory, policies.ReasonHealth:
			names = append(names, string(ev.Reason)) // on("crash"), on("memory"), on("health")
		}
		return names
	case engine.EventStopped:
		return []string{"stop"}
	case engine.EventErrored:
		return []string{"errored"}
	case engine.EventAlert:
		return []string{"alert"}
	case engine.EventWarning:
		if ev.Reason == policies.ReasonHealth {
			return []string{"health"}
		}
	case EventReload:
		return []string{"reload"}
	}
	return nil
}

// EventReload is the type of the event thorp hands Handle after a config
// reload was applied; it triggers on("reload") hooks.
const EventReload = "reload"

func (h *HookRunner) dispatch(ctx context.Context, name string, ev engine.Event) {
	h.mu.Lock()
	hooks, settings, gen := h.hooks, h.settings, h.generation
	h.mu.Unlock()
	var arg map[string]any
	for i, hk := range hooks {
		if hk.Event != name || h.isDisabled(gen, i) {
			continue
		}
		if arg == nil {
			arg = hookArg(name, ev, h.restartsLastHour(ev))
		}
		_, err := hk.Func.Call(ctx, arg, settings.Timeout)
		if err != nil {
			h.calls[1].Add(1)
		} else {
			h.calls[0].Add(1)
		}
		h.record(gen, i, hk, settings.MaxFailures, err)
	}
}

func (h *HookRunner) isDisabled(gen, i int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return gen != h.generation || h.disabled[i]
}

// record counts a hook's outcome, disabling it after maxFailures in a row.
func (h *HookRunner) record(gen, i int, hk config.Hook, maxFailures int, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if gen != h.generation {
		return // the config was reloaded meanwhile
	}
	if err == nil {
		h.failures[i] = 0
		return
	}
	h.failures[i]++
	h.log("warn", fmt.Sprintf("on(%q) hook failed (%d in a row): %v", hk.Event, h.failures[i], err), hk.Func.Where())
	if errors.Is(err, ErrOverrun) {
		h.disabled[i] = true
		h.log("error", fmt.Sprintf("on(%q) hook disabled: it overran its limit (settings.plugins.timeout or max_memory); fix it and reload the config", hk.Event), hk.Func.Where())
		return
	}
	if h.failures[i] >= max(maxFailures, 1) {
		h.disabled[i] = true
		h.log("error", fmt.Sprintf("on(%q) hook disabled after %d failures in a row; fix it and reload the config", hk.Event, h.failures[i]), hk.Func.Where())
	}
}

// restartsLastHour counts ev's component's restarts within the hour up
// to ev (by the minute).
func (h *HookRunner) restartsLastHour(ev engine.Event) int {
	h.restartsMu.Lock()
	defer h.restartsMu.Unlock()
	if w := h.restarts[ev.Component]; w != nil {
		return w.Count(ev.Time)
	}
	return 0
}

// hookArg is the table a hook receives.
func hookArg(name string, ev engine.Event, restartsLastHour int) map[string]any {
	arg := map[string]any{
		"event":     name,
		"component": ev.Component,
		"instance":  ev.Instance,
		"type":      ev.Type,
		"state":     string(ev.State),
		"reason":    string(ev.Reason),
		"pid":       ev.PID,
		"signal":    ev.Signal,
		"message":   ev.Message,
		"time":      float64(ev.Time.UnixMilli()) / 1000,
	}
	if ev.Code != nil {
		arg["code"] = *ev.Code
	}
	if ev.Alert != "" {
		fields := make(map[string]any, len(ev.Fields))
		for k, v := range ev.Fields {
			fields[k] = v
		}
		arg["alert"], arg["fields"] = ev.Alert, fields
	}
	arg["restarts_last_hour"] = restartsLastHour
	return arg
}
