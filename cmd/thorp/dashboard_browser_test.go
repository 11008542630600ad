package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/thorp-dev/thorp/engine"
)

// TestDashboard_InABrowser opens the dashboard of a live `thorp run` in
// headless Chromium: a component that leaks past its limit (two instances,
// recycled every few seconds) and a steady one, with a token.
func TestDashboard_InABrowser(t *testing.T) {
	port := freeTCPPort(t)
	const token = "browser-test-token-3f9c2a7d"
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "127.0.0.1:%d", token = %q }
component "leaky" {
  command = { %q, "simulate", "leak", "--rate", "20MB/s" },
  instances = 2,
  max_memory_restart = "60MB",
}
component "steady" { command = { "sleep", "1000" } }
`, port, token, thorpBin))
	b := newBrowser(t)
	startThorpRunning(t, cfg)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	shots := t.TempDir()

	// The page loads and renders, with no console error.
	wide := b.newTab("1280x800", 1280, 800, false)
	wide.do(30*time.Second, "loading "+url, chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("table#components")))

	// A memory recycle, seen on the API.
	recycle := waitEvent(t, port, "leaky", 60*time.Second, func(ev engine.Event) bool {
		return ev.Type == engine.EventRestart && ev.Reason == "memory"
	})
	t.Logf("recycled: leaky[%d] %s", recycle.Instance, recycle.Message)
	wide.screenshot(shots, "dashboard")

	// A page opened after the recycle, phone-sized.
	phone := b.newTab("390x844", 390, 844, true)
	phone.do(30*time.Second, "loading "+url, chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS("table#components")))
	phone.screenshot(shots, "dashboard")

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", joinLines(errs))
	}
}

// waitEvent follows component's events on thorp's HTTP API until one
// matches, and returns it.
func waitEvent(t *testing.T, port int, component string, timeout time.Duration, match func(engine.Event) bool) engine.Event {
	t.Helper()
	client := &http.Client{Timeout: 40 * time.Second}
	deadline := time.Now().Add(timeout)
	var since uint64
	for time.Now().Before(deadline) {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/api/v1/events?component=%s&since=%d&wait=30s", port, component, since))
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			Events []engine.Event `json:"events"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range out.Events {
			if match(ev) {
				return ev
			}
			since = ev.Seq
		}
	}
	t.Fatalf("no matching event of %s within %s", component, timeout)
	return engine.Event{}
}

// joinLines is lines, one a line.
func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}
