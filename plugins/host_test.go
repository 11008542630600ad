package plugins

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// fakeHost records what the thorp module asks of the running thorp.
type fakeHost struct {
	mu     sync.Mutex
	calls  []string
	alerts []engine.Event
	status engine.Status
	err    error // returned by every call
}

func (h *fakeHost) record(format string, args ...any) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.calls = append(h.calls, fmt.Sprintf(format, args...))
	return h.err
}

func (h *fakeHost) Status(name string) (engine.Status, error) {
	if err := h.record("status %s", name); err != nil {
		return engine.Status{}, err
	}
	return h.status, nil
}

func (h *fakeHost) Restart(ctx context.Context, name, why string) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return h.record("restart %s (%s)", name, why)
}

func (h *fakeHost) Signal(_ context.Context, name string, sig syscall.Signal) error {
	return h.record("signal %s %s", name, config.Signal(sig))
}

func (h *fakeHost) Start(_ context.Context, name string) error { return h.record("start %s", name) }

func (h *fakeHost) Stop(_ context.Context, name string) error { return h.record("stop %s", name) }

func (h *fakeHost) Alert(ev engine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.alerts = append(h.alerts, ev)
}

func (h *fakeHost) recorded() ([]string, []engine.Event) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.calls...), append([]engine.Event(nil), h.alerts...)
}

// evaluateWith evaluates src as a thorp.lua with opts and returns what it
// declared; the Script is closed when the test ends.
func evaluateWith(t *testing.T, src string, opts Options) (*config.Raw, *Script) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "thorp.lua")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, script, problems := Evaluate(path, opts)
	if script == nil {
		t.Fatalf("evaluate: %v", problems.Err())
	}
	t.Cleanup(script.Close)
	return raw, script
}

// callHook calls the n-th on() hook of raw with an empty event.
func callHook(t *testing.T, raw *config.Raw, n int) (any, error) {
	t.Helper()
	return raw.Hooks[n].Func.Call(t.Context(), nil, 2*time.Second)
}

