package plugins

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/pm"

	"github.com/thorp-dev/thorp/engine/config"
)

// DefaultMaxMemory is the memory ceiling of one Lua call (or of a thorp.lua's
// evaluation) when settings.plugins.max_memory is not set.
const DefaultMaxMemory = 64 * config.MiB

// maxErrorLen is the longest Lua error message thorp keeps; longer ones are
// cut, saying how much was cut.
const maxErrorLen = 1024

// patternBudget bounds the backtracking a string.find, match, gmatch or gsub
// may need at worst (see patternCost); a pattern over it is refused with a
// Lua error instead of running for minutes inside an uninterruptible Go
// function.
const patternBudget = 10_000_000

// memorySample is how often a running Lua call's heap growth is sampled.
const memorySample = 5 * time.Millisecond

// ErrOverrun is wrapped by the error of a call that ran past its time limit
// or grew thorp's heap past settings.plugins.max_memory. The function is
// disabled afterwards (its calls fail at once until the next reload) and the
// Lua state it ran in is replaced.
var ErrOverrun = errors.New("lua call overran its limit")

// errMemory is the cancel cause of a call stopped by the memory watchdog.
var errMemory = errors.New("memory ceiling exceeded")

// limits are the bounds of one Lua state, shared by its wrapped builtins and
// its owner. ceiling is read and written atomically: evaluation sets it as
// soon as settings{} names one.
type limits struct {
	ceiling atomic.Int64
}

func newLimits() *limits {
	l := &limits{}
	l.ceiling.Store(int64(DefaultMaxMemory))
	return l
}

func (l *limits) max() int64 { return l.ceiling.Load() }

// check raises a Lua error when a builtin is about to build a result of n
// bytes over the ceiling.
func (l *limits) check(L *lua.LState, fn string, n float64) {
	if n > float64(l.max()) {
		L.RaiseError("%s: result of %s is over the memory ceiling of %s (settings.plugins.max_memory)",
			fn, config.Size(int64(math.Min(n, math.MaxInt64))), config.Size(l.max()))
	}
}

// heapBytes is the Go heap's object bytes (live and not yet swept).
func heapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// liveHeapBytes is the Go heap's live bytes as of the last garbage collection.
func liveHeapBytes() int64 {
	s := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return heapBytes()
	}
	return int64(s[0].Value.Uint64())
}

// watchMemory cancels cancel with errMemory once thorp's heap has grown by
// more than the ceiling since it was called, sampling every memorySample
// until ctx ends. Garbage is not counted: growth past the ceiling is
// confirmed by a collection (in the background, sampling goes on) before
// the call is stopped, unless the heap grew by twice the ceiling, which
// stops it at once. thorp's other goroutines allocate too, so the ceiling is
// a bound on the call, not an exact account of it. While the call waits on
// the world (its callDeadline is held), sampling pauses, and what the heap
// grew during its waits is not counted.
func (l *limits) watchMemory(ctx context.Context, cancel context.CancelCauseFunc) {
	dl := deadlineOf(ctx)
	base := heapBytes()
	t := time.NewTicker(memorySample)
	defer t.Stop()
	var collected chan int64 // the heap after a collection, while one runs
	defer func() {
		if collected != nil {
			<-collected // the collection below is owned here: wait for it
		}
	}()
	for {
		select {
		case <-ctx.Done():
			return
		case after := <-collected:
			collected = nil
			_, waited := dl.waiting()
			if after-waited-base > l.max() {
				cancel(errMemory)
				return
			}
			base = min(base, after-waited) // something else freed memory meanwhile
		case <-t.C:
			held, waited := dl.waiting()
			if held {
				continue
			}
			grown := heapBytes() - waited - base
			switch {
			case grown > 2*l.max():
				cancel(errMemory)
				return
			case grown > l.max() && collected == nil:
				collected = make(chan int64, 1)
				go func(c chan<- int64) { // owner: watchMemory, which waits for it
					runtime.GC()
					c <- heapBytes()
				}(collected)
			}
		}
	}
}

// runLimited runs fn with L's context set to a child of ctx that the memory
// watchdog cancels; it returns fn's error and, when the context ended the
// call, its cause (errMemory, context.DeadlineExceeded, context.Canceled).
func (l *limits) runLimited(ctx context.Context, L *lua.LState, fn func() error) (err, cause error) {
	cctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	go l.watchMemory(cctx, cancel)
	L.SetContext(cctx)
	err = fn()
	L.RemoveContext()
	if cctx.Err() != nil {
		cause = context.Cause(cctx)
	}
	return err, cause
}

