package plugins_test

import (
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

// problemStrings renders problems the way thorp check prints them.
func problemStrings(ps config.Problems) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out
}

// evaluate runs Evaluate and closes the Script when the test ends.
func evaluate(t *testing.T, path string, opts plugins.Options) (*config.Raw, *plugins.Script, config.Problems) {
	t.Helper()
	raw, s, ps := plugins.Evaluate(path, opts)
	if s != nil {
		t.Cleanup(s.Close)
	}
	return raw, s, ps
}

// writeLua writes src to a thorp.lua in a temporary directory and returns its path.
func writeLua(t *testing.T, src string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "thorp.lua")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestEvaluate_Good(t *testing.T) {
	raw, s, ps := evaluate(t, "testdata/good.lua", plugins.Options{})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	if s == nil {
		t.Fatal("no script")
	}
	abs, _ := filepath.Abs("testdata/good.lua")
	// Functions are values bound to the script; one Lua function used
	// twice is one value.
	policy, _ := raw.Components[0].Values["memory_policy"].(config.Func)
	ready, _ := raw.Components[1].Values["ready"].(config.Func)
	var hook config.Func
	if len(raw.Hooks) == 1 {
		hook = raw.Hooks[0].Func
	}
	for _, f := range []struct {
		fn    config.Func
		where string
	}{{policy, "good.lua:14"}, {ready, "good.lua:19"}, {hook, "good.lua:27"}} {
		if f.fn == nil || f.fn.Where() != f.where {
			t.Fatalf("function %v, want one at %s", f.fn, f.where)
		}
	}
	if want := "  memory_policy = function(s)\n    if s.rss > 100 then return \"restart\" end\n  end,\n"; policy.Source() != want {
		t.Errorf("Source() = %q, want %q", policy.Source(), want)
	}
	want := &config.Raw{
		File: abs,
		Name: "testdata/good.lua",
		Settings: map[string]any{
			"http":  "127.0.0.1:3001",
			"token": "t",
			"logs": map[string]any{
				"dir": "logs", "retain_days": float64(30), "compress": true, "max_size": "10MB",
			},
		},
		SettingsLine: 3,
		Components: []config.RawComponent{
			{Name: "api", Line: 9, Values: map[string]any{
				"command":            []any{"node", "server.js"},
				"env":                map[string]any{"NODE_ENV": "production"},
				"max_memory_restart": "150MB",
				"depends_on":         map[string]any{},
				"memory_policy":      policy,
			}},
			{Name: "worker_1", Line: 21, Values: map[string]any{
				"command": "sleep 100",
				"ready":   ready,
				"health":  map[string]any{"interval": "5s", "check": ready, "failures": float64(3)},
			}},
		},
		Hooks: []config.Hook{
			{Event: "restart", Func: hook, Line: 27},
		},
	}
	if !reflect.DeepEqual(raw, want) {
		t.Errorf("raw =\n%#v\nwant\n%#v", raw, want)
	}
}

func TestEvaluate_BadCalls(t *testing.T) {
	raw, s, ps := evaluate(t, "testdata/bad_calls.lua", plugins.Options{})
	want := []string{
		`testdata/bad_calls.lua:2: duplicate component "api", first declared at bad_calls.lua:1`,
		`testdata/bad_calls.lua:3: component "has space": invalid name: a name must be 1 to 63 letters, digits, '_' or '-', starting with a letter or digit (it becomes a file name and a metric label)`,
		`testdata/bad_calls.lua:4: component needs a name before its body: component "api" { command = … }`,
		`testdata/bad_calls.lua:5: component "web": body must be a table, got a string: component "web" { command = … }`,
		`testdata/bad_calls.lua:6: component "mixed": env: table mixes list items and named keys; use one or the other`,
		`testdata/bad_calls.lua:7: unknown event "boot"; use one of: start, ready, exit, crash, restart, stop, errored, memory, health, alert, reload`,
		`testdata/bad_calls.lua:8: on("exit", …) needs a function, got a string: on("exit", function(ev) … end)`,
		`testdata/bad_calls.lua:9: settings takes one table: settings { http = "127.0.0.1:9615" }`,
		`testdata/bad_calls.lua:10: component "lonely": has a name but no body; write component "lonely" { command = … }`,
		`testdata/bad_calls.lua:11: component "sparse": command: key [3] breaks the list: a list's items must be numbered 1, 2, 3, … without gaps`,
		`testdata/bad_calls.lua:11: component "sparse": logs: a boolean cannot be a table key; use names or a list`,
		`testdata/bad_calls.lua:12: logs: table mixes list items and named keys; use one or the other`,
	}
	if got := problemStrings(ps); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if s != nil {
		t.Error("got a Script despite problems")
	}
	if raw == nil {
		t.Fatal("no partial Raw")
	}
	var names []string
	for _, c := range raw.Components {
		names = append(names, c.Name)
	}
	if !slices.Equal(names, []string{"api", "ok"}) {
		t.Errorf("components = %q, want the valid ones [api ok]", names)
	}
}

