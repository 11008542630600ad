package plugins

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/thorp-dev/thorp/engine/config"
)

// DefaultCallTimeout bounds a Function.Call given a timeout of zero or less.
const DefaultCallTimeout = time.Second

// callGrace is how long Call waits past its deadline for the owner to report
// where the Lua code was stopped, before giving up on it (a Go function that
// ignores the context, such as a pathological string.find, can run on).
const callGrace = 250 * time.Millisecond

// ErrClosed is returned by a call into a Script that was closed.
var ErrClosed = errors.New("lua script is closed")

// Function is a Lua function thorp.lua handed to thorp (a memory_policy, a
// ready or health function, an on() hook), bound to the Script that defined
// it: it implements config.Func and always runs in that Script's states.
// Hooks run in a Lua state of their own, probes and policies in another, so
// no hook can hold up a probe; each state is thorp.lua evaluated once, and a
// Function finds itself in either by its definition site. Holding a
// Function keeps its Script open (see Script). It is safe for concurrent use.
type Function struct {
	script *Script
	role   role
	key    funcKey
	where  string // "thorp.lua:LINE"
	source string // the definition's text, "" for a Go function
	// disabled holds why the function no longer runs, nil while it does.
	disabled atomic.Pointer[string]
}

var _ config.Func = (*Function)(nil)

// role says which of a Script's states runs a function.
type role int

const (
	roleProbe role = iota // ready, health, memory_policy and other values
	roleHook              // on() hooks
	roles
)

func (r role) String() string {
	if r == roleHook {
		return "hooks"
	}
	return "ready, health and memory_policy functions"
}

// funcKey identifies a function's definition across evaluations of one
// thorp.lua: its compiled prototype (shared by every state of a Script) and
// which closure of that prototype, in the order thorp.lua handed them over.
type funcKey struct {
	proto *lua.FunctionProto // nil for a Go function (print, thorp.log, …)
	n     int
}

// Call calls the function with one table argument built from arg (string
// keys; values string, float64, int, int64, bool, nested maps, []any or
// []string), and returns its first result converted to Go: nil, string,
// float64, bool, map[string]any or []any.
//
// The call is protected and bounded by timeout (DefaultCallTimeout when <= 0),
// by ctx and by settings.plugins.max_memory: a Lua error or a timeout comes
// back as an error naming the function's thorp.lua:LINE (timeouts wrap
// context.DeadlineExceeded), a closed Script as ErrClosed. A call that ran
// past its timeout or the memory ceiling wraps ErrOverrun: the function is
// disabled from then on (its calls fail at once, wrapping ErrOverrun, until
// a reload makes a new one) and the Lua state it ran in is replaced by a
// fresh evaluation of thorp.lua (its globals are lost). Calls into one state
// run one at a time on its owner goroutine; time spent waiting for a turn
// counts against the timeout.
func (f *Function) Call(ctx context.Context, arg map[string]any, timeout time.Duration) (any, error) {
	if why := f.disabled.Load(); why != nil {
		return nil, fmt.Errorf("function at %s is disabled since it %s; fix it and reload the config: %w", f.where, *why, ErrOverrun)
	}
	v, err := f.script.call(ctx, f, arg, timeout)
	var o *overrunError
	if errors.As(err, &o) {
		f.disabled.CompareAndSwap(nil, &o.what)
	}
	return v, err
}

// Where returns "thorp.lua:LINE" of the function's definition.
func (f *Function) Where() string { return f.where }

// Source returns the text of the function's definition (its lines in
// thorp.lua), "" when it is not a Lua function.
func (f *Function) Source() string { return f.source }

// overrunError is the error of a call that overran its limit.
type overrunError struct {
	what string // "ran past its 200ms limit"
	err  error
}

func (o *overrunError) Error() string { return o.err.Error() }

func (o *overrunError) Unwrap() []error { return []error{o.err, ErrOverrun} }

