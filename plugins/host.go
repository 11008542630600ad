package plugins

import (
	"context"
	"syscall"

	lua "github.com/yuin/gopher-lua"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
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

// defaultRestartWhy is the detail of a thorp.restart(name) given no reason.
const defaultRestartWhy = "requested by a hook"

// installHost adds the functions that reach the running thorp to the
// thorp table t: status, restart, signal, start, stop, and the timers
// every and after (timers.go). Without Options.Host (thorp check,
// one-shot commands) and while thorp.lua loads they raise a Lua error
// saying they only work while thorp runs.
func (e *evaluator) installHost(L *lua.LState, t *lua.LTable) {
	t.RawSetString("status", L.NewFunction(e.luaStatus))
	t.RawSetString("restart", L.NewFunction(e.luaRestart))
	t.RawSetString("signal", L.NewFunction(e.luaSignal))
	t.RawSetString("start", L.NewFunction(e.luaStartStop("thorp.start", Host.Start)))
	t.RawSetString("stop", L.NewFunction(e.luaStartStop("thorp.stop", Host.Stop)))
	e.installTimers(L, t)
}

// host returns Options.Host for the thorp function fn, or raises the Lua
// error of a call that cannot reach the running thorp: while thorp.lua
// loads (its top level runs for thorp check and once per Lua state), where
// no thorp runs, and, for a function that acts (acts), from a ready,
// health or memory_policy function: supervision calls those and waits for
// them, so they must not ask it to act in turn.
func (e *evaluator) host(L *lua.LState, fn string, acts bool) Host {
	switch {
	case e.loading:
		L.RaiseError("%s cannot run while thorp.lua loads (its top level runs for thorp check and once per Lua state); call it from hooks, timers and functions thorp calls later", fn)
	case e.opts.Host == nil:
		L.RaiseError("%s works only while thorp runs (from hooks, timers and functions thorp calls later)", fn)
	case acts && e.role != roleHook:
		L.RaiseError("%s works only in hooks and timers, not in ready, health or memory_policy functions (supervision waits for those)", fn)
	}
	return e.opts.Host
}

// luaStatus is thorp.status(name): the component's status as a table (see
// statusTable).
func (e *evaluator) luaStatus(L *lua.LState) int {
	name := L.CheckString(1)
	st, err := e.host(L, "thorp.status", false).Status(name)
	if err != nil {
		L.RaiseError("thorp.status: %v", err)
	}
	t, err := goToLua(L, statusTable(st))
	if err != nil {
		L.RaiseError("thorp.status: %v", err)
	}
	L.Push(t)
	return 1
}

// statusTable is what thorp.status returns: the fields of engine.Status a
// script decides on, named as `thorp status --json` names them, sizes in
// bytes and times in seconds.
func statusTable(st engine.Status) map[string]any {
	byReason := map[string]any{}
	for r, n := range st.RestartsByReason {
		byReason[r] = n
	}
	insts := make([]any, len(st.Instances))
	for i, in := range st.Instances {
		insts[i] = map[string]any{
			"index":       in.Index,
			"state":       string(in.State),
			"pid":         in.PID,
			"memory":      in.MemoryBytes,
			"uptime":      in.UptimeSeconds,
			"restarts":    in.Restarts,
			"cpu_percent": in.CPUPercent,
		}
	}
	t := map[string]any{
		"name":                   st.Name,
		"state":                  string(st.State),
		"pid":                    st.PID,
		"restarts":               st.Restarts,
		"restarts_by_reason":     byReason,
		"last_restart_reason":    string(st.LastRestartReason),
		"memory":                 st.MemoryBytes,
		"memory_limit":           st.MemoryLimitBytes,
		"memory_growth_per_hour": st.MemoryGrowthBytesPerHour,
		"cpu_percent":            st.CPUPercent,
		"uptime":                 st.UptimeSeconds,
		"healthy":                st.Healthy,
		"message":                st.Message,
		"instances":              insts,
	}
	if st.MemoryTimeToLimitSeconds > 0 {
		t["memory_time_to_limit"] = st.MemoryTimeToLimitSeconds
	}
	if st.LastExit != nil {
		t["last_exit"] = map[string]any{
			"code":   st.LastExit.Code,
			"signal": st.LastExit.Signal,
			"time":   float64(st.LastExit.Time.UnixMilli()) / 1000,
		}
	}
	return t
}

// luaRestart is thorp.restart(name, reason): asks for a restart (reason
// "manual" in events and metrics) with reason as its detail, and returns
// without waiting for it.
func (e *evaluator) luaRestart(L *lua.LState) int {
	name := L.CheckString(1)
	why := defaultRestartWhy
	if L.GetTop() >= 2 && L.Get(2) != lua.LNil {
		why = L.ToStringMeta(L.Get(2)).String()
	}
	if err := e.host(L, "thorp.restart", true).Restart(callContext(L), name, why); err != nil {
		L.RaiseError("thorp.restart: %v", err)
	}
	return 0
}

// luaSignal is thorp.signal(name, sig), sig a name ("HUP", "SIGHUP") or a
// number.
func (e *evaluator) luaSignal(L *lua.LState) int {
	name := L.CheckString(1)
	var sig config.Signal
	var err error
	switch v := L.Get(2).(type) {
	case lua.LString:
		sig, err = config.ParseSignal(string(v))
	case lua.LNumber:
		sig, err = config.ParseSignal(v.String())
	default:
		L.RaiseError(`thorp.signal needs a component name and a signal: thorp.signal("web", "HUP"), got a %s for the signal`, v.Type())
	}
	if err != nil {
		L.RaiseError("thorp.signal: %v", err)
	}
	if err := e.host(L, "thorp.signal", true).Signal(callContext(L), name, syscall.Signal(sig)); err != nil {
		L.RaiseError("thorp.signal: %v", err)
	}
	return 0
}

// luaStartStop is thorp.start(name) or thorp.stop(name) (fn), which ask and
// return without waiting.
func (e *evaluator) luaStartStop(fn string, do func(Host, context.Context, string) error) lua.LGFunction {
	return func(L *lua.LState) int {
		name := L.CheckString(1)
		if err := do(e.host(L, fn, true), callContext(L), name); err != nil {
			L.RaiseError("%s: %v", fn, err)
		}
		return 0
	}
}

// luaAlert is thorp.alert(msg, fields): a line in thorp's log at level
// "alert" and, from a hook, timer or other function thorp calls while it
// runs, an alert event (Host.Alert). fields is an optional table whose
// values are turned into strings; fields.component names the component
// the alert is about and a whole fields.instance its instance. At the top
// level of thorp.lua (which runs more than once) it only logs.
func (e *evaluator) luaAlert(L *lua.LState) int {
	msg := L.ToStringMeta(L.Get(1)).String()
	var fields map[string]string
	switch v := L.Get(2).(type) {
	case *lua.LNilType:
	case *lua.LTable:
		fields = map[string]string{}
		v.ForEach(func(k, x lua.LValue) {
			fields[L.ToStringMeta(k).String()] = L.ToStringMeta(x).String()
		})
	default:
		L.RaiseError(`thorp.alert's fields must be a table: thorp.alert("disk full", { component = "db" }), got a %s`, v.Type())
	}
	e.log("alert", msg, e.caller(L))
	if e.loading || e.opts.Host == nil {
		return 0
	}
	ev := engine.Event{Type: engine.EventAlert, Alert: "lua", Component: fields["component"], Message: msg, Fields: fields}
	if n, ok := L.Get(2).(*lua.LTable); ok {
		if i, ok := n.RawGetString("instance").(lua.LNumber); ok && i >= 0 && float64(i) == float64(int(i)) {
			ev.Instance = int(i)
		}
	}
	e.opts.Host.Alert(ev)
	return 0
}
