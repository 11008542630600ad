package plugins

import (
	"context"
	"syscall"

	"github.com/thorp-dev/thorp/engine"
	lua "github.com/yuin/gopher-lua"
)

// Host is the running thorp as the thorp Lua module reaches it from hooks,
// timers and plugins: thorp.status, thorp.restart, thorp.signal,
// thorp.start, thorp.stop and thorp.alert. Its methods never wait for a
// process to change state. Safe for concurrent use.
type Host interface {
	// Status returns the named component's status.
	Status(name string) (engine.Status, error)
	// Restart asks for a restart of the named component (a name, a @tag
	// or "all"), with why as the restart's detail.
	Restart(ctx context.Context, name, why string) error
	// Signal sends sig to the named component's process groups.
	Signal(ctx context.Context, name string, sig syscall.Signal) error
	// Start and Stop ask for the named component to start or stop.
	Start(ctx context.Context, name string) error
	Stop(ctx context.Context, name string) error
	// Alert raises an alert (an engine.EventAlert with Alert "lua"),
	// delivered by settings.alerts and seen by on("alert") hooks.
	Alert(ev engine.Event)
}

// installHost adds the functions that reach the running thorp to the
// thorp table t: status, restart, signal, start, stop, every, after.
// Without Options.Host (thorp check, one-shot commands) they raise a Lua
// error saying they only work while thorp runs.
func (e *evaluator) installHost(L *lua.LState, t *lua.LTable) {}
