package plugins

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	lua "github.com/yuin/gopher-lua"
)

// TestScript_run_StackBalanced calls run directly on the test goroutine (no
// owner) and checks that every outcome leaves the Lua stack as it found it.
func TestScript_run_StackBalanced(t *testing.T) {
	L := newSandboxState(newLimits())
	defer L.Close()
	src := `return function(ev) return ev.x end,
	function() error("boom") end,
	function() while true do end end,
	function() return function() end end,
	function() return 1, 2, 3 end`
	if err := L.DoString(src); err != nil {
		t.Fatal(err)
	}
	var funcs []*lua.LFunction
	for i := 1; i <= L.GetTop(); i++ {
		funcs = append(funcs, L.Get(i).(*lua.LFunction))
	}
	L.SetTop(0)
	L.Push(lua.LString("sentinel"))

	st := &scriptState{chunk: "thorp.lua", closing: context.Background(), lim: newLimits()}
	fns := map[funcKey]*lua.LFunction{}
	for i, fn := range funcs {
		fns[funcKey{n: i}] = fn
	}
	tests := []struct {
		id      int
		arg     map[string]any
		want    any
		wantErr string
	}{
		{1, map[string]any{"x": "y"}, "y", ""},
		{1, nil, nil, ""},
		{1, map[string]any{"x": make(chan int)}, nil, "cannot pass"},
		{2, nil, nil, "boom"},
		{3, nil, nil, "did not return within"},
		{4, nil, nil, "a function cannot be returned"},
		{5, nil, float64(1), ""},
	}
	for _, tt := range tests {
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		r := st.run(L, fns, callRequest{ctx: ctx, key: funcKey{n: tt.id - 1}, where: "thorp.lua:1", arg: tt.arg, timeout: 50 * time.Millisecond})
		cancel()
		if tt.wantErr != "" {
			if r.err == nil || !strings.Contains(r.err.Error(), tt.wantErr) {
				t.Errorf("func %d: err = %v, want %q", tt.id, r.err, tt.wantErr)
			}
		} else if r.err != nil || !reflect.DeepEqual(r.v, tt.want) {
			t.Errorf("func %d: got %#v, %v; want %#v", tt.id, r.v, r.err, tt.want)
		}
		if top := L.GetTop(); top != 1 || L.Get(1).String() != "sentinel" {
			t.Fatalf("func %d: stack top = %d, want 1 (the sentinel)", tt.id, top)
		}
	}
}

func TestTableShape(t *testing.T) {
	tests := []struct {
		src     string
		want    any
		wantErr string
	}{
		{"{}", map[string]any{}, ""},
		{"{1, 2}", []any{float64(1), float64(2)}, ""},
		{"{[2] = 'b', [1] = 'a'}", []any{"a", "b"}, ""},
		{"{a = 1, b = {}}", map[string]any{"a": float64(1), "b": map[string]any{}}, ""},
		{"{a = nil, b = 1}", map[string]any{"b": float64(1)}, ""},
		{"{[0] = 1}", nil, "key [0] breaks the list"},
		{"{[-1] = 1, 2}", nil, "key [-1] breaks the list"},
		{"{1, x = 2}", nil, "mixes list items and named keys"},
		{"{[{}] = 1}", nil, "a table cannot be a table key"},
	}
	L := newSandboxState(newLimits())
	defer L.Close()
	for _, tt := range tests {
		if err := L.DoString("return " + tt.src); err != nil {
			t.Fatal(err)
		}
		v := L.Get(-1)
		L.Pop(1)
		c := &luaToConfig{}
		got, ok := c.convert(v, "")
		if tt.wantErr != "" {
			if ok || len(c.errs) != 1 || !strings.Contains(c.errs[0].Msg, tt.wantErr) {
				t.Errorf("%s: errs = %v, want %q", tt.src, c.errs, tt.wantErr)
			}
			continue
		}
		if !ok || !reflect.DeepEqual(got, tt.want) {
			t.Errorf("%s: got %#v (%v), want %#v", tt.src, got, c.errs, tt.want)
		}
	}
}

