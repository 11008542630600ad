package main

import (
	"context"
	"errors"
	"sync/atomic"
	"syscall"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/plugins"
	"github.com/thorp-dev/thorp/policies"
)

// luaHost is the running thorp as thorp.lua's hooks and timers reach it
// (plugins.Host): thorp.status, restart, signal, start, stop and alert go
// to the supervisor, which thorp run stores in sup once daemon.New made it;
// until then (a timer firing while thorp starts) they fail. Nothing waits
// for a process: a restart, start or stop is only asked for. Safe for
// concurrent use.
type luaHost struct {
	sup atomic.Pointer[engine.Supervisor]
}

var _ plugins.Host = (*luaHost)(nil)

// errStarting is the error of a call made before the supervisor exists.
var errStarting = errors.New("thorp is still starting; call this from a later hook or timer")

func (h *luaHost) supervisor() (*engine.Supervisor, error) {
	if sup := h.sup.Load(); sup != nil {
		return sup, nil
	}
	return nil, errStarting
}

// Status returns the status of the component called name (not a tag).
func (h *luaHost) Status(name string) (engine.Status, error) {
	sup, err := h.supervisor()
	if err != nil {
		return engine.Status{}, err
	}
	return sup.StatusOf(name)
}

// Restart asks for a restart of name (a component, @tag or "all") for
// reason manual, why being the restart events' detail.
func (h *luaHost) Restart(ctx context.Context, name, why string) error {
	sup, err := h.supervisor()
	if err != nil {
		return err
	}
	return sup.RestartWhy(ctx, []string{name}, policies.ReasonManual, why, false)
}

// Signal sends sig to the process groups of name's instances.
func (h *luaHost) Signal(ctx context.Context, name string, sig syscall.Signal) error {
	sup, err := h.supervisor()
	if err != nil {
		return err
	}
	return sup.Signal(ctx, []string{name}, sig)
}

// Start asks for name to start.
func (h *luaHost) Start(ctx context.Context, name string) error {
	sup, err := h.supervisor()
	if err != nil {
		return err
	}
	return sup.Start(ctx, []string{name}, false)
}

// Stop asks for name to stop.
func (h *luaHost) Stop(ctx context.Context, name string) error {
	sup, err := h.supervisor()
	if err != nil {
		return err
	}
	return sup.Stop(ctx, []string{name}, false)
}

// Alert records ev as an event (the event ring, the events API, hooks and
// settings.alerts' delivery). Before the supervisor exists it is dropped;
// thorp.alert has logged it already.
func (h *luaHost) Alert(ev engine.Event) {
	if sup := h.sup.Load(); sup != nil {
		sup.Record(ev)
	}
}
