package config

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// fakeHostMemory makes the host look like it has total bytes of memory.
func fakeHostMemory(t *testing.T, total Size) {
	t.Helper()
	old := hostMemory
	hostMemory = func() (Size, error) { return total, nil }
	t.Cleanup(func() { hostMemory = old })
}

// testFunc is a Func for decoding; it is never called.
type testFunc struct{ where string }

func (f *testFunc) Call(context.Context, map[string]any, time.Duration) (any, error) { return nil, nil }
func (f *testFunc) Where() string                                                    { return f.where }
func (f *testFunc) Source() string                                                   { return "" }

func goodRaw() *Raw {
	ready := &testFunc{where: "thorp.lua:30"}
	return &Raw{
		File:         "/srv/app/thorp.lua",
		SettingsLine: 1,
		Settings: map[string]any{
			"http":       "127.0.0.1:3002",
			"token":      "s3cret-s3cret-s3cret",
			"http_hosts": []any{"thorp.example.com", "Metrics.Example.com:9100", "[::1]:3002"},
			"logs":       map[string]any{"dir": "var/log", "max_size": "20MB", "retain_days": 7.0},
		},
		Components: []RawComponent{
			{Name: "cache", Line: 10, Values: map[string]any{
				"command": "redis-server --port 6380",
				"ready":   "tcp://127.0.0.1:6380",
			}},
			{Name: "thorp-system", Line: 14, Values: map[string]any{
				"command":            []any{"node", "--expose-gc", "system-main.js"},
				"cwd":                "app",
				"env":                map[string]any{"NODE_ENV": "production", "PORT": 8080.0},
				"max_memory_restart": "150MB",
				"restart_delay":      "4s",
				"kill_timeout":       5.0,
				"min_uptime":         "30s",
				"max_restarts":       10.0,
				"autorestart":        false,
				"stop_exit_codes":    []any{0.0, 143.0},
				"stop_signal":        "INT",
				"depends_on":         "cache",
				"sockets":            map[string]any{"http": "tcp://127.0.0.1:8080"},
				"ready":              ready,
				"health":             map[string]any{"http": "http://127.0.0.1:8080/health", "failures": 5.0},
				"watchdog":           "30s",
				"cron_restart":       "@daily",
				"restart_mode":       "overlap",
				"instances":          2.0,
				"log_file":           "out/system.log",
				"logs":               map[string]any{"max_size": "50MB", "compress": false},
			}},
		},
	}
}