func TestSplitWhere(t *testing.T) {
	tests := []struct {
		msg      string
		wantLine int
		wantMsg  string
	}{
		{"thorp.lua:12: boom", 12, "boom"},
		{"thorp.lua:12: a: b", 12, "a: b"},
		{"other.lua:12: boom", 0, "other.lua:12: boom"},
		{"thorp.lua:x: boom", 0, "thorp.lua:x: boom"},
		{"boom", 0, "boom"},
	}
	for _, tt := range tests {
		line, msg := splitWhere("thorp.lua", tt.msg)
		if line != tt.wantLine || msg != tt.wantMsg {
			t.Errorf("splitWhere(%q) = %d, %q; want %d, %q", tt.msg, line, msg, tt.wantLine, tt.wantMsg)
		}
	}
}

// TestScript_LifetimeFollowsItsFunctions checks when a Script's state is
// closed without Close: never while one of its functions is reachable, and
// soon after nothing references the Script or its functions.
func TestScript_LifetimeFollowsItsFunctions(t *testing.T) {
	path := filepath.Join(t.TempDir(), "thorp.lua")
	if err := os.WriteFile(path, []byte("on('start', function() return 1 end)\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, s, ps := Evaluate(path, Options{})
	if s == nil {
		t.Fatalf("problems: %v", ps)
	}
	st, fn := s.states[roleHook], raw.Hooks[0].Func
	raw, s = nil, nil
	for range 3 {
		runtime.GC()
	}
	select {
	case <-st.done:
		t.Fatal("the state was closed while one of its functions is held")
	default:
	}
	if v, err := fn.Call(t.Context(), nil, time.Second); err != nil || v != 1.0 {
		t.Fatalf("call = %v, %v", v, err)
	}
	fn = nil
	deadline := time.Now().Add(10 * time.Second)
	for {
		runtime.GC()
		select {
		case <-st.done:
			return
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("the state is still open 10s after nothing references the script")
		}
	}
}

// TestScript_FailedEvaluationFunctionsAreClosed checks that functions of a
// file that did not evaluate cleanly refuse calls instead of crashing.
func TestScript_FailedEvaluationFunctionsAreClosed(t *testing.T) {
	path := filepath.Join(t.TempDir(), "thorp.lua")
	if err := os.WriteFile(path, []byte("on('start', function() return 1 end)\nerror('late')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, s, _ := Evaluate(path, Options{})
	if s != nil || raw == nil || len(raw.Hooks) != 1 {
		t.Fatalf("script %v, raw %v", s, raw)
	}
	if _, err := raw.Hooks[0].Func.Call(t.Context(), nil, time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("err = %v, want ErrClosed", err)
	}
}

// TestScript_StatesOnlyForTheirFunctions checks that a Script keeps a Lua
// state for probes only when thorp.lua handed over a ready, health or
// memory_policy function, and one for hooks only when it has hooks: a
// state nothing can call would only cost memory for the daemon's life.
func TestScript_StatesOnlyForTheirFunctions(t *testing.T) {
	for _, c := range []struct {
		name, src     string
		probes, hooks bool
	}{
		{"none", `component "a" { command = { "true" } }`, false, false},
		{"probe", `component "a" { command = { "true" }, ready = function() return true end }`, true, false},
		{"hook", `component "a" { command = { "true" } }
on('start', function() end)`, false, true},
		{"both", `component "a" { command = { "true" }, ready = function() return true end }
on('start', function() end)`, true, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "thorp.lua")
			if err := os.WriteFile(path, []byte(c.src+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			raw, s, ps := Evaluate(path, Options{})
			if s == nil {
				t.Fatalf("problems: %v", ps)
			}
			defer s.Close()
			if got := s.states[roleProbe] != nil; got != c.probes {
				t.Errorf("probe state: %v, want %v", got, c.probes)
			}
			if got := s.states[roleHook] != nil; got != c.hooks {
				t.Errorf("hook state: %v, want %v", got, c.hooks)
			}
			if c.probes {
				f, ok := raw.Components[0].Values["ready"].(*Function)
				if !ok {
					t.Fatalf("ready = %#v", raw.Components[0].Values["ready"])
				}
				if v, err := f.Call(t.Context(), nil, time.Second); err != nil || v != true {
					t.Fatalf("ready() = %v, %v", v, err)
				}
			}
		})
	}
}