// installBounded replaces the builtins that build strings in one Go call, or
// match patterns by unbounded backtracking, with versions that check the
// result's size against the ceiling and the pattern's cost against
// patternBudget first. The originals do the work.
func (l *limits) installBounded(L *lua.LState) {
	str, _ := L.GetGlobal("string").(*lua.LTable)
	tab, _ := L.GetGlobal("table").(*lua.LTable)
	if str == nil || tab == nil {
		return
	}
	wrap := func(t *lua.LTable, name string, check func(L *lua.LState)) {
		orig, ok := t.RawGetString(name).(*lua.LFunction)
		if !ok {
			return
		}
		// Same upvalues as the original: gmatch keeps its iterator in one.
		upvalues := make([]lua.LValue, len(orig.Upvalues))
		for i, uv := range orig.Upvalues {
			upvalues[i] = uv.Value()
		}
		t.RawSetString(name, L.NewClosure(func(L *lua.LState) int {
			check(L)
			return orig.GFunction(L)
		}, upvalues...))
	}
	wrap(str, "rep", func(L *lua.LState) {
		s, n := L.CheckString(1), L.CheckInt(2)
		l.check(L, "string.rep", float64(len(s))*float64(max(n, 0)))
	})
	wrap(str, "format", func(L *lua.LState) {
		l.check(L, "string.format", formatSize(L))
	})
	wrap(tab, "concat", func(L *lua.LState) { l.check(L, "table.concat", concatSize(L)) })
	for _, name := range []string{"find", "match", "gmatch"} {
		wrap(str, name, func(L *lua.LState) {
			checkPattern(L, "string."+name, L.CheckString(1), L.CheckString(2))
		})
	}
	wrap(str, "gsub", func(L *lua.LState) {
		s, p := L.CheckString(1), L.CheckString(2)
		checkPattern(L, "string.gsub", s, p)
		switch repl := L.Get(3).(type) {
		case lua.LString:
			l.check(L, "string.gsub", gsubStringSize(s, p, string(repl), L.OptInt(4, -1)))
		case *lua.LTable, *lua.LFunction:
			// Replace the replacement by a function that counts what it returns.
			var total float64 = float64(len(s))
			L.Replace(3, L.NewFunction(func(L *lua.LState) int {
				var v lua.LValue
				if fn, ok := repl.(*lua.LFunction); ok {
					n := L.GetTop()
					L.Push(fn)
					for i := 1; i <= n; i++ {
						L.Push(L.Get(i))
					}
					L.Call(n, 1)
					v = L.Get(-1)
				} else {
					v = L.GetTable(repl, L.Get(1))
				}
				if s, ok := v.(lua.LString); ok {
					total += float64(len(s))
				} else if lua.LVCanConvToString(v) {
					total += 32
				}
				l.check(L, "string.gsub", total)
				L.Push(v)
				return 1
			}))
		}
	})
}

// formatSize bounds the length of string.format's result: the format, each
// directive's width or precision, and the text of the arguments.
func formatSize(L *lua.LState) float64 {
	f := L.CheckString(1)
	n := float64(len(f))
	arg := 2
	for i := 0; i < len(f); i++ {
		if f[i] != '%' {
			continue
		}
		i++
		if i < len(f) && f[i] == '%' {
			continue
		}
		var widest float64
		for i < len(f) && strings.IndexByte("-+ #0123456789.", f[i]) >= 0 {
			j := i
			for i < len(f) && f[i] >= '0' && f[i] <= '9' {
				i++
			}
			if w, err := strconv.ParseFloat(f[j:i], 64); err == nil {
				widest = math.Max(widest, w)
			}
			if j == i {
				i++
			}
		}
		n += widest + 32
		if s, ok := L.Get(arg).(lua.LString); ok {
			n += 2 * float64(len(s)) // %q can double it
		}
		arg++
	}
	return n
}

// concatSize is the length of table.concat's result.
func concatSize(L *lua.LState) float64 {
	t := L.CheckTable(1)
	sep := L.OptString(2, "")
	i, j := L.OptInt(3, 1), L.OptInt(4, t.Len())
	var n float64
	for k := max(i, 1); k <= min(j, t.Len()); k++ {
		switch v := t.RawGetInt(k).(type) {
		case lua.LString:
			n += float64(len(v) + len(sep))
		default:
			n += float64(32 + len(sep))
		}
	}
	return n
}