func TestDecode_Good(t *testing.T) {
	fakeHostMemory(t, 16*GiB)
	raw := goodRaw()
	cfg, problems := Decode(raw, nil, nil)
	if len(problems) != 0 {
		t.Fatalf("problems:\n%v", ProblemsError(problems).Error())
	}
	if cfg.File != "/srv/app/thorp.lua" || cfg.Dir != "/srv/app" {
		t.Errorf("File, Dir = %q, %q", cfg.File, cfg.Dir)
	}
	wantLogs := LogSettings{Dir: "/srv/app/var/log", MaxSize: 20_000_000, Rotate: "daily", RetainDays: 7,
		Compress: true, Timestamps: true, Format: "text", MaxLine: 64 * KiB, Overflow: "block"}
	wantSettings := Settings{
		HTTP: "127.0.0.1:3002", HTTPHosts: []string{"thorp.example.com", "Metrics.Example.com:9100", "[::1]:3002"}, Control: "/srv/app/.thorp/thorp.sock", State: "/srv/app/.thorp/state.json",
		Token: "s3cret-s3cret-s3cret", Logs: wantLogs,
		Plugins:     PluginSettings{Timeout: 200 * time.Millisecond, AllowExec: []string{}, AllowHosts: []string{}, Path: "/srv/app/plugins", MaxFailures: 5, MaxMemory: 64 * MiB},
		MetricsPush: MetricsPush{Interval: 15 * time.Second},
		Line:        1,
		Alerts:      DefaultAlerts(),
	}
	if !reflect.DeepEqual(cfg.Settings, wantSettings) {
		t.Errorf("Settings =\n%+v\nwant\n%+v", cfg.Settings, wantSettings)
	}

	cache := DefaultComponent()
	cache.Name, cache.Line = "cache", 10
	cache.Command = Command{Argv: []string{"/bin/sh", "-c", "redis-server --port 6380"}, Shell: true}
	cache.Cwd = "/srv/app"
	cache.Ready = "tcp://127.0.0.1:6380"
	cache.Logs = wantLogs

	sys := DefaultComponent()
	sys.Name, sys.Line = "thorp-system", 14
	sys.Command = Command{Argv: []string{"node", "--expose-gc", "system-main.js"}}
	sys.Cwd = "/srv/app/app"
	sys.Env = map[string]string{"NODE_ENV": "production", "PORT": "8080"}
	sys.MaxMemoryRestart = 150_000_000
	sys.MaxMemoryRestartText = "150MB"
	sys.RestartDelay = 4 * time.Second
	sys.KillTimeout = 5 * time.Second
	sys.MinUptime = 30 * time.Second
	sys.MaxRestarts = 10
	sys.Autorestart = AutorestartNever
	sys.StopExitCodes = []int{0, 143}
	sys.StopSignal = Signal(syscall.SIGINT)
	sys.DependsOn = []string{"cache"}
	sys.Sockets = map[string]string{"http": "tcp://127.0.0.1:8080"}
	sys.Ready, sys.ReadyFunc = "", raw.Components[1].Values["ready"].(Func)
	sys.Health = &Health{HTTP: "http://127.0.0.1:8080/health", Interval: 5 * time.Second, Timeout: time.Second, Failures: 5}
	sys.Watchdog = 30 * time.Second
	sys.CronRestart = "@daily"
	sys.RestartMode = "overlap"
	sys.Instances = 2
	sys.LogFile = "/srv/app/out/system.log"
	sys.Logs = wantLogs
	sys.Logs.MaxSize = 50_000_000
	sys.Logs.Compress = false

	want := []Component{cache, sys}
	for i := range want {
		if !reflect.DeepEqual(cfg.Components[i], want[i]) {
			t.Errorf("component %d =\n%+v\nwant\n%+v", i, cfg.Components[i], want[i])
		}
	}
	if cfg.Components[1].ReadyFunc != raw.Components[1].Values["ready"] {
		t.Error("ReadyFunc is not the Raw's Func")
	}
	// Decode must not change its input.
	if !reflect.DeepEqual(raw, goodRaw()) {
		t.Error("Decode changed the Raw")
	}
}

func TestDecode_DefaultsOnly(t *testing.T) {
	cfg, problems := Decode(&Raw{File: "/x/thorp.lua", Components: []RawComponent{
		{Name: "a", Line: 1, Values: map[string]any{"command": []any{"true"}}},
	}}, nil, nil)
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	want := Defaults()
	want.Control, want.State, want.Logs.Dir = "/x/.thorp/thorp.sock", "/x/.thorp/state.json", "/x/logs"
	want.Plugins.Path = "/x/plugins"
	if !reflect.DeepEqual(cfg.Settings, want) {
		t.Errorf("Settings = %+v, want %+v", cfg.Settings, want)
	}
	c := cfg.Components[0]
	if c.Cwd != "/x" || c.Logs != want.Logs || c.Ready != "started" || c.Autorestart != "always" {
		t.Errorf("component = %+v", c)
	}
}