func TestEvaluate_Errors(t *testing.T) {
	tests := []struct {
		name, path string
		want       []string
	}{
		{"syntax", "testdata/syntax.lua", []string{
			`testdata/syntax.lua:3:10: syntax error near '='`,
		}},
		{"eof", "testdata/eof.lua", []string{
			`testdata/eof.lua:3: unexpected end of file (a missing 'end', '}' or ')'?)`,
		}},
		{"runtime", "testdata/runtime.lua", []string{
			`testdata/runtime.lua:3: attempt to call a non-function object (a misspelt function name? thorp.lua has settings, component, on, include, plugin, require and thorp.*)`,
		}},
		{"missing", "testdata/does-not-exist.lua", []string{
			`testdata/does-not-exist.lua: cannot read thorp.lua: open testdata/does-not-exist.lua: no such file or directory (check the path given with -c or $THORP_CONFIG)`,
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, s, ps := evaluate(t, tt.path, plugins.Options{})
			if got := problemStrings(ps); !slices.Equal(got, tt.want) {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tt.want, "\n"))
			}
			if s != nil {
				t.Error("got a Script despite problems")
			}
		})
	}
}

func TestEvaluate_RuntimeErrorKeepsEarlierDeclarations(t *testing.T) {
	raw, _, ps := evaluate(t, "testdata/runtime.lua", plugins.Options{})
	if len(ps) != 1 {
		t.Fatalf("problems = %q, want 1", problemStrings(ps))
	}
	if raw == nil || raw.Settings["http"] != "x" || raw.SettingsLine != 1 {
		t.Errorf("raw = %#v, want the settings declared before the error", raw)
	}
	if len(raw.Components) != 0 {
		t.Errorf("components = %v, want none (declared after the error)", raw.Components)
	}
}

func TestEvaluate_SmallErrors(t *testing.T) {
	tests := []struct {
		name, src string
		want      string
	}{
		{"error call", "\nerror('no port configured')", "thorp.lua:2: no port configured"},
		{"error without position", "error('bare', 0)", "thorp.lua:1: bare"},
		{"error with a table", "\nerror({})", "thorp.lua:2: (error object is a table value without __tostring)"},
		{"error with __tostring", "error(setmetatable({}, {__tostring = function() return 'custom' end}))", "thorp.lua:1: custom"},
		{"long error", "error(string.rep('A', 1e7))", "thorp.lua:1: " + strings.Repeat("A", 1011) + "… (9998989 bytes cut)"},
		{"index nil", "local t = {}\nt.a.b = 1", "thorp.lua:2: attempt to index a non-table object(nil) with key 'b' (a misspelt table or field name?)"},
		{"stack overflow", "local function f() return 1 + f() end\nf()", "thorp.lua:1: stack overflow"},
		{"compile", "break", "thorp.lua:1: no loop to break"},
		{"unterminated", "x = 'abc", "thorp.lua:1: unterminated string at end of file"},
		{"on without args", "on()", `thorp.lua:1: on needs an event name and a function: on("restart", function(ev) … end)`},
		{"name too long", "component '" + strings.Repeat("a", 64) + "' { command = 'x' }",
			`thorp.lua:1: component "` + strings.Repeat("a", 64) + `": invalid name: a name must be 1 to 63 letters, digits, '_' or '-', starting with a letter or digit (it becomes a file name and a metric label)`},
		{"name starts with dash", "component '-x' { command = 'x' }",
			`thorp.lua:1: component "-x": invalid name: a name must be 1 to 63 letters, digits, '_' or '-', starting with a letter or digit (it becomes a file name and a metric label)`},
		{"name with dot", "component 'a.b' { command = 'x' }",
			`thorp.lua:1: component "a.b": invalid name: a name must be 1 to 63 letters, digits, '_' or '-', starting with a letter or digit (it becomes a file name and a metric label)`},
		{"list body", "component 'a' { 'x', 'y' }",
			`thorp.lua:1: component "a": body must have named keys, not list items: { command = "…", max_memory_restart = "150MB" }`},
		{"body twice", "local f = component 'a'\nf { command = 'x' }\nf { command = 'y' }",
			`thorp.lua:3: component "a": body given twice`},
		{"self reference", "local t = {}\nt.t = t\ncomponent 'a' { x = t }", `thorp.lua:3: component "a": x.t: table contains itself`},
		{"float key", "component 'a' { x = { [1.5] = 1 } }", `thorp.lua:1: component "a": x: key [1.5] breaks the list: a list's items must be numbered 1, 2, 3, … without gaps`},
		{"nested list key path", "component 'a' { x = { { b = { 1, c = 2 } } } }", `thorp.lua:1: component "a": x[1].b: table mixes list items and named keys; use one or the other`},
		{"settings list", "settings { 'a' }", `thorp.lua:1: settings takes named keys, not a list: settings { http = "127.0.0.1:9615" }`},
		{"settings mixed", "settings { 'a', b = 1 }", `thorp.lua:1: settings: table mixes list items and named keys; use one or the other`},
		{"userdata", "component 'a' { x = newproxy() }", `thorp.lua:1: component "a": x: a userdata cannot be used as a value`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeLua(t, tt.src)
			_, _, ps := evaluate(t, path, plugins.Options{})
			want := filepath.Dir(path) + "/" + tt.want
			if got := problemStrings(ps); len(got) != 1 || got[0] != want {
				t.Errorf("problems = %q\nwant [%q]", got, want)
			}
		})
	}
}