// gsubStringSize is the length of gsub's result with a string replacement:
// the subject plus, for each match, the replacement with its captures.
func gsubStringSize(s, p, repl string, limit int) float64 {
	captures := strings.Count(repl, "%")
	if float64(len(s)+1)*float64(len(repl)+captures*len(s)) <= float64(DefaultMaxMemory) {
		return float64(len(s)) // small at worst; skip the exact count
	}
	mds, err := pm.Find(p, []byte(s), 0, limit)
	if err != nil {
		return 0 // gsub itself reports the pattern error
	}
	n := float64(len(s))
	for _, md := range mds {
		n += float64(len(repl))
		if captures > 0 {
			n += float64(captures) * float64(md.Capture(1)-md.Capture(0)+32)
		}
	}
	return n
}

// checkPattern raises a Lua error when matching p against s could backtrack
// more than patternBudget steps.
func checkPattern(L *lua.LState, fn, s, p string) {
	if cost := patternCost(s, p); cost > patternBudget {
		L.RaiseError("%s: pattern %q is too costly for a %d-byte string (up to %.3g steps of backtracking, limit %d); anchor it with '^', narrow '.-'/'.*' to a character class, or cut the string first",
			fn, cutString(p, 60), len(s), cost, patternBudget)
	}
}

// patternCost bounds the steps gopher-lua's backtracking matcher may take
// for pattern p on s: for every start position (one when anchored), the
// product over its quantified items of one plus the longest run of bytes in
// s the item's class matches (a repetition cannot extend past such a run).
// A quantifier that ends the pattern only adds its run, as it never needs to
// backtrack for something after it.
func patternCost(s, p string) float64 {
	items, anchored := quantified(p)
	cost := float64(len(s) + 1)
	if anchored {
		cost = 1
	}
	if cost*math.Pow(float64(len(s)+1), float64(len(items))) <= patternBudget {
		return cost // cheap at worst: no need to look closer
	}
	for i, it := range items {
		if i == len(items)-1 && it.last {
			continue // it succeeds on its first try: linear
		}
		cost *= float64(longestRun(s, it.class) + 1)
	}
	return cost
}

// quantifiedItem is a pattern item followed by *, +, - or ?.
type quantifiedItem struct {
	class string // the item as a pattern of its own, like "%d" or "[^,]"
	// last is true when nothing but captures' ends follows it (or '$' after
	// a greedy one), so it never backtracks.
	last bool
}

// quantified lists the quantified items of p, and whether p is anchored.
func quantified(p string) ([]quantifiedItem, bool) {
	var items []quantifiedItem
	anchored := strings.HasPrefix(p, "^")
	i := 0
	if anchored {
		i = 1
	}
	for i < len(p) {
		start := i
		switch p[i] {
		case '%':
			i += 2
			if i-1 < len(p) && p[i-1] == 'b' {
				i += 2
				continue
			}
		case '[':
			i++
			if i < len(p) && p[i] == '^' {
				i++
			}
			if i < len(p) && p[i] == ']' {
				i++
			}
			for i < len(p) && p[i] != ']' {
				if p[i] == '%' {
					i++
				}
				i++
			}
			i++
		case '(', ')':
			i++
			continue
		default:
			i++
		}
		i = min(i, len(p))
		if i < len(p) && strings.IndexByte("*+-?", p[i]) >= 0 {
			rest := strings.TrimRight(p[i+1:], ")")
			last := rest == "" || (rest == "$" && p[i] != '-')
			items = append(items, quantifiedItem{class: p[start:i], last: last})
			i++
		}
	}
	return items, anchored
}

// classCache holds the byte sets of pattern items seen, up to classCacheMax.
var (
	classCache    sync.Map // string -> *[256]bool
	classCacheLen atomic.Int64
)

const classCacheMax = 4096

// classMembers is the set of bytes class (a single pattern item) matches,
// asked of gopher-lua's own matcher, byte by byte.
func classMembers(class string) *[256]bool {
	if m, ok := classCache.Load(class); ok {
		return m.(*[256]bool)
	}
	member := new([256]bool)
	for b := range member {
		member[b] = matchesByte(class, byte(b))
	}
	if classCacheLen.Add(1) <= classCacheMax {
		classCache.Store(class, member)
	}
	return member
}