// badRaw has one or more problems per line, each a rule of DESIGN.md.
func badRaw() *Raw {
	return &Raw{
		File:         "thorp.lua",
		SettingsLine: 2,
		Settings: map[string]any{
			"http":     "localhost",
			"logz":     map[string]any{},
			"logs":     map[string]any{"rotate": "weekly", "max_size": "500", "max_line": "12XB", "retain_days": -1.0, "format": "xml"},
			"plugins":  map[string]any{"timeout": true, "allow_hosts": "example.com"},
			"controll": "x.sock",
		},
		Components: []RawComponent{
			{Name: "api", Line: 14, Values: map[string]any{
				"command":            []any{"node", 3.0},
				"max_memory":         "150MB",
				"max_memory_restart": "12XB",
				"restart_delay":      true,
				"max_restarts":       8080.5,
				"autorestart":        "sometimes",
				"stop_exit_codes":    []any{0.0, 300.0},
				"stop_signal":        "SIGNOPE",
				"kill_timeout":       "0s",
				"memory_interval":    "10ms",
				"memory_samples":     0.0,
				"memory_measure":     "vss",
				"memory_policy":      "restart",
				"depends_on":         []any{"dbb"},
				"sockets":            map[string]any{"http": "127.0.0.1:8080", "bad name": "tcp://127.0.0.1:1"},
				"ready":              "log:([",
				"health":             map[string]any{"url": "http://x", "timeout": "-1s"},
				"watchdog":           "0s",
				"restart_mode":       "blue-green",
				"instances":          0.0,
				"cron_restart":       "every day",
				"logs":               map[string]any{"overflow": "spill", "compres": true},
				"min_uptime":         "0s",
			}},
			{Name: "db", Line: 40, Values: map[string]any{"command": "", "cwd": 5.0, "env": map[string]any{"A": []any{"x"}}}},
			{Name: "db", Line: 44, Values: map[string]any{"command": "true"}},
			{Name: "-bad", Line: 46, Values: map[string]any{"command": "true", "health": "yes", "ready": 1.0}},
			{Name: "nocmd", Line: 48, Values: map[string]any{}},
			{Name: "a", Line: 50, Values: map[string]any{"command": "true", "depends_on": []any{"b"}}},
			{Name: "b", Line: 52, Values: map[string]any{"command": "true", "depends_on": []any{"c"}}},
			{Name: "c", Line: 54, Values: map[string]any{"command": "true", "depends_on": []any{"a"}}},
			{Name: "self", Line: 56, Values: map[string]any{"command": "true", "depends_on": "self"}},
		},
	}
}

func TestDecode_Bad(t *testing.T) {
	fakeHostMemory(t, 16*GiB)
	cfg, problems := Decode(badRaw(), []string{"THORP_FOO=1", "THORP_CONFIG=x", "THORP_INSTANCE=2", "THORP_LOGS__RETAIN_FILES=many"}, nil)
	if cfg != nil {
		t.Error("cfg is not nil despite errors")
	}
	var b strings.Builder
	for _, p := range problems {
		if p.Warning {
			b.WriteString("warning: ")
		}
		b.WriteString(p.String())
		b.WriteString("\n")
	}
	golden(t, "bad.golden", b.String())
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden (run with -update to create): %v", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (run with -update after checking):\ngot:\n%s\nwant:\n%s", name, got, want)
	}
}

func TestDecode_EnvLayering(t *testing.T) {
	raw := &Raw{File: "/srv/thorp.lua", SettingsLine: 1,
		Settings:   map[string]any{"http": "127.0.0.1:4000", "logs": map[string]any{"max_size": "20MB", "retain_days": 3.0}},
		Components: []RawComponent{{Name: "a", Line: 3, Values: map[string]any{"command": "true", "logs": map[string]any{"retain_days": 1.0}}}},
	}
	env := []string{
		"PATH=/bin",
		"THORP_HTTP=0.0.0.0:3001",
		"THORP_LOGS__MAX_SIZE=50MB",
		"THORP_LOGS__COMPRESS=false",
		"THORP_PLUGINS__ALLOW_HOSTS=a.example, b.example",
		"THORP_PLUGINS__TIMEOUT=1",
		"THORP_CONFIG=/etc/thorp.lua",
		"THORP_INSTANCE=0",
		"THORP_NOPE=1",
		"THORP_LOGS=x",
	}
	cfg, problems := Decode(raw, env, map[string]any{"logs.retain_days": 9, "token": "0123456789abcdef"})
	if errs := problems.Errors(); len(errs) != 0 {
		t.Fatalf("errors: %v", errs)
	}
	var warnings []string
	for _, p := range problems.Warnings() {
		warnings = append(warnings, p.String())
	}
	wantWarnings := []string{
		"THORP_NOPE: this environment variable is not a thorp setting; ignored",
		"THORP_LOGS: this environment variable is not a thorp setting; ignored",
	}
	if !reflect.DeepEqual(warnings, wantWarnings) {
		t.Errorf("warnings = %q, want %q", warnings, wantWarnings)
	}
	s := cfg.Settings
	if s.HTTP != "0.0.0.0:3001" || s.Logs.MaxSize != 50_000_000 || s.Logs.Compress || s.Logs.RetainDays != 9 || s.Token != "0123456789abcdef" {
		t.Errorf("settings = %+v", s)
	}
	if !reflect.DeepEqual(s.Plugins.AllowHosts, []string{"a.example", "b.example"}) || s.Plugins.Timeout != time.Second {
		t.Errorf("plugins = %+v", s.Plugins)
	}
	// The component inherits the layered settings.logs and overrides one key.
	l := cfg.Components[0].Logs
	if l.MaxSize != 50_000_000 || l.Compress || l.RetainDays != 1 {
		t.Errorf("component logs = %+v", l)
	}
}

