package plugins

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

// TestHookRunner_SlowWebhookUnderTheDefaultLimit: a hook posting to a
// webhook that answers after 1s succeeds under the 200ms default limit,
// and is neither failed nor disabled.
func TestHookRunner_SlowWebhookUnderTheDefaultLimit(t *testing.T) {
	got := make(chan string, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(time.Second): // the slow webhook
		case <-r.Context().Done():
			return
		}
		got <- r.Method
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	logs := &logLines{}
	cfg := loadHooks(t, `
settings { http = "" }
on("crash", function(ev)
  local r = thorp.http{ method = "POST", url = "`+srv.URL+`", json = { component = ev.component } }
  thorp.log("info", "webhook answered " .. r.status .. " " .. r.body)
end)
`, logs)
	if cfg.Settings.Plugins.Timeout != 200*time.Millisecond {
		t.Fatalf("plugins.timeout = %s, want the 200ms default", cfg.Settings.Plugins.Timeout)
	}
	h := NewHookRunner(logs.add)
	h.Set(cfg, nil)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // owner: this test, which waits for it
		defer close(done)
		h.Run(ctx)
	}()
	defer func() { cancel(); <-done }()
	for range 2 {
		h.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: "crash", Time: time.Now()})
	}
	for range 2 {
		select {
		case m := <-got:
			if m != "POST" {
				t.Fatalf("webhook got %s", m)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("the webhook never got the hook's POST")
		}
		logs.waitFor(t, "info webhook answered 200 ok @thorp.lua:5")
	}
	logs.mu.Lock()
	defer logs.mu.Unlock()
	if all := strings.Join(logs.lines, "\n"); strings.Contains(all, "failed") || strings.Contains(all, "disabled") {
		t.Fatalf("the hook failed:\n%s", all)
	}
}
