package plugins

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

// timerSettings bound timer calls in these tests.
var timerSettings = config.PluginSettings{Timeout: time.Second, MaxFailures: 2}

// count returns how many logged lines contain s.
func (l *logLines) count(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.lines {
		if strings.Contains(line, s) {
			n++
		}
	}
	return n
}

// waitCount waits until n logged lines contain s.
func (l *logLines) waitCount(t *testing.T, s string, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for l.count(s) < n {
		if time.Now().After(deadline) {
			t.Fatalf("log had %d lines with %q, want %d", l.count(s), s, n)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// ticking evaluates a thorp.lua whose timer logs "tick N" every 100 ms and
// starts it: a clock for the tests that something did not happen.
func ticking(t *testing.T) *logLines {
	t.Helper()
	logs := &logLines{}
	_, s := evaluateWith(t, `local n = 0
thorp.every("100ms", function() n = n + 1; thorp.log("tick " .. n) end)`, Options{Log: logs.add})
	s.startTimers(timerSettings)
	return logs
}

func TestTimers_EveryFiresRepeatedly_AfterOnce(t *testing.T) {
	logs := &logLines{}
	_, s := evaluateWith(t, `
local n = 0
thorp.every("100ms", function() n = n + 1; thorp.log("every " .. n) end)
thorp.after(0.1, function() thorp.log("after") end)
`, Options{Log: logs.add})
	s.startTimers(timerSettings)
	logs.waitFor(t, "info every 4 @thorp.lua:3")
	if n := logs.count("info after @thorp.lua:4"); n != 1 {
		t.Errorf("thorp.after fired %d times, want once", n)
	}
}

func TestTimers_Cancel(t *testing.T) {
	logs := &logLines{}
	_, s := evaluateWith(t, `
local c, t = 0, nil
t = thorp.every("100ms", function()
  c = c + 1
  thorp.log("c " .. c)
  if c == 2 then t:cancel(); t:cancel() end
end)
local late = thorp.after("100ms", function() thorp.log("cancelled after fired") end)
late:cancel()
on("crash", function() thorp.every("100ms", function() thorp.log("from a hook") end):cancel() end)
`, Options{Log: logs.add})
	s.startTimers(timerSettings)
	clock := ticking(t)
	logs.waitFor(t, "c 2")
	clock.waitFor(t, "tick 5")
	for _, never := range []string{"c 3", "cancelled after fired", "from a hook"} {
		if logs.count(never) > 0 {
			t.Errorf("a cancelled timer fired: %q", never)
		}
	}
}

func TestTimers_FromAHook_Fire(t *testing.T) {
	logs := &logLines{}
	raw, s := evaluateWith(t, `
on("crash", function(ev) thorp.after("100ms", function() thorp.log("later, for " .. ev.component) end) end)
`, Options{Log: logs.add})
	s.startTimers(timerSettings)
	if _, err := raw.Hooks[0].Func.Call(t.Context(), map[string]any{"component": "api"}, time.Second); err != nil {
		t.Fatal(err)
	}
	logs.waitFor(t, "info later, for api @thorp.lua:2")
}

func TestTimers_StopWhenTheScriptCloses(t *testing.T) {
	logs := &logLines{}
	_, s := evaluateWith(t, `thorp.every("100ms", function() thorp.log("closed script tick") end)`, Options{Log: logs.add})
	s.startTimers(timerSettings)
	logs.waitFor(t, "closed script tick")
	s.Close()
	before := logs.count("closed script tick")
	ticking(t).waitFor(t, "tick 4")
	if after := logs.count("closed script tick"); after != before {
		t.Errorf("a closed Script's timer fired %d more times", after-before)
	}
}

func TestTimers_StopWhenAReloadInstallsNewHooks(t *testing.T) {
	logs := &logLines{}
	load := func(name string) (*config.Config, *Script) {
		raw, s := evaluateWith(t, `
thorp.every("100ms", function() thorp.log("`+name+` tick") end)
on("crash", function() thorp.every("1s", function() end) end)`, Options{Log: logs.add})
		cfg, problems := config.Decode(raw, nil, nil)
		if cfg == nil {
			t.Fatal(problems.Err())
		}
		return cfg, s
	}
	h := NewHookRunner(logs.add)
	oldCfg, old := load("old")
	h.Set(oldCfg, old)
	logs.waitFor(t, "old tick")
	newCfg, next := load("new")
	h.Set(newCfg, next)
	select {
	case <-old.states[roleHook].timersDone: // from here no old timer fires
	case <-time.After(5 * time.Second):
		t.Fatal("the old config's timers were not stopped by the reload")
	}
	before := logs.count("old tick")
	logs.waitCount(t, "new tick", 4)
	if after := logs.count("old tick"); after != before {
		t.Errorf("the old config's timer fired %d times after the reload", after-before)
	}
	// A hook of the old config still running cannot arm a timer there.
	_, err := oldCfg.Hooks[0].Func.Call(t.Context(), nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "thorp.lua:3: thorp.every: this config's timers were stopped") {
		t.Errorf("arming in a replaced config: err = %v", err)
	}
}

func TestTimers_Failing_IsLoggedAtItsLine_ThenDisabled(t *testing.T) {
	logs := &logLines{}
	_, s := evaluateWith(t, `settings { http = "" }

thorp.every("100ms", function()
  error("boom")
end)
`, Options{Log: logs.add})
	s.startTimers(timerSettings)
	logs.waitFor(t, "warn thorp.every timer failed (1 in a row): function at thorp.lua:3 failed: thorp.lua:4: boom @thorp.lua:3")
	logs.waitFor(t, "error thorp.every timer disabled after 2 failures in a row; fix it and reload the config @thorp.lua:3")
	ticking(t).waitFor(t, "tick 4")
	if n := logs.count("timer failed"); n != 2 {
		t.Errorf("the timer failed %d times, want 2 (then disabled)", n)
	}
}

func TestTimers_Overrun_DisablesIt_AcrossTheFreshState(t *testing.T) {
	logs := &logLines{}
	_, s := evaluateWith(t, `thorp.every("100ms", function() thorp.log("spin"); while true do end end)`, Options{Log: logs.add})
	s.startTimers(config.PluginSettings{Timeout: 200 * time.Millisecond, MaxFailures: 5})
	logs.waitFor(t, "error thorp.every timer disabled: it overran its limit")
	logs.waitFor(t, "Lua state for hooks replaced by a fresh evaluation")
	ticking(t).waitFor(t, "tick 5")
	if n := logs.count("spin"); n != 1 {
		t.Errorf("the overrunning timer ran %d times, want once", n)
	}
}

func TestTimers_NeverInTheProbeState_NorBeforeStart(t *testing.T) {
	logs := &logLines{}
	raw, s := evaluateWith(t, `
ticks = 0
thorp.every("100ms", function() ticks = ticks + 1; thorp.log("ticked " .. ticks) end)
component "web" {
  command = "sleep 100",
  health = function() return ticks end,
  ready = function() thorp.every("1s", function() end) end,
}`, Options{Log: logs.add})
	unstarted := &logLines{}
	evaluateWith(t, `thorp.every("100ms", function() thorp.log("unstarted") end)`, Options{Log: unstarted.add})

	s.startTimers(timerSettings)
	logs.waitFor(t, "ticked 3")
	health := raw.Components[0].Values["health"].(config.Func)
	if got, err := health.Call(t.Context(), nil, time.Second); err != nil || got != 0.0 {
		t.Errorf("ticks in the probe state = %v, %v; want 0 (timers run in the hooks' state only)", got, err)
	}
	ready := raw.Components[0].Values["ready"].(config.Func)
	if _, err := ready.Call(t.Context(), nil, time.Second); err == nil || !strings.Contains(err.Error(), "thorp.every works only in hooks and timers") {
		t.Errorf("thorp.every from ready: err = %v", err)
	}
	if n := unstarted.count("unstarted"); n != 0 {
		t.Errorf("timers of a Script never started (thorp check) fired %d times", n)
	}
}

func TestTimers_BadArguments_AreCheckErrors(t *testing.T) {
	for src, want := range map[string]string{
		`thorp.every("50ms", function() end)`:                      `thorp.lua:1: thorp.every: 50ms is shorter than the minimum of 100ms`,
		`thorp.after("soon", function() end)`:                      `thorp.lua:1: thorp.after: "soon" is not a duration`,
		`thorp.every("1s")`:                                        `thorp.lua:1: thorp.every needs a duration and a function: thorp.every("30s", function() … end), got a nil for the function`,
		`thorp.every(nil, function() end)`:                         `got a nil for the duration`,
		`thorp.every(-1, function() end)`:                          `is negative`,
		`local t = thorp.every(1, print); t:cancel(); t.cancel(t)`: "",
	} {
		path := filepath.Join(t.TempDir(), "thorp.lua")
		if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		_, script, problems := Evaluate(path, Options{})
		if script != nil {
			script.Close()
		}
		err := problems.Err()
		switch {
		case want == "" && err != nil:
			t.Errorf("%s: %v", src, err)
		case want != "" && (err == nil || !strings.Contains(err.Error(), want)):
			t.Errorf("%s: problems = %v, want %q", src, err, want)
		}
	}
}

func TestTimers_WaitOnTheWorld_PastTheirTimeLimit(t *testing.T) {
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select { // a slow receiver: twice the timers' limit
		case <-time.After(400 * time.Millisecond):
		case <-r.Context().Done():
		}
		fmt.Fprint(w, "late")
	}))
	defer slow.Close()
	logs := &logLines{}
	_, s := evaluateWith(t, fmt.Sprintf(`
thorp.after("100ms", function()
  local r = thorp.http{ url = %q, timeout = "2s" }
  thorp.log("got " .. r.status .. " " .. r.body)
end)`, slow.URL), Options{Log: logs.add})
	s.startTimers(config.PluginSettings{Timeout: 200 * time.Millisecond, MaxFailures: 1})
	logs.waitFor(t, "info got 200 late @thorp.lua:4")
	if n := logs.count("timer failed"); n != 0 {
		t.Errorf("a timer waiting on thorp.http within its own timeout failed: %v", logs.lines)
	}
}
