package plugins

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// DefaultCallTimeout bounds a Script.Call given a timeout of zero or less.
const DefaultCallTimeout = time.Second

// callGrace is how long Call waits past its deadline for the owner to report
// where the Lua code was stopped, before giving up on it (a Go function that
// ignores the context, such as a pathological string.find, can run on).
const callGrace = 250 * time.Millisecond

// ErrClosed is returned by Call on a closed Script.
var ErrClosed = errors.New("lua script is closed")

// scriptFunc is a Lua function thorp.lua handed to thorp, with its definition site.
type scriptFunc struct {
	fn    *lua.LFunction
	where string // "thorp.lua:LINE"
}

// Script owns the Lua state that evaluated a thorp.lua and the functions it
// declared (memory_policy, ready and health functions, on() hooks), known by
// the IDs in config.LuaFunc. One goroutine owns the state; Call hands it work.
// Script is safe for concurrent use; Close is safe to call twice.
type Script struct {
	chunk string
	funcs []scriptFunc // read-only after newScript; ID = index+1

	reqs chan callRequest
	// closing is cancelled by Close, ending any running call at once.
	closing context.Context
	cancel  context.CancelFunc
	done    chan struct{} // closed when the owner goroutine has exited
	once    sync.Once
}

type callRequest struct {
	ctx context.Context
	id  int
	arg map[string]any
	// timeout is the caller's timeout, for messages.
	timeout time.Duration
	reply   chan callResult // buffered: the owner never blocks on it
}

type callResult struct {
	v   any
	err error
}

// newScript takes ownership of L and starts its owner goroutine.
func newScript(L *lua.LState, chunk string, funcs []scriptFunc) *Script {
	ctx, cancel := context.WithCancel(context.Background())
	s := &Script{
		chunk:   chunk,
		funcs:   funcs,
		reqs:    make(chan callRequest),
		closing: ctx,
		cancel:  cancel,
		done:    make(chan struct{}),
	}
	go s.own(L)
	return s
}

// own is the owner goroutine: the only one touching L from now on.
func (s *Script) own(L *lua.LState) {
	defer close(s.done)
	defer L.Close()
	for {
		select {
		case <-s.closing.Done():
			return
		case req := <-s.reqs:
			req.reply <- s.run(L, req)
		}
	}
}

// Close stops the owner goroutine, interrupting a running call, and releases
// the Lua state. It is safe to call twice and from several goroutines.
func (s *Script) Close() {
	s.once.Do(s.cancel)
	<-s.done
}

// Funcs returns how many functions the script registered; IDs run from 1 to Funcs().
// It is safe for concurrent use.
func (s *Script) Funcs() int { return len(s.funcs) }

// Where returns "thorp.lua:LINE" of the function with the given ID, "" when unknown.
// It is safe for concurrent use.
func (s *Script) Where(id int) string {
	if id < 1 || id > len(s.funcs) {
		return ""
	}
	return s.funcs[id-1].where
}

// Call calls the function with the given ID with one table argument built from
// arg (string keys; values string, float64, int, int64, bool, nested maps,
// []any or []string), and returns its first result converted to Go: nil,
// string, float64, bool, map[string]any or []any.
//
// The call is protected and bounded by timeout (DefaultCallTimeout when <= 0)
// and ctx: a Lua error or a timeout comes back as an error naming the
// function's thorp.lua:LINE (timeouts wrap context.DeadlineExceeded). Call is
// safe for concurrent use; calls run one at a time on the owner goroutine, and
// time spent waiting for a turn counts against the timeout.
func (s *Script) Call(ctx context.Context, id int, arg map[string]any, timeout time.Duration) (any, error) {
	where := s.Where(id)
	if where == "" {
		return nil, fmt.Errorf("call lua function %d: no such function", id)
	}
	if timeout <= 0 {
		timeout = DefaultCallTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	req := callRequest{ctx: ctx, id: id, arg: arg, timeout: timeout, reply: make(chan callResult, 1)}
	select {
	case s.reqs <- req:
	case <-s.closing.Done():
		return nil, fmt.Errorf("function at %s: %w", where, ErrClosed)
	case <-ctx.Done():
		return nil, s.contextError(where, ctx.Err(), timeout, "")
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
		return nil, s.contextError(where, ctx.Err(), timeout, "")
	}
}

// run performs one call on the owner goroutine.
func (s *Script) run(L *lua.LState, req callRequest) (res callResult) {
	f := s.funcs[req.id-1]
	defer func() {
		if r := recover(); r != nil {
			res = callResult{err: fmt.Errorf("function at %s: lua runtime panicked: %v", f.where, r)}
		}
	}()
	if err := req.ctx.Err(); err != nil {
		return callResult{err: s.contextError(f.where, err, req.timeout, "")}
	}
	ctx, cancel := context.WithCancel(req.ctx)
	defer cancel()
	stop := context.AfterFunc(s.closing, cancel)
	defer stop()

	top := L.GetTop()
	defer L.SetTop(top)
	arg, err := goToLua(L, req.arg) // a nil map becomes an empty table
	if err != nil {
		return callResult{err: fmt.Errorf("function at %s: argument: %w", f.where, err)}
	}
	L.SetContext(ctx)
	err = L.CallByParam(lua.P{Fn: f.fn, NRet: 1, Protect: true}, arg)
	L.RemoveContext()
	if err != nil {
		msg := err.Error()
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Object != nil {
			msg = apiErr.Object.String()
		}
		if cerr := ctx.Err(); cerr != nil {
			if s.closing.Err() != nil {
				return callResult{err: fmt.Errorf("function at %s: %w", f.where, ErrClosed)}
			}
			line, _ := splitWhere(s.chunk, msg)
			at := ""
			if line > 0 {
				at = fmt.Sprintf("%s:%d", s.chunk, line)
			}
			return callResult{err: s.contextError(f.where, cerr, req.timeout, at)}
		}
		return callResult{err: fmt.Errorf("function at %s failed: %s", f.where, msg)}
	}
	v, err := luaResultToGo(L.Get(-1))
	if err != nil {
		return callResult{err: fmt.Errorf("function at %s: %w", f.where, err)}
	}
	return callResult{v: v}
}

// contextError describes a call ended by its context; at is where the Lua code
// was stopped, "" when unknown.
func (s *Script) contextError(where string, err error, timeout time.Duration, at string) error {
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