func TestEvaluate_Values(t *testing.T) {
	src := `component "a" {
  s = "x", n = 8080.5, b = false, empty = {}, list = { 1, "two", { k = true } },
  map = { nested = { deep = 1 } }, gone = nil,
}
component("b", { command = "two-arg form" })`
	raw, _, ps := evaluate(t, writeLua(t, src), plugins.Options{})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	want := []config.RawComponent{
		{Name: "a", Line: 1, Values: map[string]any{
			"s": "x", "n": 8080.5, "b": false, "empty": map[string]any{},
			"list": []any{float64(1), "two", map[string]any{"k": true}},
			"map":  map[string]any{"nested": map[string]any{"deep": float64(1)}},
		}},
		{Name: "b", Line: 5, Values: map[string]any{"command": "two-arg form"}},
	}
	if !reflect.DeepEqual(raw.Components, want) {
		t.Errorf("components =\n%#v\nwant\n%#v", raw.Components, want)
	}
}

func TestEvaluate_SettingsMerge(t *testing.T) {
	src := "\n\nsettings { http = 'a', logs = { dir = 'x', compress = true } }\nsettings { http = 'b', logs = { dir = 'y' } }\n"
	raw, _, ps := evaluate(t, writeLua(t, src), plugins.Options{})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	want := map[string]any{"http": "b", "logs": map[string]any{"dir": "y", "compress": true}}
	if !reflect.DeepEqual(raw.Settings, want) || raw.SettingsLine != 3 {
		t.Errorf("settings = %#v line %d, want %#v line 3", raw.Settings, raw.SettingsLine, want)
	}
}

func TestEvaluate_EmptyFile(t *testing.T) {
	raw, s, ps := evaluate(t, writeLua(t, ""), plugins.Options{})
	if len(ps) != 0 || s == nil {
		t.Fatalf("problems %q, script %v", problemStrings(ps), s)
	}
	if raw.Settings != nil || raw.SettingsLine != 0 || len(raw.Components) != 0 || len(raw.Hooks) != 0 {
		t.Errorf("raw = %#v, want empty", raw)
	}
}

func TestEvaluate_InfiniteLoopTimesOut(t *testing.T) {
	start := time.Now()
	raw, s, ps := evaluate(t, "testdata/loop.lua", plugins.Options{Timeout: 200 * time.Millisecond})
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("took %v, want about 200ms", d)
	}
	want := []string{"testdata/loop.lua:2: still running after 200ms: thorp.lua must finish quickly; look for an endless loop"}
	if got := problemStrings(ps); !slices.Equal(got, want) {
		t.Errorf("problems = %q, want %q", got, want)
	}
	if s != nil {
		t.Error("got a Script despite problems")
	}
	if raw == nil || len(raw.Components) != 1 {
		t.Errorf("raw = %#v, want the component declared before the loop", raw)
	}
}