// Script is the Lua states that evaluated a thorp.lua, kept for the
// functions it declared: one for ready, health and memory_policy functions,
// one for hooks, each only when thorp.lua has such functions (a Script
// without any holds no Lua state). One goroutine owns each state; every
// call is a message to it.
//
// Lifetime: a Script stays open while anything can still call one of its
// functions — the config that declared them, a process started under that
// config whose health check or ready probe holds one, a hook in flight.
// A reload therefore never closes the previous Script: once nothing
// references it or any of its functions, the Go runtime's cleanup closes its
// states (runtime.AddCleanup), after the last call returned, since a call
// holds its Function. Close closes it at once (thorp's shutdown, a command
// that only loads the config); a call afterwards returns ErrClosed and never
// touches the closed state. Script is safe for concurrent use; Close is safe
// to call twice.
type Script struct {
	// states are by role; nil means never opened (no such functions).
	states [roles]*scriptState
	// grants are what thorp.http and thorp.exec may reach (Grant).
	grants *grants
}

// builder evaluates thorp.lua again, quietly, into a fresh state for r,
// and returns it with its functions by definition site; for hooks, the
// timers its top level arms go to timers (nil for probes, which arm none).
// It ends early when ctx does.
type builder func(ctx context.Context, r role, timers *timerSet) (*lua.LState, map[funcKey]*lua.LFunction, error)

// scriptState is the owner side of one state: it holds nothing that leads
// back to the Script or its Functions, so they can become unreachable while
// the owner goroutine runs.
type scriptState struct {
	chunk string
	role  role
	lim   *limits
	build builder
	log   func(level, msg, where string)
	reqs  chan callRequest
	// closing is cancelled by close, ending any running call at once.
	closing context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the owner goroutine has exited
	once    sync.Once

	// Timers (hooks only): timersOn is closed by startTimers, after it
	// set timerSettings; timersOff by stopTimers; timersDone by the owner
	// once it saw timersOff, from when no timer fires any more.
	timersOn      chan struct{}
	timersOff     chan struct{}
	timersDone    chan struct{}
	onOnce        sync.Once
	offOnce       sync.Once
	timerSettings config.PluginSettings
	// disabledTimers are kept across fresh states; owner only.
	disabledTimers map[timerKey]string
}

type callRequest struct {
	// ctx is the call's: its callDeadline's context, which the owner
	// installs on the state.
	ctx context.Context
	key funcKey
	// fn, when set, is called instead of the function at key (a timer's).
	fn *lua.LFunction
	// where names the function in messages.
	where string
	arg   map[string]any
	// timeout is the caller's timeout, for messages.
	timeout time.Duration
	reply   chan callResult // buffered: the owner never blocks on it
}

type callResult struct {
	v   any
	err error
}

// open starts the owner goroutines of the states: L (already evaluated,
// with its functions fns) for probes when probes is true (thorp.lua handed
// over a ready, health or memory_policy function; otherwise nothing could
// ever run in it, and L is closed at once), and, when hooks is true, a
// state for hooks that build makes; it arranges for them to be closed once
// s is unreachable.
func (s *Script) open(L *lua.LState, fns map[funcKey]*lua.LFunction, probes, hooks bool, chunk string, lim *limits, build builder, log func(level, msg, where string)) {
	if log == nil {
		log = func(string, string, string) {}
	}
	if !probes {
		L.Close()
	}
	for r := range roles {
		if (r == roleHook && !hooks) || (r == roleProbe && !probes) {
			continue
		}
		ctx, cancel := context.WithCancel(context.Background())
		st := &scriptState{
			chunk:   chunk,
			role:    r,
			lim:     lim,
			build:   build,
			log:     log,
			reqs:    make(chan callRequest),
			closing: ctx,
			cancel:  cancel,
			done:    make(chan struct{}),

			timersOn:       make(chan struct{}),
			timersOff:      make(chan struct{}),
			timersDone:     make(chan struct{}),
			disabledTimers: map[timerKey]string{},
		}
		s.states[r] = st
		if r == roleProbe {
			go st.own(L, fns)
		} else {
			go st.own(nil, nil)
		}
	}
	runtime.AddCleanup(s, func(sts [roles]*scriptState) {
		for _, st := range sts {
			if st != nil {
				st.close()
			}
		}
	}, s.states)
}

