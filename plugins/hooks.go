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
// waits for a hook.
// Handle and Set are safe for concurrent use; Run runs once.
type HookRunner struct {
	log        func(level, msg, where string)
	restarts   func(component string, since time.Time) int
	queue      chan engine.Event
	dropped    atomic.Int64
	mu         sync.Mutex
	hooks      []config.Hook
	settings   config.PluginSettings
	failures   map[int]int // by hook index, consecutive
	disabled   map[int]bool
	generation int
}

// NewHookRunner returns a runner that logs through log and counts recent
// restarts (for ev.restarts_last_hour) with restarts.
func NewHookRunner(log func(level, msg, where string), restarts func(component string, since time.Time) int) *HookRunner {
	if log == nil {
		log = func(string, string, string) {}
	}
	return &HookRunner{log: log, restarts: restarts, queue: make(chan engine.Event, hookQueue)}
}

// Set installs the hooks of cfg (at start and after every config reload);
// failure counts start afresh. A hook already running finishes in the
// script that defined it.
func (h *HookRunner) Set(cfg *config.Config) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hooks, h.settings = cfg.Hooks, cfg.Settings.Plugins
	h.failures, h.disabled = map[int]int{}, map[int]bool{}
	h.generation++
}

// Handle queues ev for the hooks; it never blocks (engine.Options.OnEvent).
func (h *HookRunner) Handle(ev engine.Event) {
	select {
	case h.queue <- ev:
	default:
		h.dropped.Add(1)
	}
}

// Dropped returns how many events were dropped because the queue was full.
func (h *HookRunner) Dropped() int64 { return h.dropped.Load() }

// Run calls hooks until ctx ends.
func (h *HookRunner) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
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
			arg = hookArg(name, ev, h.restarts)
		}
		_, err := hk.Func.Call(ctx, arg, settings.Timeout)
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

// hookArg is the table a hook receives.
func hookArg(name string, ev engine.Event, restarts func(string, time.Time) int) map[string]any {
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
	if restarts != nil {
		arg["restarts_last_hour"] = restarts(ev.Component, ev.Time.Add(-time.Hour))
	}
	return arg
}