func TestDecode_EnvBadValue(t *testing.T) {
	raw := &Raw{File: "thorp.lua", SettingsLine: 1}
	_, problems := Decode(raw, []string{"THORP_LOGS__MAX_SIZE=12XB", "THORP_LOGS__COMPRESS=maybe"}, map[string]any{"htp": "x"})
	var got []string
	for _, p := range problems.Errors() {
		got = append(got, p.String())
	}
	want := []string{
		`--set htp=x: unknown key; did you mean ` + "`http`" + `?`,
		`THORP_LOGS__COMPRESS: expected true or false, got "maybe"`,
		`THORP_LOGS__MAX_SIZE: "12XB" is not a size (use a number of bytes or units like "150MB", "10M", "1.5GiB")`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("errors =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecode_DidYouMean(t *testing.T) {
	tests := []struct {
		key, want string
	}{
		{"max_memory", "max_memory_restart"},
		{"restart_dealy", "restart_delay"},
		{"Autorestart", "autorestart"},
		{"dependson", "depends_on"},
		{"xyzzy", ""},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			raw := &Raw{File: "thorp.lua", Components: []RawComponent{{Name: "a", Line: 3, Values: map[string]any{"command": "true", tt.key: 1.0}}}}
			_, problems := Decode(raw, nil, nil)
			if len(problems) != 1 {
				t.Fatalf("problems = %v", problems)
			}
			want := "unknown key"
			if tt.want != "" {
				want += "; did you mean `" + tt.want + "`?"
			}
			if p := problems[0]; p.Key != tt.key || p.Message != want || p.Line != 3 || p.Component != "a" {
				t.Errorf("problem = %+v, want message %q", p, want)
			}
		})
	}
}

