package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadConfig_ReorderedFunctionsStayBound reloads a config whose
// functions are registered in the opposite order while both components'
// health checks run. Every function is defined where it was, so nothing
// changed and nothing restarts; each running check must go on calling its
// own function (when functions were positions, a's check called b's).
func TestReloadConfig_ReorderedFunctionsStayBound(t *testing.T) {
	head := `settings { http = "" }
local function health_a(ev) thorp.log("info", "health_a for " .. ev.component) return true end
local function health_b(ev) thorp.log("info", "health_b for " .. ev.component) return true end
`
	a := `component "a" { command = { "sleep", "1000" }, health = health_a }` + "\n"
	b := `component "b" { command = { "sleep", "1000" }, health = health_b }` + "\n"
	cfg := writeConfig(t, head+a+b)
	startThorp(t, cfg)
	logPath := filepath.Join(filepath.Dir(cfg), "logs", "thorp.log")
	since := func(off int) string {
		data, _ := os.ReadFile(logPath)
		return string(data[min(off, len(data)):])
	}
	bothChecked := func(off int) func() bool {
		return func() bool {
			l := since(off)
			return strings.Contains(l, "health_a for a") && strings.Contains(l, "health_b for b")
		}
	}
	waitFor(t, 20*time.Second, "both health checks", bothChecked(0))
	pids := map[string]int{}
	for _, c := range status(t, cfg).Components {
		pids[c.Name] = c.PID
	}

	if err := os.WriteFile(cfg, []byte(head+b+a), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg)
	if code != 0 || !strings.Contains(out, "0 restarted, 0 updated in place, 2 unchanged") {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
	data, _ := os.ReadFile(logPath)
	mark := len(data)
	waitFor(t, 20*time.Second, "both health checks after the reload", bothChecked(mark))
	if l := since(mark); strings.Contains(l, "health_b for a") || strings.Contains(l, "health_a for b") ||
		strings.Contains(l, "health check failed") {
		t.Fatalf("a check called another component's function or failed after the reload:\n%s", l)
	}
	for _, c := range status(t, cfg).Components {
		if c.PID != pids[c.Name] || c.State != "running" {
			t.Fatalf("%s: pid %d -> %d, state %s: an unchanged component was touched", c.Name, pids[c.Name], c.PID, c.State)
		}
	}
}

// TestReloadConfig_ChangedFunctionTextIsAChange reloads a config in which
// only the text of a health function changed, on the same line: the
// component must be reported updated, not unchanged.
func TestReloadConfig_ChangedFunctionTextIsAChange(t *testing.T) {
	body := `settings { http = "" }
local function check() return %s end
component "a" { command = { "sleep", "1000" }, health = check }
`
	cfg := writeConfig(t, strings.Replace(body, "%s", "true", 1))
	startThorpRunning(t, cfg)
	if err := os.WriteFile(cfg, []byte(strings.Replace(body, "%s", "1 == 1", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg)
	if code != 0 || !strings.Contains(out, "1 updated in place, 0 unchanged") {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
}
