package plugins

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// logLines collects what hooks log.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(level, msg, where string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, level+" "+msg+" @"+where)
}

func (l *logLines) waitFor(t *testing.T, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		l.mu.Lock()
		all := strings.Join(l.lines, "\n")
		l.mu.Unlock()
		if strings.Contains(all, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log never had %q; it has:\n%s", want, all)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func loadHooks(t *testing.T, src string, logs *logLines) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "thorp.lua")
	if err := os.WriteFile(path, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	raw, script, problems := Evaluate(path, Options{Log: logs.add})
	if script == nil {
		t.Fatalf("evaluate: %v", problems.Err())
	}
	t.Cleanup(script.Close)
	cfg, problems := config.Decode(raw, nil, nil)
	if cfg == nil {
		t.Fatalf("decode: %v", problems.Err())
	}
	return cfg
}

func TestHookRunner_CallsHooksWithTheEvent(t *testing.T) {
	logs := &logLines{}
	cfg := loadHooks(t, `
settings { http = "" }
on("restart", function(ev)
  thorp.log("info", ev.component .. " restarted for " .. ev.reason .. ", " .. ev.restarts_last_hour .. " in the last hour")
end)
on("crash", function(ev) thorp.alert("crash of " .. ev.component) end)
`, logs)
	h := NewHookRunner(logs.add)
	h.Set(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	// One restart two hours ago, ten within the last hour, then one now:
	// the last one's hook counts 11.
	now := time.Now()
	h.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: "crash", Time: now.Add(-2 * time.Hour)})
	for i := 10; i > 0; i-- {
		h.Handle(engine.Event{Type: engine.EventRestart, Component: "other", Reason: "crash", Time: now})
		h.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: "crash", Time: now.Add(-time.Duration(i) * 5 * time.Minute)})
	}
	h.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: "crash", Time: now})
	logs.waitFor(t, "info api restarted for crash, 11 in the last hour @thorp.lua:4")
	logs.waitFor(t, "alert crash of api @thorp.lua:6")
}

func TestHookRunner_AlertHooksGetKindAndFields(t *testing.T) {
	logs := &logLines{}
	cfg := loadHooks(t, `
on("alert", function(ev)
  thorp.log("info", ev.alert .. " alert for " .. ev.component .. ": " .. ev.message .. " (restarts=" .. ev.fields.restarts .. ")")
end)
on("crash", function(ev) thorp.log("info", "crash: alert " .. tostring(ev.alert) .. ", fields " .. tostring(ev.fields)) end)
`, logs)
	h := NewHookRunner(logs.add)
	h.Set(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		h.Run(ctx)
	}()
	defer func() {
		cancel()
		<-done
	}()
	h.Handle(engine.Event{Type: engine.EventAlert, Alert: "restarts", Component: "api", Message: "too many restarts",
		Fields: map[string]string{"restarts": "11"}, Time: time.Now()})
	h.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: "crash", Time: time.Now()})
	logs.waitFor(t, "info restarts alert for api: too many restarts (restarts=11) @thorp.lua:3")
	logs.waitFor(t, "info crash: alert nil, fields nil @thorp.lua:5")
}

func TestHookRunner_FailingHookIsDisabled(t *testing.T) {
	logs := &logLines{}
	cfg := loadHooks(t, `
settings { http = "", plugins = { max_failures = 2 } }
on("stop", function(ev) error("boom") end)
`, logs)
	h := NewHookRunner(logs.add)
	h.Set(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	for range 3 {
		h.Handle(engine.Event{Type: engine.EventStopped, Component: "api", Time: time.Now()})
	}
	logs.waitFor(t, `on("stop") hook disabled after 2 failures in a row`)
	logs.mu.Lock()
	defer logs.mu.Unlock()
	failed := 0
	for _, l := range logs.lines {
		if strings.Contains(l, "hook failed") {
			failed++
		}
	}
	if failed != 2 {
		t.Fatalf("%d failures logged, want 2 (the third call must not happen):\n%s", failed, strings.Join(logs.lines, "\n"))
	}
}

func TestHookRunner_SlowHookDoesNotBlock(t *testing.T) {
	logs := &logLines{}
	cfg := loadHooks(t, `
settings { http = "", plugins = { timeout = "50ms" } }
on("start", function(ev) while true do end end)
`, logs)
	h := NewHookRunner(logs.add)
	h.Set(cfg, nil)
	// Without Run nothing drains the queue: Handle must still return.
	done := make(chan struct{})
	go func() {
		for range hookQueue + 10 {
			h.Handle(engine.Event{Type: engine.EventSpawn})
		}
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Handle blocked")
	}
	var m strings.Builder
	h.WriteMetrics(&m)
	if !strings.Contains(m.String(), "\nthorp_hook_events_dropped_total 10\n") {
		t.Fatalf("want 10 dropped in the metrics:\n%s", m.String())
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go h.Run(ctx)
	logs.waitFor(t, "hook failed")
	waitMetric := func(want string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			m.Reset()
			h.WriteMetrics(&m)
			if strings.Contains(m.String(), want) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("metrics never had %q:\n%s", want, m.String())
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	waitMetric(`thorp_hook_calls_total{outcome="failed"} 1` + "\n")
}