func TestDecode_MemoryWarnings(t *testing.T) {
	fakeHostMemory(t, 2*GiB)
	raw := &Raw{File: "thorp.lua", Components: []RawComponent{
		{Name: "tiny", Line: 1, Values: map[string]any{"command": "true", "max_memory_restart": 512.0}},
		{Name: "huge", Line: 2, Values: map[string]any{"command": "true", "max_memory_restart": "3GiB"}},
		{Name: "fine", Line: 3, Values: map[string]any{"command": "true", "max_memory_restart": "150MB"}},
	}}
	cfg, problems := Decode(raw, nil, nil)
	if cfg == nil {
		t.Fatalf("cfg is nil: %v", problems)
	}
	var got []string
	for _, p := range problems {
		if !p.Warning {
			t.Errorf("not a warning: %v", p)
		}
		got = append(got, p.String())
	}
	want := []string{
		`thorp.lua:1: component "tiny": max_memory_restart: 512 B is below 1 MiB; the component would be restarted almost as soon as it starts`,
		`thorp.lua:2: component "huge": max_memory_restart: 3 GiB is more than this host's memory (2 GiB); the limit can never be reached`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("warnings =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecode_MemoryHigh(t *testing.T) {
	raw := &Raw{File: "thorp.lua", Components: []RawComponent{
		{Name: "tiny", Line: 1, Values: map[string]any{"command": "true", "memory_high": 512.0}},
		{Name: "late", Line: 2, Values: map[string]any{"command": "true", "memory_high": "200MiB", "max_memory_restart": "150MiB"}},
		{Name: "fine", Line: 3, Values: map[string]any{"command": "true", "memory_high": "100MiB", "max_memory_restart": "150MiB", "memory_measure": "cgroup"}},
	}}
	_, problems := Decode(raw, nil, nil)
	var got []string
	for _, p := range problems {
		got = append(got, fmt.Sprintf("%v %s", p.Warning, p))
	}
	want := []string{
		`false thorp.lua:1: component "tiny": memory_high: 512 B is below 1 MiB; the component would be throttled from its start`,
		`true thorp.lua:2: component "late": memory_high: 200 MiB is not below max_memory_restart (150 MiB): the restart comes before any throttling`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("problems =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestDecode_NoComponents(t *testing.T) {
	cfg, problems := Decode(&Raw{File: "thorp.lua"}, nil, nil)
	if cfg == nil || len(problems) != 1 || !problems[0].Warning ||
		problems[0].String() != "thorp.lua: no components declared; thorp will run and serve but supervise nothing" {
		t.Fatalf("cfg = %v, problems = %v", cfg, problems)
	}
}

func TestDecode_Cycle(t *testing.T) {
	raw := &Raw{File: "thorp.lua", Components: []RawComponent{
		{Name: "web", Line: 1, Values: map[string]any{"command": "true", "depends_on": []any{"api"}}},
		{Name: "api", Line: 5, Values: map[string]any{"command": "true", "depends_on": []any{"db", "cache"}}},
		{Name: "db", Line: 9, Values: map[string]any{"command": "true", "depends_on": []any{"web"}}},
		{Name: "cache", Line: 13, Values: map[string]any{"command": "true"}},
	}}
	_, problems := Decode(raw, nil, nil)
	if len(problems) != 1 || problems[0].String() != `thorp.lua:1: component "web": depends_on: dependency cycle: web -> api -> db -> web` {
		t.Fatalf("problems = %v", problems)
	}
}

func TestTopoOrder(t *testing.T) {
	cs := func(deps ...[]string) []Component {
		names := []string{"a", "b", "c", "d", "e"}
		var out []Component
		for i, d := range deps {
			out = append(out, Component{Name: names[i], DependsOn: d})
		}
		return out
	}
	tests := []struct {
		name    string
		in      []Component
		want    [][]string
		wantErr string
	}{
		{name: "empty", in: nil, want: nil},
		{name: "independent", in: cs(nil, nil), want: [][]string{{"a", "b"}}},
		{name: "chain", in: cs([]string{"b"}, []string{"c"}, nil), want: [][]string{{"c"}, {"b"}, {"a"}}},
		{name: "diamond", in: cs([]string{"b", "c"}, []string{"d"}, []string{"d"}, nil, nil), want: [][]string{{"d", "e"}, {"b", "c"}, {"a"}}},
		{name: "longest path", in: cs([]string{"b", "c"}, []string{"c"}, nil), want: [][]string{{"c"}, {"b"}, {"a"}}},
		{name: "cycle", in: cs([]string{"b"}, []string{"a"}), wantErr: "dependency cycle: a -> b -> a"},
		{name: "self", in: cs(nil, []string{"b"}), wantErr: "dependency cycle: b -> b"},
		{name: "unknown", in: cs([]string{"z"}), wantErr: `component "a" depends on unknown component "z"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := TopoOrder(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("error = %v, want %q", err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("TopoOrder = %v, %v; want %v", got, err, tt.want)
			}
		})
	}
}

func TestKnownKeys(t *testing.T) {
	settings := KnownSettingsKeys()
	for _, k := range []string{"http", "control", "state", "token", "logs.max_size", "plugins.allow_exec", "metrics_push.url"} {
		if !slices.Contains(settings, k) {
			t.Errorf("KnownSettingsKeys lacks %q", k)
		}
	}
	comp := KnownComponentKeys()
	for _, k := range []string{"command", "ready", "health.http", "memory_policy", "logs.rotate", "max_memory_restart", "proxy.listen", "proxy.port_env", "rolling"} {
		if !slices.Contains(comp, k) {
			t.Errorf("KnownComponentKeys lacks %q", k)
		}
	}
	if slices.Contains(comp, "name") || slices.Contains(comp, "line") {
		t.Error("KnownComponentKeys has untagged fields")
	}
}

func TestSameFunc(t *testing.T) {
	a := &sourceFunc{where: "thorp.lua:3", source: "function() return true end"}
	tests := []struct {
		name string
		x, y Func
		want bool
	}{
		{"both nil", nil, nil, true},
		{"one nil", a, nil, false},
		{"same value", a, a, true},
		{"another evaluation, same place and text", a, &sourceFunc{where: "thorp.lua:3", source: a.source}, true},
		{"moved", a, &sourceFunc{where: "thorp.lua:4", source: a.source}, false},
		{"edited on the same line", a, &sourceFunc{where: "thorp.lua:3", source: "function() return false end"}, false},
	}
	for _, tt := range tests {
		if got := SameFunc(tt.x, tt.y); got != tt.want {
			t.Errorf("%s: SameFunc = %v, want %v", tt.name, got, tt.want)
		}
	}
}

// sourceFunc is a Func with a definition text; it is never called.
type sourceFunc struct{ where, source string }

func (f *sourceFunc) Call(context.Context, map[string]any, time.Duration) (any, error) {
	return nil, nil
}
func (f *sourceFunc) Where() string  { return f.where }
func (f *sourceFunc) Source() string { return f.source }

func TestDecode_FunctionsKeepTheirIdentity(t *testing.T) {
	policy, health := &testFunc{where: "thorp.lua:2"}, &testFunc{where: "thorp.lua:3"}
	raw := &Raw{File: "thorp.lua", Components: []RawComponent{{Name: "a", Line: 4, Values: map[string]any{
		"command": "true", "memory_policy": policy, "health": health,
	}}}}
	cfg, problems := Decode(raw, nil, nil)
	if cfg == nil {
		t.Fatalf("problems: %v", problems)
	}
	c := cfg.Components[0]
	if c.MemoryPolicy != Func(policy) || c.Health == nil || c.Health.Func != Func(health) {
		t.Fatalf("functions were not passed through as they are: %+v, health %+v", c.MemoryPolicy, c.Health)
	}
	if c.Health.Interval != DefaultHealth().Interval {
		t.Errorf("health function without the health defaults: %+v", c.Health)
	}
	// A function where a value is expected is an error in the operator's terms.
	raw.Components[0].Values["cwd"] = policy
	if _, problems := Decode(raw, nil, nil); len(problems) != 1 || problems[0].String() != `thorp.lua:4: component "a": cwd: expected a string, got a function` {
		t.Errorf("problems = %v", problems)
	}
}

// A settings value that fails validation is reported at the variable or
// flag that set it, never at a thorp.lua line it did not come from.
func TestDecode_ValidationNamesSource(t *testing.T) {
	raw := &Raw{File: "/srv/thorp.lua", Name: "thorp.lua", SettingsLine: 1, Settings: map[string]any{"http": "127.0.0.1:4000"}}
	for _, tc := range []struct {
		env       []string
		overrides map[string]any
		want      string
	}{
		{[]string{"THORP_HTTP=bad"}, nil, `THORP_HTTP: "bad" is not host:port`},
		{nil, map[string]any{"http": "bad"}, `--set http=bad: "bad" is not host:port`},
		{nil, map[string]any{"logs.retain_days": -1.0}, `--set logs.retain_days=-1: must be 0 or more, got -1`},
		{[]string{"THORP_METRICS_PUSH__LABELS__BAD-NAME=x"}, nil, `THORP_METRICS_PUSH__LABELS__BAD-NAME: `},
	} {
		_, problems := Decode(raw, tc.env, tc.overrides)
		errs := problems.Errors()
		if len(errs) != 1 || !strings.HasPrefix(errs[0].String(), tc.want) || errs[0].Line != 0 || errs[0].Source == "" {
			t.Errorf("env %q, flags %v: %v, want one error %q…", tc.env, tc.overrides, errs, tc.want)
		}
	}
	// Set in the file, the same value is at its line.
	raw.Settings = map[string]any{"http": "bad"}
	_, problems := Decode(raw, nil, nil)
	if errs := problems.Errors(); len(errs) != 1 || !strings.HasPrefix(errs[0].String(), `thorp.lua:1: http: "bad"`) {
		t.Errorf("from the file: %v", errs)
	}
}

func TestSize_Written(t *testing.T) {
	for _, tt := range []struct {
		s    Size
		text string
		want string
	}{
		{150_000_000, "150MB", "150MB (143.1 MiB)"},
		{10 << 20, "10 MiB", "10 MiB"},
		{10 << 20, "10MiB", "10MiB"},
		{150_000_000, "", "143.1 MiB"},
	} {
		if got := tt.s.Written(tt.text); got != tt.want {
			t.Errorf("Size(%d).Written(%q) = %q, want %q", tt.s, tt.text, got, tt.want)
		}
	}
	c := Component{MaxMemoryRestart: 150_000_000, MaxMemoryRestartText: "150MB", Command: Command{Argv: []string{"node", "server.js"}}}
	m := c.Map()
	if got := fmt.Sprint(m["command"]); got != "[node server.js]" {
		t.Errorf(`Map()["command"] = %s, want the argv (describe and /api/v1/components/NAME show it)`, got)
	}
	for k := range m {
		if strings.Contains(k, ",") {
			t.Errorf("Map() has key %q: a struct tag's options leaked into the key", k)
		}
	}
	if got := m["max_memory_restart"]; got != "150MB (143.1 MiB)" {
		t.Errorf(`Map()["max_memory_restart"] = %v`, got)
	}
	if got := m["logs"].(map[string]any)["max_size"]; got != nil && got != "0 B" {
		t.Errorf(`Map()["logs"]["max_size"] = %#v, want a size, never a number`, got)
	}
}

// {instance} belongs in log_file and error_file (a file per instance), not
// in a logs directory, which every instance shares.
func TestDecode_InstanceInLogPaths(t *testing.T) {
	raw := &Raw{File: "/x/thorp.lua", SettingsLine: 1, Settings: map[string]any{"logs": map[string]any{"dir": "logs/{instance}"}},
		Components: []RawComponent{
			{Name: "api", Line: 3, Values: map[string]any{"command": "true", "instances": 2.0, "log_file": "logs/api-{instance}.log", "merge_logs": true}},
			{Name: "web", Line: 7, Values: map[string]any{"command": "true", "logs": map[string]any{"dir": "{instance}"}}},
		}}
	_, problems := Decode(raw, nil, nil)
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	want := []string{
		"/x/thorp.lua:1: logs.dir: {instance} is for a component's log_file and error_file, not the logs directory",
		`/x/thorp.lua:7: component "web": logs.dir: {instance} is for a component's log_file and error_file, not the logs directory`,
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}

	raw.Settings = nil
	raw.Components = raw.Components[:1]
	cfg, problems := Decode(raw, nil, nil)
	if len(problems) != 0 {
		t.Fatalf("problems: %v", problems)
	}
	c := cfg.Components[0]
	if !c.PerInstanceLogs() || c.OutLogFor(1) != "/x/logs/api-1.log" || c.ErrLogFor(1) != "/x/logs/api-1.log" {
		t.Errorf("per-instance %v, instance 1 out %s err %s; want /x/logs/api-1.log for both (merge_logs)", c.PerInstanceLogs(), c.OutLogFor(1), c.ErrLogFor(1))
	}
}

func TestSize_SI(t *testing.T) {
	for _, tt := range []struct {
		s    Size
		want string
	}{
		{10_000_000, "10MB (9.5 MiB)"}, {1000, "1000 B"}, {10 * MiB, "10 MiB"}, {64 * KiB, "64 KiB"},
		{1_500_000, "1500KB (1.4 MiB)"}, {123, "123 B"}, {2e9, "2GB (1.9 GiB)"},
	} {
		if got := tt.s.Written(tt.s.SI()); got != tt.want {
			t.Errorf("Size(%d).Written(SI) = %q, want %q", tt.s, got, tt.want)
		}
	}
}