// own is the owner goroutine: the only one touching its state from now on.
// It builds the state when it has none (at first for hooks, and after a
// replacement) before taking the next call. For hooks it also fires the
// state's timers, one call at a time between the hooks' calls, once
// startTimers was called and until stopTimers is.
func (st *scriptState) own(L *lua.LState, fns map[funcKey]*lua.LFunction) {
	defer close(st.done)
	var timers *timerSet
	defer func() {
		if L != nil {
			L.Close()
		}
	}()
	var buildErr error
	var baseLive int64
	if L != nil {
		baseLive = liveHeapBytes()
	}
	tick := time.NewTimer(time.Hour)
	defer tick.Stop()
	timersOn, timersOff := st.timersOn, st.timersOff
	running := false // timers fire
	for {
		if L == nil && buildErr == nil && st.closing.Err() == nil {
			if st.role == roleHook {
				timers = &timerSet{stopped: st.timersOff, disabled: st.disabledTimers}
			}
			L, fns, buildErr = st.build(st.closing, st.role, timers)
			if buildErr != nil && st.closing.Err() == nil {
				st.log("error", fmt.Sprintf("cannot make a Lua state for %s: %v; they fail until the config is reloaded", st.role, buildErr), st.chunk)
			}
			baseLive = liveHeapBytes()
		}
		var due <-chan time.Time
		var next *luaTimer
		if running && L != nil && timers != nil {
			if t, ok := timers.due(); ok {
				next = t
				tick.Reset(time.Until(t.next))
				due = tick.C
			}
		}
		var replace, where string
		select {
		case <-st.closing.Done():
			return
		case <-timersOn:
			timersOn, running = nil, true
			if timers != nil {
				timers.rebase(time.Now())
			}
			continue
		case <-timersOff:
			timersOn, timersOff, running = nil, nil, false
			if timers != nil {
				timers.list = nil
			}
			close(st.timersDone)
			continue
		case req := <-st.reqs:
			if L == nil {
				req.reply <- callResult{err: fmt.Errorf("function at %s: no Lua state: %v", req.where, buildErr)}
				continue
			}
			res := st.run(L, fns, req)
			req.reply <- res
			replace, where = st.replacement(L, res.err, req.where, baseLive), req.where
		case <-due:
			replace, where = st.fire(L, timers, next, baseLive), next.where
		}
		if replace != "" {
			st.log("warn", fmt.Sprintf("Lua state for %s replaced by a fresh evaluation of %s, its globals lost: %s", st.role, st.chunk, replace), where)
			L.Close()
			L, fns, timers = nil, nil, nil
			runtime.GC()
		}
	}
}

// replacement says why L must be replaced by a fresh state after a call
// that returned err ("" when it need not be): the call overran its limit,
// or the state's globals keep more than the memory ceiling.
func (st *scriptState) replacement(L *lua.LState, err error, where string, baseLive int64) string {
	var o *overrunError
	if errors.As(err, &o) {
		return fmt.Sprintf("the function at %s %s and is disabled", where, o.what)
	}
	if grown := liveHeapBytes() - baseLive; grown > st.lim.max() {
		if size := stateSize(L, st.lim.max()); size > st.lim.max() {
			return fmt.Sprintf("its globals keep more than %s (settings.plugins.max_memory)", config.Size(st.lim.max()))
		}
	}
	return ""
}

