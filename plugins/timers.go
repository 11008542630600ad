package plugins

import (
	"fmt"
	"slices"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/thorp-dev/thorp/engine/config"
)

// minTimerPeriod is the shortest period of thorp.every and delay of
// thorp.after.
const minTimerPeriod = 100 * time.Millisecond

// maxTimers bounds the timers armed at once in one Lua state, so a hook
// that arms one per event cannot grow them without end.
const maxTimers = 1000

// timerHandle is the Lua type name of the handles thorp.every and
// thorp.after return.
const timerHandle = "thorp.timer"

// timerKey identifies a timer across evaluations of one thorp.lua: the
// prototype of its function and where thorp.every or thorp.after armed
// it. A timer disabled in one state stays disabled in the fresh state
// that replaces it.
type timerKey struct {
	proto *lua.FunctionProto
	at    pos
}

// timerSet is the timers armed in one hooks Lua state. Only the state's
// owner goroutine touches it: thorp.every, thorp.after and a handle's
// cancel run there, and so does every call of a timer's function (see
// scriptState.own), so it needs no lock.
type timerSet struct {
	// stopped is closed once the Script's timers were stopped (a reload
	// installed new hooks, or thorp stops): arming is refused from then on.
	stopped <-chan struct{}
	// disabled are the keys of timers that failed max_failures times in a
	// row or overran their limit, with why; the scriptState's, kept across
	// fresh states.
	disabled map[timerKey]string
	list     []*luaTimer
}

// luaTimer is one armed thorp.every or thorp.after.
type luaTimer struct {
	key      timerKey
	fn       *lua.LFunction
	name     string // "thorp.every" or "thorp.after"
	where    string // the call that armed it, "thorp.lua:LINE"
	fnWhere  string // the function's definition, "thorp.lua:LINE"
	period   time.Duration
	once     bool // thorp.after
	next     time.Time
	failures int // in a row
}

// installTimers adds thorp.every and thorp.after to the thorp table t.
func (e *evaluator) installTimers(L *lua.LState, t *lua.LTable) {
	mt := L.NewTypeMetatable(timerHandle)
	methods := L.NewTable()
	methods.RawSetString("cancel", L.NewFunction(e.luaCancel))
	mt.RawSetString("__index", methods)
	t.RawSetString("every", L.NewFunction(func(L *lua.LState) int { return e.luaTimer(L, "thorp.every", false) }))
	t.RawSetString("after", L.NewFunction(func(L *lua.LState) int { return e.luaTimer(L, "thorp.after", true) }))
}

// luaTimer is thorp.every(duration, fn) (once false) and
// thorp.after(duration, fn) (once true). It returns a handle whose
// cancel() disarms the timer. Only the hooks' state arms timers: in the
// state of ready, health and memory_policy functions, and in the
// evaluation thorp check runs, a call at the top level returns a handle
// that does nothing, and a call from a function raises an error.
func (e *evaluator) luaTimer(L *lua.LState, name string, once bool) int {
	usage := fmt.Sprintf(`%s needs a duration and a function: %s("30s", function() … end)`, name, name)
	var period time.Duration
	var err error
	switch v := L.Get(1).(type) {
	case lua.LString:
		period, err = config.ParseDuration(string(v))
	case lua.LNumber:
		period, err = config.ParseDuration(v.String())
	default:
		L.RaiseError("%s, got a %s for the duration", usage, v.Type())
	}
	if err != nil {
		L.RaiseError("%s: %v", name, err)
	}
	if period < minTimerPeriod {
		L.RaiseError("%s: %s is shorter than the minimum of %s", name, period, minTimerPeriod)
	}
	fn, ok := L.Get(2).(*lua.LFunction)
	if !ok {
		L.RaiseError("%s, got a %s for the function", usage, L.Get(2).Type())
	}
	at := e.caller(L)
	var armed *luaTimer
	switch {
	case e.timers != nil:
		select {
		case <-e.timers.stopped:
			L.RaiseError("%s: this config's timers were stopped (a reload replaced it, or thorp is stopping)", name)
		default:
		}
		if len(e.timers.list) >= maxTimers {
			L.RaiseError("%s: %d timers are armed already; cancel some (handle:cancel())", name, maxTimers)
		}
		armed = e.timers.arm(name, fn, at, period, once)
	case e.loading:
		e.timersDeclared = true // the hooks' state arms it
	default:
		L.RaiseError("%s works only in hooks and timers, not in ready, health or memory_policy functions", name)
	}
	ud := L.NewUserData()
	ud.Value = armed // nil: a handle that does nothing
	L.SetMetatable(ud, L.GetTypeMetatable(timerHandle))
	L.Push(ud)
	return 1
}

