package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exampleConfig copies examples/NAME/thorp.lua (and its plugins directory)
// into a temporary directory with each of its fixed ports replaced by a
// free one, so the test runs beside anything else on the machine.
func exampleConfig(t *testing.T, name string, ports ...int) string {
	t.Helper()
	cfg, _ := exampleConfigPorts(t, name, ports...)
	return cfg
}

// exampleConfigPorts is exampleConfig that also returns the free port
// each fixed one was replaced with.
func exampleConfigPorts(t *testing.T, name string, ports ...int) (string, map[int]int) {
	t.Helper()
	moved := map[int]int{}
	src, err := os.ReadFile(filepath.Join("..", "..", "examples", name, "thorp.lua"))
	if err != nil {
		t.Fatal(err)
	}
	text := string(src)
	for _, p := range ports {
		old := fmt.Sprint(p)
		if !strings.Contains(text, old) {
			t.Fatalf("examples/%s/thorp.lua has no port %d", name, p)
		}
		moved[p] = freeTCPPort(t)
		text = strings.ReplaceAll(text, old, fmt.Sprint(moved[p]))
	}
	dir := t.TempDir()
	if err := os.CopyFS(dir, os.DirFS(filepath.Join("..", "..", "examples", name))); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "thorp.lua")
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, moved
}

// The seed deployment with alerts, as examples/seed-alerts ships it: the
// leaking service behind the balancer is recycled at its limit, and the
// memory alert reaches the receiver component over a real webhook.
func TestExample_SeedAlertsRecyclesAndAlerts(t *testing.T) {
	cfg := exampleConfig(t, "seed-alerts", 9620, 9720, 9721)
	startThorp(t, cfg)
	var received string
	waitFor(t, 90*time.Second, "a memory alert at the receiver", func() bool {
		out, _, _ := thorpCmd(t, "logs", "alerts", "--lines", "200", "-c", cfg)
		for _, line := range strings.Split(out, "\n") {
			if strings.Contains(line, "received POST /alerts:") && strings.Contains(line, `"kind":"memory"`) {
				received = line
				return true
			}
		}
		return false
	})
	if !strings.Contains(received, `"component":"api"`) {
		t.Errorf("the alert does not name api: %s", received)
	}
	// The alert goes out when thorp decides to recycle; the restart is
	// counted once the replacement runs (an overlap behind the balancer).
	waitFor(t, 30*time.Second, "api recycled for memory after its alert", func() bool {
		for _, c := range status(t, cfg).Components {
			if c.Name == "api" {
				return c.RestartsByReason["memory"] > 0
			}
		}
		return false
	})
}