// fire calls timer t of timers in L, bounded like a hook by
// settings.plugins.timeout and max_memory, logs a failure at the line
// that armed it, and returns why L must be replaced ("" when it need not).
func (st *scriptState) fire(L *lua.LState, timers *timerSet, t *luaTimer, baseLive int64) string {
	select {
	case <-st.timersOff:
		return "" // stopped meanwhile; the next turn of own sees it
	default:
	}
	began := time.Now()
	timers.fired(t, began)
	timeout := st.timerSettings.Timeout
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	// A deadline, as for a hook: thorp.http and thorp.exec hold it off.
	dl := newCallDeadline(st.closing, timeout)
	res := st.run(L, nil, callRequest{ctx: dl.ctx, fn: t.fn, where: t.fnWhere, timeout: timeout})
	dl.stop()
	if st.closing.Err() != nil {
		return ""
	}
	var o *overrunError
	overran := errors.As(res.err, &o)
	warn, disabled := timers.outcome(t, res.err, overran, st.timerSettings.MaxFailures)
	if warn != "" {
		st.log("warn", warn, t.where)
	}
	if disabled != "" {
		st.log("error", disabled, t.where)
	}
	return st.replacement(L, res.err, t.fnWhere, baseLive)
}

// startTimers lets the timers of the hooks' state fire, each call bounded
// by settings (timeout, max_failures); safe to call twice (the first
// settings stay).
func (st *scriptState) startTimers(settings config.PluginSettings) {
	st.onOnce.Do(func() {
		st.timerSettings = settings
		close(st.timersOn)
	})
}

// stopTimers stops the timers for good without waiting; timersDone is
// closed once none fires any more. Safe to call twice.
func (st *scriptState) stopTimers() { st.offOnce.Do(func() { close(st.timersOff) }) }

// close stops the owner goroutine, interrupting a running call, without
// waiting for it.
func (st *scriptState) close() { st.once.Do(st.cancel) }

// Close stops the owner goroutines, interrupting running calls, waits for
// them and releases the Lua states. It is safe to call twice and from
// several goroutines.
func (s *Script) Close() {
	for _, st := range s.states {
		if st != nil {
			st.close()
		}
	}
	for _, st := range s.states {
		if st != nil {
			<-st.done
		}
	}
}

// startTimers lets the timers that hooks and thorp.lua's top level arm
// fire, each call bounded by settings.Timeout and disabled after
// settings.MaxFailures failures in a row; without hooks or timers it does
// nothing. The first call's settings stay. Safe for concurrent use.
func (s *Script) startTimers(settings config.PluginSettings) {
	if st := s.states[roleHook]; st != nil {
		st.startTimers(settings)
	}
}

// stopTimers stops the Script's timers for good (a reload installed
// another config's hooks): none fires after a call running now, and
// arming new ones is an error. It does not wait. Safe to call twice.
func (s *Script) stopTimers() {
	if st := s.states[roleHook]; st != nil {
		st.stopTimers()
	}
}

// call runs f on the owner goroutine of its state; see Function.Call.
func (s *Script) call(ctx context.Context, f *Function, arg map[string]any, timeout time.Duration) (any, error) {
	st := s.states[f.role]
	if st == nil {
		return nil, fmt.Errorf("function at %s: %w", f.where, ErrClosed)
	}
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	// The deadline, not a context.WithTimeout: a builtin that waits on
	// the world holds it off (see callDeadline); caller and owner both go
	// by its context.
	dl := newCallDeadline(ctx, timeout)
	defer dl.stop()
	ctx = dl.ctx

	req := callRequest{ctx: ctx, key: f.key, where: f.where, arg: arg, timeout: timeout, reply: make(chan callResult, 1)}
	select {
	case st.reqs <- req:
	case <-st.closing.Done():
		return nil, fmt.Errorf("function at %s: %w", f.where, ErrClosed)
	case <-ctx.Done():
		return nil, contextError(f.where, context.Cause(ctx), timeout, "")
	}
	select {
	case r := <-req.reply:
		return r.v, r.err
	case <-ctx.Done():
	}
	grace := time.NewTimer(callGrace)
	defer grace.Stop()
	select {
	case r := <-req.reply:
		return r.v, r.err
	case <-grace.C:
		err := contextError(f.where, context.Cause(ctx), timeout, "")
		if errors.Is(err, context.DeadlineExceeded) {
			return nil, &overrunError{what: fmt.Sprintf("ran past its %s limit", timeout), err: err}
		}
		return nil, err
	}
}

