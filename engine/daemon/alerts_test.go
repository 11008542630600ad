package daemon

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/alert"
	"github.com/thorp-dev/thorp/engine/config"
)

// A reload's settings.alerts apply to the alerts raised from then on; the
// rule's alert is an event, reaches the webhook and counts in /metrics.
func TestDaemon_AlertsFollowReload(t *testing.T) {
	got := make(chan alert.Payload, 10)
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p alert.Payload
		if err := json.NewDecoder(r.Body).Decode(&p); err == nil {
			got <- p
		}
	}))
	t.Cleanup(rcv.Close)
	dir := t.TempDir()
	first := testConfig(dir, component(t, dir, "a", "exec sleep 100"))
	next := make(chan Load, 1)
	r := startDaemon(t, first, func() Load { return <-next })

	doomed := component(t, dir, "doomed", "exit 1")
	doomed.MinUptime, doomed.MaxRestarts = 10*time.Second, 1
	cfg := testConfig(dir, component(t, dir, "a", "exec sleep 100"), doomed)
	cfg.Settings.Alerts.Webhook = rcv.URL
	cfg.Settings.Alerts.On = []string{config.AlertErrored}
	next <- Load{Config: cfg}
	if _, problems, err := r.d.Reload(context.Background()); err != nil || problems.Err() != nil {
		t.Fatalf("reload: %v %v", problems, err)
	}
	select {
	case p := <-got:
		if p.Kind != "errored" || p.Component != "doomed" {
			t.Fatalf("alert %+v", p)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("no alert reached the webhook within 15s")
	}
	var alerts []engine.Event
	for _, ev := range r.d.Supervisor().Events(0, "doomed", time.Time{}) {
		if ev.Type == engine.EventAlert {
			alerts = append(alerts, ev)
		}
	}
	if len(alerts) != 1 || alerts[0].Alert != "errored" {
		t.Fatalf("alert events %+v", alerts)
	}
	scrape := func() string {
		resp, err := http.Get("http://" + r.d.web.Addr() + "/metrics")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return string(b)
	}
	// The count follows the webhook's answer by a moment.
	const want = `thorp_alerts_total{kind="errored",outcome="sent"} 1`
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(scrape(), want); {
		if time.Now().After(deadline) {
			t.Fatalf("/metrics lacks %s:\n%s", want, scrape())
		}
		time.Sleep(20 * time.Millisecond)
	}
}