// matchesByte reports whether the one-byte string b matches class; a class
// gopher-lua cannot parse matches everything (the estimate stays an upper
// bound, and the call itself reports the pattern's error).
func matchesByte(class string, b byte) (ok bool) {
	defer func() {
		if recover() != nil {
			ok = true
		}
	}()
	mds, err := pm.Find("^"+class+"$", []byte{b}, 0, 1)
	return err != nil || len(mds) > 0
}

// longestRun is the longest run of consecutive bytes of s that class (a
// single pattern item) matches.
func longestRun(s, class string) int {
	member := classMembers(class)
	best, run := 0, 0
	for i := 0; i < len(s); i++ {
		if member[s[i]] {
			run++
			best = max(best, run)
		} else {
			run = 0
		}
	}
	return best
}

// cutString returns s cut to at most n bytes, saying how much was cut.
func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return fmt.Sprintf("%s… (%d bytes cut)", s[:n], len(s)-n)
}

// stateSize estimates the memory a Lua state's globals and registry keep,
// stopping once it passes limit. Strings count their bytes, tables their
// slots, functions their upvalues.
func stateSize(L *lua.LState, limit int64) int64 {
	seen := map[lua.LValue]bool{}
	var size int64
	var visit func(v lua.LValue)
	stack := []lua.LValue{L.G.Global, L.G.Registry}
	visit = func(v lua.LValue) {
		switch v := v.(type) {
		case lua.LString:
			size += int64(len(v)) + 16
		case *lua.LTable:
			if seen[v] {
				return
			}
			seen[v] = true
			size += 64
			v.ForEach(func(k, val lua.LValue) {
				size += 32
				stack = append(stack, k, val)
			})
			if v.Metatable != nil {
				stack = append(stack, v.Metatable)
			}
		case *lua.LFunction:
			if seen[v] {
				return
			}
			seen[v] = true
			size += 64
			for _, uv := range v.Upvalues {
				if uv != nil {
					stack = append(stack, uv.Value())
				}
			}
		case *lua.LUserData:
			size += 64
		}
	}
	for len(stack) > 0 && size <= limit {
		v := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		visit(v)
	}
	return size
}

// errorText is the message of a Lua error err raised in L: always
// "chunk:LINE: message" (the line taken from the stack trace when the error
// value carried none), an error value's __tostring used, and cut at
// maxErrorLen. It may run Lua (__tostring), so it is called while the call's
// context is still installed.
func errorText(L *lua.LState, chunk string, err error) string {
	msg := err.Error()
	trace := ""
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) {
		trace = apiErr.StackTrace
		if apiErr.Object != nil {
			msg = errorValueText(L, apiErr.Object)
		}
	}
	if line, _ := splitWhere(chunk, msg); line == 0 {
		if line := traceLine(chunk, trace); line > 0 {
			msg = fmt.Sprintf("%s:%d: %s", chunk, line, msg)
		}
	}
	return cutString(msg, maxErrorLen)
}

// errorValueText is an error value as text: strings and numbers as they
// are, anything else through its __tostring, or named by its type.
func errorValueText(L *lua.LState, v lua.LValue) string {
	switch v := v.(type) {
	case lua.LString:
		return string(v)
	case lua.LNumber:
		return v.String()
	}
	if L.GetMetaField(v, "__tostring") == lua.LNil {
		return fmt.Sprintf("(error object is a %s value without __tostring)", v.Type())
	}
	tostring := L.NewFunction(func(L *lua.LState) int {
		L.Push(L.ToStringMeta(L.Get(1)))
		return 1
	})
	top := L.GetTop()
	defer L.SetTop(top)
	if err := L.CallByParam(lua.P{Fn: tostring, NRet: 1, Protect: true}, v); err != nil {
		return fmt.Sprintf("(error object is a %s value whose __tostring failed)", v.Type())
	}
	s, ok := L.Get(-1).(lua.LString)
	if !ok {
		return fmt.Sprintf("(error object is a %s value whose __tostring returned no string)", v.Type())
	}
	return string(s)
}

// traceLine is the line of the first "chunk:LINE:" in a Lua stack trace, 0
// when there is none.
func traceLine(chunk, trace string) int {
	for {
		i := strings.Index(trace, chunk+":")
		if i < 0 {
			return 0
		}
		trace = trace[i+len(chunk)+1:]
		j := 0
		for j < len(trace) && trace[j] >= '0' && trace[j] <= '9' {
			j++
		}
		if n, err := strconv.Atoi(trace[:j]); err == nil && j < len(trace) && trace[j] == ':' {
			return n
		}
	}
}