// run performs one call on the owner goroutine.
func (st *scriptState) run(L *lua.LState, fns map[funcKey]*lua.LFunction, req callRequest) (res callResult) {
	where := req.where
	defer func() {
		if r := recover(); r != nil {
			res = callResult{err: fmt.Errorf("function at %s: lua runtime panicked: %v", where, r)}
		}
	}()
	if req.ctx.Err() != nil {
		return callResult{err: contextError(where, context.Cause(req.ctx), req.timeout, "")}
	}
	fn := req.fn
	if fn == nil {
		fn = fns[req.key]
	}
	if fn == nil {
		return callResult{err: fmt.Errorf("function at %s: not found in the Lua state for %s (does thorp.lua declare its functions the same way each time it runs?)", where, st.role)}
	}
	ctx, cancel := context.WithCancel(req.ctx)
	defer cancel()
	stop := context.AfterFunc(st.closing, cancel)
	defer stop()

	top := L.GetTop()
	defer L.SetTop(top)
	arg, err := goToLua(L, req.arg) // a nil map becomes an empty table
	if err != nil {
		return callResult{err: fmt.Errorf("function at %s: argument: %w", where, err)}
	}
	var msg string
	err, cause := st.lim.runLimited(ctx, L, func() error {
		err := L.CallByParam(lua.P{Fn: fn, NRet: 1, Protect: true}, arg)
		if err != nil {
			msg = errorText(L, st.chunk, err)
		}
		return err
	})
	if err != nil {
		if cause != nil {
			if st.closing.Err() != nil {
				return callResult{err: fmt.Errorf("function at %s: %w", where, ErrClosed)}
			}
			line, _ := splitWhere(st.chunk, msg)
			at := ""
			if line > 0 {
				at = fmt.Sprintf("%s:%d", st.chunk, line)
			}
			switch {
			case errors.Is(cause, errMemory):
				e := fmt.Errorf("function at %s grew thorp's memory past the ceiling of %s (settings.plugins.max_memory)%s", where, config.Size(st.lim.max()), stoppedAt(at))
				return callResult{err: &overrunError{what: "grew thorp's memory past " + config.Size(st.lim.max()).String(), err: e}}
			case errors.Is(cause, context.DeadlineExceeded):
				e := contextError(where, cause, req.timeout, at)
				return callResult{err: &overrunError{what: fmt.Sprintf("ran past its %s limit", req.timeout), err: e}}
			}
			return callResult{err: contextError(where, cause, req.timeout, at)}
		}
		return callResult{err: fmt.Errorf("function at %s failed: %s", where, msg)}
	}
	v, err := luaResultToGo(L.Get(-1))
	if err != nil {
		return callResult{err: fmt.Errorf("function at %s: %w", where, err)}
	}
	return callResult{v: v}
}

func stoppedAt(at string) string {
	if at == "" {
		return ""
	}
	return " (stopped at " + at + ")"
}

// contextError describes a call ended by its context; at is where the Lua code
// was stopped, "" when unknown.
func contextError(where string, err error, timeout time.Duration, at string) error {
	var msg string
	switch {
	case errors.Is(err, context.DeadlineExceeded) && timeout > 0:
		msg = fmt.Sprintf("did not return within %s", timeout)
	case errors.Is(err, context.DeadlineExceeded):
		msg = "did not return in time"
	default:
		msg = "cancelled"
	}
	msg += stoppedAt(at)
	return fmt.Errorf("function at %s %s: %w", where, msg, err)
}
