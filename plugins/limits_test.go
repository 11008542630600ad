package plugins_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

// TestEvaluate_BuiltinsBounded runs, at the top of thorp.lua, each input that
// used to run for a minute or allocate without bound inside a Go builtin: each
// must end quickly in a problem at its line naming the limit.
func TestEvaluate_BuiltinsBounded(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"catastrophic pattern", `string.find(string.rep("a", 400), ".-.-.-b")`, "too costly"},
		{"match", `string.match(string.rep("a", 400), "(.-)(.-)(.-)b")`, "too costly"},
		{"gmatch", `for x in string.gmatch(string.rep("a", 400), ".-.-.-b") do end`, "too costly"},
		{"gsub pattern", `string.gsub(string.rep("a", 400), ".-.-.-b", "")`, "too costly"},
		{"rep 1 GiB", `local s = string.rep("x", 2^30)`, "string.rep: result of 1 GiB is over the memory ceiling of 64 MiB"},
		{"format widths", `local s = string.format(string.rep("%99d", 1e6), 1)`, "string.format: result"},
		{"concat", `local t = {} local s = string.rep("x", 2^20) for i = 1, 100 do t[i] = s end local r = table.concat(t)`, "table.concat: result"},
		{"gsub growing", `local s = string.rep("x", 2^20) string.gsub(string.rep("a", 100), "a", function() return s end)`, "string.gsub: result"},
		{"gsub string", `string.gsub(string.rep("a", 2^16), "a", string.rep("b", 2^11))`, "string.gsub: result"},
		{"table grown in a loop", "settings { plugins = { max_memory = '8MiB' } }\nlocal t = {}\nfor i = 1, 1e9 do t[i] = i end", "grew thorp's memory past the ceiling of 8 MiB"},
		{"concatenation doubling", "settings { plugins = { max_memory = '8MiB' } }\nlocal s = 'x'\nwhile true do s = s .. s end", "grew thorp's memory past the ceiling of 8 MiB"},
		{"lower ceiling", `settings { plugins = { max_memory = "4MiB" } }` + "\n" + `local s = string.rep("x", 5 * 2^20)`, "over the memory ceiling of 4 MiB"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			_, _, ps := evaluate(t, writeLua(t, tt.src), plugins.Options{Timeout: 5 * time.Second})
			if d := time.Since(start); d > 10*time.Second {
				t.Errorf("took %v", d)
			}
			errs := ps.Errors()
			if len(errs) != 1 || errs[0].Line == 0 || !strings.Contains(errs[0].Message, tt.want) {
				t.Fatalf("problems = %q, want one at a line containing %q", problemStrings(ps), tt.want)
			}
		})
	}
}

// TestEvaluate_BoundedBuiltinsStillWork checks that the bounded builtins
// give the results of the originals for ordinary inputs.
func TestEvaluate_BoundedBuiltinsStillWork(t *testing.T) {
	src := `
local function eq(a, b, what) if a ~= b then error(what .. ": got " .. tostring(a)) end end
eq(string.rep("ab", 3), "ababab", "rep")
eq(string.format("%5d|%-3s|%.2f", 42, "x", 1.5), "   42|x  |1.50", "format")
eq(table.concat({1, "b", 3}, ","), "1,b,3", "concat")
eq(select(1, string.gsub("a=1, b=2", "(%w+)=(%w+)", "%2=%1")), "1=a, 2=b", "gsub string")
eq(select(1, string.gsub("hello world", "%w+", {hello = "bye"})), "bye world", "gsub table")
eq(select(1, string.gsub("abc", "%w", function(c) return c:upper() end)), "ABC", "gsub function")
eq(select(2, string.gsub("abc", "%w", "x", 2)), 2, "gsub limit")
eq(string.match("key = value", "^(%w+)%s*=%s*(.-)%s*$"), "key", "match")
local line = string.rep("word ", 2000) .. "k=v"
eq(select(1, line:find("(%w+)=(%w+)")), 10001, "find in a long line")
local n = 0 for w in string.gmatch(line, "%a+") do n = n + 1 end
eq(n, 2002, "gmatch")
`
	_, s, ps := evaluate(t, writeLua(t, src), plugins.Options{})
	if len(ps) != 0 || s == nil {
		t.Fatalf("problems = %q", problemStrings(ps))
	}
}