func TestHost_Status_ReturnsTheComponentsFields(t *testing.T) {
	host := &fakeHost{status: engine.Status{
		Name: "api", State: engine.StateRunning, PID: 42, Restarts: 3,
		RestartsByReason: map[string]int{"crash": 2, "memory": 1}, LastRestartReason: "memory",
		MemoryBytes: 150 << 20, MemoryLimitBytes: 200 << 20, MemoryGrowthBytesPerHour: 1024,
		MemoryTimeToLimitSeconds: 3600, CPUPercent: 12.5, UptimeSeconds: 90, Healthy: true,
		LastExit:  &engine.ExitInfo{Code: -1, Signal: "SIGKILL", Time: time.Unix(1700000000, 0)},
		Instances: []engine.InstanceStatus{{Index: 0, PID: 42, State: engine.StateRunning, MemoryBytes: 150 << 20, UptimeSeconds: 90, Restarts: 3, CPUPercent: 12.5}},
	}}
	raw, _ := evaluateWith(t, `on("start", function() return thorp.status("api") end)`, Options{Host: host})
	got, err := callHook(t, raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "api", "state": "running", "pid": 42.0, "restarts": 3.0,
		"restarts_by_reason":  map[string]any{"crash": 2.0, "memory": 1.0},
		"last_restart_reason": "memory",
		"memory":              float64(150 << 20), "memory_limit": float64(200 << 20),
		"memory_growth_per_hour": 1024.0, "memory_time_to_limit": 3600.0,
		"cpu_percent": 12.5, "uptime": 90.0, "healthy": true, "message": "",
		"last_exit": map[string]any{"code": -1.0, "signal": "SIGKILL", "time": 1700000000.0},
		"instances": []any{map[string]any{
			"index": 0.0, "state": "running", "pid": 42.0, "memory": float64(150 << 20),
			"uptime": 90.0, "restarts": 3.0, "cpu_percent": 12.5,
		}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("thorp.status =\n%v\nwant\n%v", got, want)
	}
	if calls, _ := host.recorded(); !reflect.DeepEqual(calls, []string{"status api"}) {
		t.Errorf("host calls = %q", calls)
	}
}

func TestHost_Acts_WithTheGivenArguments(t *testing.T) {
	host := &fakeHost{}
	raw, _ := evaluateWith(t, `
on("crash", function(ev)
  thorp.restart("web", "crash of api")
  thorp.restart("@http")
  thorp.signal("web", "HUP")
  thorp.signal("web", "SIGUSR1")
  thorp.signal("web", 10)
  thorp.start("worker")
  thorp.stop("worker")
end)`, Options{Host: host})
	if _, err := callHook(t, raw, 0); err != nil {
		t.Fatal(err)
	}
	want := []string{
		"restart web (crash of api)",
		"restart @http (requested by a hook)",
		"signal web SIGHUP",
		"signal web SIGUSR1",
		"signal web SIGUSR1",
		"start worker",
		"stop worker",
	}
	if calls, _ := host.recorded(); !reflect.DeepEqual(calls, want) {
		t.Errorf("host calls =\n%q\nwant\n%q", calls, want)
	}
}

func TestHost_Errors_AreLuaErrorsAtTheLine(t *testing.T) {
	host := &fakeHost{err: fmt.Errorf("%w %q; known: api, web", engine.ErrUnknownComponent, "nope")}
	raw, _ := evaluateWith(t, `
on("crash", function() thorp.restart("nope") end)
on("crash", function() thorp.status("nope") end)
on("crash", function() thorp.signal("web", "NOPE") end)
on("crash", function() thorp.signal("web") end)
on("crash", function() local ok, err = pcall(thorp.stop, "nope"); return err end)
`, Options{Host: host})
	for i, want := range []string{
		`thorp.lua:2: thorp.restart: unknown component "nope"; known: api, web`,
		`thorp.lua:3: thorp.status: unknown component "nope"`,
		`thorp.lua:4: thorp.signal: "NOPE" is not a signal`,
		`thorp.lua:5: thorp.signal needs a component name and a signal`,
	} {
		if _, err := callHook(t, raw, i); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("hook %d: err = %v, want %q", i, err, want)
		}
	}
	got, err := callHook(t, raw, 4)
	if err != nil || !strings.Contains(fmt.Sprint(got), `thorp.stop: unknown component "nope"`) {
		t.Errorf("pcall(thorp.stop) = %v, %v; want the error as a value", got, err)
	}
}

func TestHost_WithoutHost_RaisesErrors(t *testing.T) {
	raw, _ := evaluateWith(t, `
on("crash", function() thorp.restart("web") end)
on("crash", function() thorp.status("web") end)
on("crash", function() thorp.alert("still logs") end)
`, Options{})
	for i, want := range []string{
		"thorp.lua:2: thorp.restart works only while thorp runs (from hooks, timers and functions thorp calls later)",
		"thorp.lua:3: thorp.status works only while thorp runs",
	} {
		if _, err := callHook(t, raw, i); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("hook %d: err = %v, want %q", i, err, want)
		}
	}
	if _, err := callHook(t, raw, 2); err != nil {
		t.Errorf("thorp.alert without a host: %v", err)
	}
}

func TestHost_AtTheTopLevel_IsACheckError(t *testing.T) {
	for _, host := range []Host{nil, &fakeHost{}} {
		path := filepath.Join(t.TempDir(), "thorp.lua")
		if err := os.WriteFile(path, []byte("settings { http = \"\" }\nthorp.restart(\"web\")\n"), 0o644); err != nil {
			t.Fatal(err)
		}
		_, script, problems := Evaluate(path, Options{Host: host})
		if script != nil {
			script.Close()
			t.Fatal("a thorp.restart at the top level was accepted")
		}
		if err := problems.Err(); err == nil || !strings.Contains(err.Error(), "thorp.lua:2: thorp.restart") {
			t.Errorf("host %v: problems = %v", host, err)
		}
	}
}