// luaCancel is handle:cancel(): the timer never fires again (a call
// already running finishes). Cancelling twice, or a handle that armed
// nothing, does nothing.
func (e *evaluator) luaCancel(L *lua.LState) int {
	ud := L.CheckUserData(1)
	if t, ok := ud.Value.(*luaTimer); ok && e.timers != nil {
		e.timers.remove(t)
	}
	return 0
}

// arm adds a timer of fn, armed by the call at at, unless its key is
// disabled (then it returns nil).
func (ts *timerSet) arm(name string, fn *lua.LFunction, at pos, period time.Duration, once bool) *luaTimer {
	key := timerKey{proto: fn.Proto, at: at}
	if _, off := ts.disabled[key]; off {
		return nil
	}
	t := &luaTimer{key: key, fn: fn, name: name, where: at.String(), fnWhere: at.String(),
		period: period, once: once, next: time.Now().Add(period)}
	if fn.Proto != nil && fn.Proto.LineDefined > 0 {
		t.fnWhere = pos{fn.Proto.SourceName, fn.Proto.LineDefined}.String()
	}
	ts.list = append(ts.list, t)
	return t
}

// remove disarms t.
func (ts *timerSet) remove(t *luaTimer) {
	ts.list = slices.DeleteFunc(ts.list, func(x *luaTimer) bool { return x == t })
}

// rebase makes every timer's next firing a period from now: the timers
// start counting when they start running, not when they were armed.
func (ts *timerSet) rebase(now time.Time) {
	for _, t := range ts.list {
		t.next = now.Add(t.period)
	}
}

// due returns the timer to fire first and when.
func (ts *timerSet) due() (*luaTimer, bool) {
	var first *luaTimer
	for _, t := range ts.list {
		if first == nil || t.next.Before(first.next) {
			first = t
		}
	}
	return first, first != nil
}

// fired reschedules t after a call that began at began: thorp.after is
// disarmed, thorp.every fires a period after its previous time, skipping
// the ticks a slow call made it miss.
func (ts *timerSet) fired(t *luaTimer, began time.Time) {
	if t.once {
		ts.remove(t)
		return
	}
	t.next = t.next.Add(t.period)
	if !t.next.After(began) {
		t.next = began.Add(t.period)
	}
}

// outcome counts a call's result and returns the lines to log: a failure,
// and, once t failed maxFailures times in a row or overran its limit,
// that it is disabled (disarmed, and not armed again by a fresh state)
// until a reload.
func (ts *timerSet) outcome(t *luaTimer, err error, overran bool, maxFailures int) (warn, disabled string) {
	if err == nil {
		t.failures = 0
		return "", ""
	}
	t.failures++
	warn = fmt.Sprintf("%s timer failed (%d in a row): %v", t.name, t.failures, err)
	switch {
	case overran:
		disabled = fmt.Sprintf("%s timer disabled: it overran its limit (settings.plugins.timeout or max_memory); fix it and reload the config", t.name)
	case t.failures >= max(maxFailures, 1):
		disabled = fmt.Sprintf("%s timer disabled after %d failures in a row; fix it and reload the config", t.name, t.failures)
	default:
		return warn, ""
	}
	ts.disabled[t.key] = disabled
	ts.remove(t)
	return warn, disabled
}
