package web

import (
	"context"
	"encoding/json"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
)

// startSupervisor runs a real Supervisor with one sleeping component.
func startSupervisor(t *testing.T, name string) *engine.Supervisor {
	t.Helper()
	return runSupervisor(t, name)
}

// runSupervisor runs a real Supervisor with one component per name, each a
// shell that execs sleep, until the test or benchmark ends.
func runSupervisor(tb testing.TB, names ...string) *engine.Supervisor {
	tb.Helper()
	dir := tb.TempDir()
	cfg := &config.Config{File: filepath.Join(dir, "thorp.lua"), Dir: dir, Settings: config.Defaults()}
	for _, name := range names {
		c := config.DefaultComponent()
		c.Name = name
		c.Command = config.Command{Argv: []string{"/bin/sh", "-c", "exec sleep 100"}, Shell: true}
		c.Cwd = dir
		c.Logs = config.Defaults().Logs
		c.Logs.Dir = filepath.Join(dir, "logs")
		c.RestartDelay = 0
		c.KillTimeout = 2 * time.Second
		cfg.Components = append(cfg.Components, c)
	}
	sup, err := engine.New(cfg, engine.Options{})
	if err != nil {
		tb.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = sup.Run(ctx)
	}()
	tb.Cleanup(func() {
		cancel()
		select {
		case <-done:
			if err := sup.Close(); err != nil {
				tb.Error(err)
			}
		case <-time.After(30 * time.Second):
			tb.Error("supervisor did not shut down within 30s")
		}
	})
	<-sup.Started()
	return sup
}

func TestServer_Integration_Supervisor(t *testing.T) {
	sup := startSupervisor(t, "sleeper")
	h := api.NewHandler(sup, api.Info{}, true)
	_, base := startServer(t, sup, Options{API: h, Token: "tok"})

	var comp componentHealth
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body, _ := do(t, "GET", base+"/health", nil)
		var rep healthReport
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		if len(rep.Components) == 1 {
			comp = rep.Components[0]
		}
		if code == 200 && rep.Status == StatusHealthy && comp.State == engine.StateRunning && comp.PID > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("component never showed running with a pid: %d %s", code, body)
		}
		ch := sup.WaitEvent()
		select {
		case <-ch:
		case <-time.After(100 * time.Millisecond): // uptime/state snapshots may change without an event
		}
	}
	if comp.Name != "sleeper" {
		t.Errorf("component %+v", comp)
	}
	code, body, _ := do(t, "GET", base+"/health/sleeper", nil)
	if code != 200 || !strings.Contains(string(body), `"pid": `) {
		t.Errorf("/health/sleeper: %d %s", code, body)
	}
	if code, _, _ := do(t, "GET", base+"/health/absent", nil); code != http.StatusNotFound {
		t.Errorf("/health/absent: %d, want 404", code)
	}
	text, samples := scrape(t, base)
	if s := find(samples, "thorp_component_up", map[string]string{"component": "sleeper"}); len(s) != 1 || s[0].value != 1 {
		t.Errorf("thorp_component_up: %v\n%s", s, text)
	}
	if code, body, _ := do(t, "GET", base+"/api/v1/components/sleeper", nil); code != 200 || !strings.Contains(string(body), `"sleeper"`) {
		t.Errorf("GET /api/v1/components/sleeper: %d %s", code, body)
	}
	if code, _, _ := do(t, "POST", base+"/api/v1/components/sleeper/stop", nil); code != http.StatusUnauthorized {
		t.Errorf("stop without token: %d, want 401", code)
	}
	code, body, _ = do(t, "POST", base+"/api/v1/components/sleeper/stop", nil, "Authorization", "Bearer tok")
	if code != 200 {
		t.Fatalf("stop with token: %d %s", code, body)
	}
	code, body, _ = do(t, "GET", base+"/health", nil)
	if code != 200 || !strings.Contains(string(body), `"state": "stopped"`) {
		t.Errorf("after stop: %d %s; want healthy with the component stopped", code, body)
	}
}
