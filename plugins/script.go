package plugins

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"sync"
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
// it: it implements config.Func and always runs in that Script's state.
// Holding a Function keeps its Script open (see Script). It is safe for
// concurrent use.
type Function struct {
	script *Script
	fn     *lua.LFunction
	where  string // "thorp.lua:LINE"
	source string // the definition's text, "" for a Go function
}

var _ config.Func = (*Function)(nil)

// Call calls the function with one table argument built from arg (string
// keys; values string, float64, int, int64, bool, nested maps, []any or
// []string), and returns its first result converted to Go: nil, string,
// float64, bool, map[string]any or []any.
//
// The call is protected and bounded by timeout (DefaultCallTimeout when <= 0)
// and ctx: a Lua error or a timeout comes back as an error naming the
// function's thorp.lua:LINE (timeouts wrap context.DeadlineExceeded), a
// closed Script as ErrClosed. Calls into one Script run one at a time on
// its owner goroutine; time spent waiting for a turn counts against the
// timeout.
func (f *Function) Call(ctx context.Context, arg map[string]any, timeout time.Duration) (any, error) {
	return f.script.call(ctx, f, arg, timeout)
}

// Where returns "thorp.lua:LINE" of the function's definition.
func (f *Function) Where() string { return f.where }

// Source returns the text of the function's definition (its lines in
// thorp.lua), "" when it is not a Lua function.
func (f *Function) Source() string { return f.source }

// Script is the Lua state that evaluated a thorp.lua, kept for the functions
// it declared. One goroutine owns the state; every call is a message to it.
//
// Lifetime: a Script stays open while anything can still call one of its
// functions — the config that declared them, a process started under that
// config whose health check or ready probe holds one, a hook in flight.
// A reload therefore never closes the previous Script: once nothing
// references it or any of its functions, the Go runtime's cleanup closes its
// state (runtime.AddCleanup), after the last call returned, since a call
// holds its Function. Close closes it at once (thorp's shutdown, a command
// that only loads the config); a call afterwards returns ErrClosed and never
// touches the closed state. Script is safe for concurrent use; Close is safe
// to call twice.
type Script struct {
	// st is set once evaluation succeeded; nil means never opened.
	st *scriptState
}

// scriptState is the owner side of a Script: it holds nothing that leads
// back to the Script or its Functions, so they can become unreachable while
// the owner goroutine runs.
type scriptState struct {
	chunk string
	reqs  chan callRequest
	// closing is cancelled by close, ending any running call at once.
	closing context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the owner goroutine has exited
	once    sync.Once
}

type callRequest struct {
	ctx context.Context
	fn  *lua.LFunction
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

// open takes ownership of L, starts its owner goroutine and arranges for
// the state to be closed once s is unreachable.
func (s *Script) open(L *lua.LState, chunk string) {
	ctx, cancel := context.WithCancel(context.Background())
	st := &scriptState{
		chunk:   chunk,
		reqs:    make(chan callRequest),
		closing: ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	s.st = st
	go st.own(L)
	runtime.AddCleanup(s, func(st *scriptState) { st.close() }, st)
}

// own is the owner goroutine: the only one touching L from now on.
func (st *scriptState) own(L *lua.LState) {
	defer close(st.done)
	defer L.Close()
	for {
		select {
		case <-st.closing.Done():
			return
		case req := <-st.reqs:
			req.reply <- st.run(L, req)
		}
	}
}

// close stops the owner goroutine, interrupting a running call, without
// waiting for it.
func (st *scriptState) close() { st.once.Do(st.cancel) }

// Close stops the owner goroutine, interrupting a running call, waits for
// it and releases the Lua state. It is safe to call twice and from several
// goroutines.
func (s *Script) Close() {
	if s.st == nil {
		return
	}
	s.st.close()
	<-s.st.done
}

// call runs f on the owner goroutine; see Function.Call.
func (s *Script) call(ctx context.Context, f *Function, arg map[string]any, timeout time.Duration) (any, error) {
	st := s.st
	if st == nil {
		return nil, fmt.Errorf("function at %s: %w", f.where, ErrClosed)
	}
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req := callRequest{ctx: ctx, fn: f.fn, where: f.where, arg: arg, timeout: timeout, reply: make(chan callResult, 1)}
	select {
	case st.reqs <- req:
	case <-st.closing.Done():
		return nil, fmt.Errorf("function at %s: %w", f.where, ErrClosed)
	case <-ctx.Done():
		return nil, contextError(f.where, ctx.Err(), timeout, "")
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
		return nil, contextError(f.where, ctx.Err(), timeout, "")
	}
}

// run performs one call on the owner goroutine.
func (st *scriptState) run(L *lua.LState, req callRequest) (res callResult) {
	where := req.where
	defer func() {
		if r := recover(); r != nil {
			res = callResult{err: fmt.Errorf("function at %s: lua runtime panicked: %v", where, r)}
		}
	}()
	if err := req.ctx.Err(); err != nil {
		return callResult{err: contextError(where, err, req.timeout, "")}
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
	L.SetContext(ctx)
	err = L.CallByParam(lua.P{Fn: req.fn, NRet: 1, Protect: true}, arg)
	L.RemoveContext()
	if err != nil {
		msg := err.Error()
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Object != nil {
			msg = apiErr.Object.String()
		}
		if cerr := ctx.Err(); cerr != nil {
			if st.closing.Err() != nil {
				return callResult{err: fmt.Errorf("function at %s: %w", where, ErrClosed)}
			}
			line, _ := splitWhere(st.chunk, msg)
			at := ""
			if line > 0 {
				at = fmt.Sprintf("%s:%d", st.chunk, line)
			}
			return callResult{err: contextError(where, cerr, req.timeout, at)}
		}
		return callResult{err: fmt.Errorf("function at %s failed: %s", where, msg)}
	}
	v, err := luaResultToGo(L.Get(-1))
	if err != nil {
		return callResult{err: fmt.Errorf("function at %s: %w", where, err)}
	}
	return callResult{v: v}
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
	if at != "" {
		msg += " (stopped at " + at + ")"
	}
	return fmt.Errorf("function at %s %s: %w", where, msg, err)
}