// TestFunction_MemoryOverrunDisablesAndReplaces calls a memory_policy that
// grows a table past the ceiling: the call ends with ErrOverrun naming the
// ceiling, later calls of that function fail at once, and another function
// of the same state works in a fresh state (its globals are gone).
func TestFunction_MemoryOverrunDisablesAndReplaces(t *testing.T) {
	src := `counter = 0 settings { plugins = { max_memory = "8MiB" } }
component "a" { command = "x",
  memory_policy = function() local t = {} for i = 1, 1e9 do t[i] = i end end,
  health = function() counter = counter + 1 return counter end,
}
`
	var mu sync.Mutex
	var logs []string
	log := func(level, msg, where string) {
		mu.Lock()
		defer mu.Unlock()
		logs = append(logs, level+" "+where+" "+msg)
	}
	raw, s, ps := evaluate(t, writeLua(t, src), plugins.Options{Log: log})
	if s == nil {
		t.Fatalf("problems = %q", problemStrings(ps))
	}
	policy := raw.Components[0].Values["memory_policy"].(config.Func)
	health := raw.Components[0].Values["health"].(config.Func)
	for want := 1.0; want <= 2; want++ {
		if v, err := health.Call(t.Context(), nil, time.Second); err != nil || v != want {
			t.Fatalf("health = %v, %v; want %v", v, err, want)
		}
	}
	start := time.Now()
	_, err := policy.Call(t.Context(), nil, 20*time.Second)
	if !errors.Is(err, plugins.ErrOverrun) || !strings.Contains(err.Error(), "thorp.lua:3") || !strings.Contains(err.Error(), "8 MiB") {
		t.Fatalf("err = %v, want an overrun at thorp.lua:3 naming 8 MiB", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("the overrun took %v to stop", d)
	}
	start = time.Now()
	if _, err := policy.Call(t.Context(), nil, time.Second); !errors.Is(err, plugins.ErrOverrun) || !strings.Contains(err.Error(), "disabled") || time.Since(start) > 100*time.Millisecond {
		t.Fatalf("second call: err = %v after %v, want at once: disabled", err, time.Since(start))
	}
	if v, err := health.Call(t.Context(), nil, 5*time.Second); err != nil || v != 1.0 {
		t.Fatalf("health after the replacement = %v, %v; want 1 (a fresh state)", v, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(strings.Join(logs, "\n"), "replaced by a fresh evaluation") {
		t.Errorf("log does not say the state was replaced:\n%s", strings.Join(logs, "\n"))
	}
}

// TestFunction_TimeoutDisablesAndReplaces checks the same for a call that
// runs past its time limit.
func TestFunction_TimeoutDisablesAndReplaces(t *testing.T) {
	src := `n = 0
component "a" { command = "x", ready = function() n = n + 1 return n end, health = function() while true do end end }
`
	raw, s, ps := evaluate(t, writeLua(t, src), plugins.Options{})
	if s == nil {
		t.Fatalf("problems = %q", problemStrings(ps))
	}
	ready := raw.Components[0].Values["ready"].(config.Func)
	health := raw.Components[0].Values["health"].(config.Func)
	if v, err := ready.Call(t.Context(), nil, time.Second); err != nil || v != 1.0 {
		t.Fatalf("ready = %v, %v", v, err)
	}
	if _, err := health.Call(t.Context(), nil, 50*time.Millisecond); !errors.Is(err, plugins.ErrOverrun) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want an overrun", err)
	}
	if _, err := health.Call(t.Context(), nil, time.Second); !errors.Is(err, plugins.ErrOverrun) {
		t.Fatalf("second call: err = %v, want disabled", err)
	}
	if v, err := ready.Call(t.Context(), nil, 5*time.Second); err != nil || v != 1.0 {
		t.Fatalf("ready after the replacement = %v, %v; want 1", v, err)
	}
}

// TestFunction_RetainedMemoryReplacesState calls a hook that keeps about
// 2 MiB per call in a global, under the per-call ceiling: once the state holds
// more than the ceiling it is replaced, so the memory stays bounded.
func TestFunction_RetainedMemoryReplacesState(t *testing.T) {
	src := `keep = {} settings { plugins = { max_memory = "16MiB" } }
on("start", function() local t = {} for i = 1, 2^17 do t[i] = i end keep[#keep + 1] = t return #keep end)
`
	var mu sync.Mutex
	replaced := 0
	log := func(level, msg, where string) {
		if strings.Contains(msg, "replaced") {
			mu.Lock()
			replaced++
			mu.Unlock()
		}
	}
	raw, s, ps := evaluate(t, writeLua(t, src), plugins.Options{Log: log})
	if s == nil {
		t.Fatalf("problems = %q", problemStrings(ps))
	}
	hook := raw.Hooks[0].Func
	most := 0.0
	for range 40 {
		v, err := hook.Call(t.Context(), nil, 10*time.Second)
		if err != nil {
			t.Fatalf("call: %v", err)
		}
		most = max(most, v.(float64))
		mu.Lock()
		done := replaced > 0
		mu.Unlock()
		if done {
			break
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if replaced == 0 || most > 20 {
		t.Fatalf("replaced %d times, at most %v tables kept; want the state replaced before it keeps 20", replaced, most)
	}
}

// TestEvaluate_ErrorValues checks errors raised with values other than
// strings, from Lua and from functions.
func TestFunction_ErrorValues(t *testing.T) {
	src := `component "a" { command = "x",
  ready = function() error({}) end,
  health = function() error(setmetatable({}, {__tostring = function() return "custom " .. string.rep("x", 5000) end})) end,
}
`
	raw, s, ps := evaluate(t, writeLua(t, src), plugins.Options{})
	if s == nil {
		t.Fatalf("problems = %q", problemStrings(ps))
	}
	_, err := raw.Components[0].Values["ready"].(config.Func).Call(t.Context(), nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "thorp.lua:2: (error object is a table value") || strings.Contains(err.Error(), "0x") {
		t.Errorf("error({}): %v", err)
	}
	_, err = raw.Components[0].Values["health"].(config.Func).Call(t.Context(), nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "thorp.lua:3: custom xxx") || len(err.Error()) > 1200 || !strings.Contains(err.Error(), "bytes cut)") {
		t.Errorf("__tostring: %v", err)
	}
}