func TestEvaluate_Sandbox(t *testing.T) {
	raw, _, ps := evaluate(t, "testdata/globals.lua", plugins.Options{})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	list := func(key string) []string {
		var out []string
		for _, v := range raw.Settings[key].([]any) {
			out = append(out, v.(string))
		}
		return out
	}
	wantGlobals := []string{
		"_G", "_VERSION", "assert", "collectgarbage", "component", "error",
		"getfenv", "getmetatable", "include", "ipairs", "math", "newproxy", "next", "on", "os",
		"package", "pairs", "pcall", "plugin", "print", "rawequal", "rawget", "rawset", "require",
		"select", "setfenv", "setmetatable", "settings", "string", "table", "thorp",
		"tonumber", "tostring", "type", "unpack", "xpcall",
	}
	if got := list("globals"); !slices.Equal(got, wantGlobals) {
		t.Errorf("globals =\n%q\nwant\n%q", got, wantGlobals)
	}
	if got, want := list("os"), []string{"clock", "date", "getenv", "time"}; !slices.Equal(got, want) {
		t.Errorf("os = %q, want %q", got, want)
	}
	if got, want := list("thorp"), []string{"after", "alert", "env", "every", "exec", "http", "json", "log", "restart", "self", "signal", "start", "status", "stop", "version"}; !slices.Equal(got, want) {
		t.Errorf("thorp = %q, want %q", got, want)
	}
	for k, v := range raw.Settings["blocked"].(map[string]any) {
		if v != true {
			t.Errorf("sandbox check %s failed: it is reachable", k)
		}
	}
}

func TestEvaluate_ThorpTable(t *testing.T) {
	t.Setenv("THORP_TEST_ENV", "hello")
	src := `settings { self = thorp.self, version = thorp.version, env = thorp.env("THORP_TEST_ENV"),
  unset = thorp.env("THORP_TEST_UNSET_FOR_SURE") == nil, osenv = os.getenv("THORP_TEST_ENV"), profile = thorp.profile }
print("a", 1, true)
thorp.log("WARN", "careful")
thorp.alert("on fire")
on("start", function() thorp.log("info", "from hook") end)
`
	type entry struct{ level, msg, where string }
	var (
		mu  sync.Mutex
		got []entry
	)
	opts := plugins.Options{Self: "/usr/bin/thorp", Version: "1.2.3", Profile: "production", Log: func(level, msg, where string) {
		mu.Lock()
		defer mu.Unlock()
		got = append(got, entry{level, msg, where})
	}}
	raw, _, ps := evaluate(t, writeLua(t, src), opts)
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	want := map[string]any{"self": "/usr/bin/thorp", "version": "1.2.3", "env": "hello", "unset": true, "osenv": "hello", "profile": "production"}
	if !reflect.DeepEqual(raw.Settings, want) {
		t.Errorf("settings = %#v, want %#v", raw.Settings, want)
	}
	if _, err := raw.Hooks[0].Func.Call(t.Context(), nil, time.Second); err != nil {
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	wantLog := []entry{
		{"info", "a\t1\ttrue", "thorp.lua:3"},
		{"warn", "careful", "thorp.lua:4"},
		{"alert", "on fire", "thorp.lua:5"},
		{"info", "from hook", "thorp.lua:6"},
	}
	if !slices.Equal(got, wantLog) {
		t.Errorf("log = %q, want %q", got, wantLog)
	}
}

func TestEvaluate_DeclarationsRefusedInHooks(t *testing.T) {
	src := "on('reload', function() component 'late' { command = 'x' } end)\n"
	raw, _, ps := evaluate(t, writeLua(t, src), plugins.Options{})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	_, err := raw.Hooks[0].Func.Call(t.Context(), nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "component can only be used while thorp.lua loads") {
		t.Errorf("err = %v, want a refusal", err)
	}
}

func TestEvaluate_Concurrent(t *testing.T) {
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			_, s, ps := plugins.Evaluate("testdata/good.lua", plugins.Options{})
			if len(ps) != 0 {
				t.Errorf("problems: %q", problemStrings(ps))
			}
			if s != nil {
				s.Close()
			}
		})
	}
	wg.Wait()
}

func TestHookEvents(t *testing.T) {
	for _, ev := range plugins.HookEvents {
		src := "on('" + ev + "', function() end)"
		if _, _, ps := evaluate(t, writeLua(t, src), plugins.Options{}); len(ps) != 0 {
			t.Errorf("on(%q): %q", ev, problemStrings(ps))
		}
	}
}

// Lua ends a line at \n, \r, \r\n or \n\r: a file with old Mac line
// endings (lone \r) gets the line numbers an editor shows, at the end of
// the file too.
func TestEvaluate_LoneCarriageReturnsAreLines(t *testing.T) {
	path := writeLua(t, "settings {\r  http = \"\",\r\r  env = {\r")
	_, s, ps := evaluate(t, path, plugins.Options{})
	if s != nil {
		t.Fatal("got a Script despite problems")
	}
	want := []string{path + ":5: unexpected end of file (a missing 'end', '}' or ')'?)"}
	if got := problemStrings(ps); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