func TestHost_FromAProbe_ActingIsRefused(t *testing.T) {
	host := &fakeHost{status: engine.Status{Name: "web", State: engine.StateRunning}}
	raw, _ := evaluateWith(t, `
component "web" {
  command = "sleep 100",
  health = function() thorp.restart("web") end,
  ready = function() return thorp.status("web").state == "running" end,
}`, Options{Host: host})
	health := raw.Components[0].Values["health"].(config.Func)
	if _, err := health.Call(t.Context(), nil, time.Second); err == nil || !strings.Contains(err.Error(), "thorp.restart works only in hooks and timers") {
		t.Errorf("thorp.restart from health: err = %v", err)
	}
	ready := raw.Components[0].Values["ready"].(config.Func)
	if got, err := ready.Call(t.Context(), nil, time.Second); err != nil || got != true {
		t.Errorf("thorp.status from ready = %v, %v; want true", got, err)
	}
	if calls, _ := host.recorded(); !reflect.DeepEqual(calls, []string{"status web"}) {
		t.Errorf("host calls = %q", calls)
	}
}

func TestHost_Alert_RaisesAnEventWithItsFields(t *testing.T) {
	host := &fakeHost{}
	logs := &logLines{}
	raw, _ := evaluateWith(t, `
thorp.alert("loading")
on("crash", function(ev)
  thorp.alert("disk full", { component = "db", used = 97, instance = 1, ok = false })
  thorp.alert("plain")
end)`, Options{Host: host, Log: logs.add})
	if _, err := callHook(t, raw, 0); err != nil {
		t.Fatal(err)
	}
	_, alerts := host.recorded()
	for i := range alerts {
		alerts[i].Time = time.Time{}
	}
	want := []engine.Event{
		{Type: engine.EventAlert, Alert: "lua", Component: "db", Instance: 1, Message: "disk full",
			Fields: map[string]string{"component": "db", "used": "97", "instance": "1", "ok": "false"}},
		{Type: engine.EventAlert, Alert: "lua", Message: "plain"},
	}
	if !reflect.DeepEqual(alerts, want) {
		t.Errorf("alerts =\n%+v\nwant\n%+v", alerts, want)
	}
	logs.waitFor(t, "alert loading @thorp.lua:2")
	logs.waitFor(t, "alert disk full @thorp.lua:4")
	logs.waitFor(t, "alert plain @thorp.lua:5")

	raw, _ = evaluateWith(t, `on("crash", function() thorp.alert("x", "not a table") end)`, Options{Host: host})
	if _, err := callHook(t, raw, 0); err == nil || !strings.Contains(err.Error(), "thorp.alert's fields must be a table") {
		t.Errorf("bad fields: err = %v", err)
	}
}

func TestLog_LevelsAndOneArgument(t *testing.T) {
	logs := &logLines{}
	raw, _ := evaluateWith(t, `
thorp.log("just a message")
thorp.log("WARN", "careful")
thorp.log("debug", 42)
on("crash", function() thorp.log("verbose", "x") end)
`, Options{Log: logs.add})
	logs.waitFor(t, "info just a message @thorp.lua:2")
	logs.waitFor(t, "warn careful @thorp.lua:3")
	logs.waitFor(t, "debug 42 @thorp.lua:4")
	_, err := callHook(t, raw, 0)
	if err == nil || !strings.Contains(err.Error(), `thorp.lua:5: thorp.log: unknown level "verbose"; use one of debug, info, warn, error`) {
		t.Errorf("unknown level: err = %v", err)
	}
	if errors.Is(err, ErrOverrun) {
		t.Errorf("a bad level is not an overrun: %v", err)
	}
}
