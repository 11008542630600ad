package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/alert"
)

// alertReceiver is a loopback webhook: it answers with answers in turn
// (then the last one, or after a delay), and keeps what it got.
type alertReceiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	delay   time.Duration
	got     []receivedAlert
}

// receivedAlert is one request to the receiver.
type receivedAlert struct {
	body []byte
	at   time.Time
	code int // what the receiver answered
}

func newAlertReceiver(t *testing.T, delay time.Duration, answers ...int) *alertReceiver {
	r := &alertReceiver{answers: answers, delay: delay}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		code := r.answers[min(len(r.got), len(r.answers)-1)]
		r.got = append(r.got, receivedAlert{body: b, at: time.Now(), code: code})
		r.mu.Unlock()
		if r.delay > 0 {
			select {
			case <-time.After(r.delay):
			case <-req.Context().Done():
			}
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

// requests returns what the receiver got so far.
func (r *alertReceiver) requests() []receivedAlert {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.got)
}

// accepted returns the payloads the receiver answered 2xx.
func (r *alertReceiver) accepted(t *testing.T) []alert.Payload {
	t.Helper()
	var out []alert.Payload
	for _, g := range r.requests() {
		if g.code/100 != 2 {
			continue
		}
		var p alert.Payload
		if err := json.Unmarshal(g.body, &p); err != nil {
			t.Fatalf("alert body %q: %v", g.body, err)
		}
		out = append(out, p)
	}
	return out
}

// apiEvents returns the stored events of component (all, for "") from
// thorp's HTTP API.
func apiEvents(t testing.TB, port int, component string) []engine.Event {
	t.Helper()
	path := "/api/v1/events"
	if component != "" {
		path += "?component=" + component
	}
	var out struct {
		Events []engine.Event `json:"events"`
	}
	apiGet(t, port, path, &out)
	return out.Events
}

// metricsText returns thorp's /metrics.
func metricsText(t testing.TB, port int) string {
	t.Helper()
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// The seed's rule, "more than 10 restarts in an hour", from settings.alerts
// alone: the alert goes out once, after the 11th restart and not before,
// and a receiver that answers 500 first gets it on the retry.
func TestRun_AlertsRestartBudget(t *testing.T) {
	for _, tt := range []struct {
		name    string
		answers []int
	}{
		{"ok", []int{200}},
		{"500 then 200", []int{500, 200}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newAlertReceiver(t, 0, tt.answers...)
			port := freeTCPPort(t)
			cfg := writeConfig(t, fmt.Sprintf(`
settings {
  http = "127.0.0.1:%d",
  alerts = { webhook = %q, on = { "restarts" }, restarts_per_hour = 10 },
}
component "crashy" { command = "sleep 0.05; exit 1", min_uptime = "0s", restart_delay = "50ms" }
`, port, rcv.URL+"/alerts"))
			startThorp(t, cfg)
			waitFor(t, 30*time.Second, "an accepted alert", func() bool { return len(rcv.accepted(t)) > 0 })
			got := rcv.accepted(t)[0]
			if got.Kind != "restarts" || got.Component != "crashy" || got.Message != "more than 10 restarts in the last hour" ||
				got.Fields["restarts"] != "11" || got.Fields["restarts_per_hour"] != "10" || got.Host == "" {
				t.Fatalf("alert %+v", got)
			}
			// Let more restarts come: identical alerts within the repeat
			// interval are suppressed.
			waitFor(t, 30*time.Second, "15 restarts", func() bool {
				return strings.Count(fmt.Sprint(eventTypes(apiEvents(t, port, "crashy"))), "restart") >= 15
			})
			waitFor(t, 10*time.Second, "a suppressed alert in /metrics", func() bool {
				return !strings.Contains(metricsText(t, port), `thorp_alerts_total{kind="restarts",outcome="suppressed"} 0`)
			})
			if n := len(rcv.accepted(t)); n != 1 {
				t.Fatalf("the receiver accepted %d alerts, want exactly 1", n)
			}
			reqs := rcv.requests()
			if want := len(tt.answers); len(reqs) != want {
				t.Fatalf("the receiver got %d requests, want %d (retries)", len(reqs), want)
			}

			// The alert event comes right after the 11th restart, none
			// before it, and the webhook got it after the 11th restart.
			var restarts []engine.Event
			var alerts []engine.Event
			for _, ev := range apiEvents(t, port, "crashy") {
				switch ev.Type {
				case engine.EventRestart:
					restarts = append(restarts, ev)
				case engine.EventAlert:
					alerts = append(alerts, ev)
				}
			}
			if len(restarts) < 12 || len(alerts) == 0 {
				t.Fatalf("%d restarts, %d alerts", len(restarts), len(alerts))
			}
			first := alerts[0]
			if first.Alert != "restarts" || first.Fields["restarts"] != "11" || first.Seq < restarts[10].Seq || first.Seq > restarts[11].Seq {
				t.Fatalf("first alert event %+v; 10th restart seq %d, 11th %d, 12th %d", first, restarts[9].Seq, restarts[10].Seq, restarts[11].Seq)
			}
			if reqs[0].at.Before(restarts[10].Time) {
				t.Fatalf("the webhook got the alert at %s, before the 11th restart at %s", reqs[0].at, restarts[10].Time)
			}
			metrics := metricsText(t, port)
			if !strings.Contains(metrics, `thorp_alerts_total{kind="restarts",outcome="sent"} 1`+"\n") {
				t.Fatalf("/metrics:\n%s", grepLines(metrics, "thorp_alerts_total"))
			}
			log := thorpLog(cfg)
			if !strings.Contains(log, "level=WARN msg=alert kind=restarts component=crashy") || !strings.Contains(log, "outcome=sent") {
				t.Fatalf("thorp.log has no alert line:\n%s", grepLines(log, "alert"))
			}
			if strings.Contains(log, "/alerts") {
				t.Fatalf("thorp.log shows the webhook's path:\n%s", grepLines(log, "/alerts"))
			}
			out, _, _ := thorpCmd(t, "describe", "crashy", "-c", cfg)
			if !strings.Contains(out, "alert restarts (crash): more than 10 restarts in the last hour [") ||
				!strings.Contains(out, "restarts_per_hour=10") {
				t.Fatalf("describe shows no alert:\n%s", out)
			}
		})
	}
}

// eventTypes returns the types of evs.
func eventTypes(evs []engine.Event) []string {
	var out []string
	for _, ev := range evs {
		out = append(out, ev.Type)
	}
	return out
}

// grepLines returns the lines of s holding sub.
func grepLines(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// A command alert runs once per alert, with the alert on its stdin and in
// its environment.
func TestRun_AlertsCommandRunsOnce(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "alerts")
	cfg := writeConfig(t, fmt.Sprintf(`
settings {
  http = "",
  alerts = { command = { "/bin/sh", "-c", 'cat >> "$0"; echo "$THORP_ALERT_KIND $THORP_ALERT_COMPONENT" >> "$0"', %q }, on = { "errored" } },
}
component "doomed" { command = "exit 1", min_uptime = "10s", restart_delay = "10ms", exp_backoff_max = "10ms", max_restarts = 2 }
`, out))
	startThorp(t, cfg)
	waitFor(t, 20*time.Second, "the alert's log line", func() bool {
		return strings.Contains(thorpLog(cfg), "msg=alert kind=errored component=doomed")
	})
	log := grepLines(thorpLog(cfg), "msg=alert")
	if !strings.Contains(log, "outcome=sent") {
		t.Fatalf("alert lines:\n%s", log)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != 2 || lines[1] != "errored doomed" {
		t.Fatalf("the command ran other than once:\n%s", b)
	}
	var p alert.Payload
	if err := json.Unmarshal([]byte(lines[0]), &p); err != nil || p.Kind != "errored" || p.Component != "doomed" ||
		p.Message != "errored: thorp stopped restarting it" || p.Fields["detail"] == "" {
		t.Fatalf("stdin %q: %+v %v", lines[0], p, err)
	}
}

// "health failing" from settings.alerts alone: one alert per failing
// episode (health restarts in between do not open another), in Slack's
// shape, and a new one once the check passed and fails again.
func TestRun_AlertsHealthOncePerEpisode(t *testing.T) {
	var failing sync.Mutex
	healthy := false
	health := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		failing.Lock()
		ok := healthy
		failing.Unlock()
		if !ok {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	}))
	t.Cleanup(health.Close)
	setHealthy := func(v bool) {
		failing.Lock()
		healthy = v
		failing.Unlock()
	}
	rcv := newAlertReceiver(t, 0, 200)
	port := freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(`
settings {
  http = "127.0.0.1:%d",
  alerts = { webhook = %q, format = "slack", on = { "health" }, repeat_interval = "0s" },
}
component "web" {
  command = { "sleep", "1000" },
  restart_delay = "10ms",
  health = { http = %q, interval = "100ms", timeout = "1s", failures = 2 },
}
`, port, rcv.URL, health.URL))
	startThorp(t, cfg)
	healthRestarts := func() int {
		n := 0
		for _, ev := range apiEvents(t, port, "web") {
			if ev.Type == engine.EventRestart && ev.Reason == "health" {
				n++
			}
		}
		return n
	}
	waitFor(t, 30*time.Second, "3 health restarts", func() bool { return healthRestarts() >= 3 })
	reqs := rcv.requests()
	if len(reqs) != 1 {
		t.Fatalf("%d alerts over one failing episode of 3 health restarts, want 1", len(reqs))
	}
	var slack map[string]string
	if err := json.Unmarshal(reqs[0].body, &slack); err != nil || len(slack) != 1 ||
		!strings.Contains(slack["text"], ": health alert for web: health check failing (detail=") {
		t.Fatalf("slack body %s: %v", reqs[0].body, err)
	}
	setHealthy(true)
	waitFor(t, 20*time.Second, "the check to pass again", func() bool {
		for _, ev := range apiEvents(t, port, "web") {
			if ev.Type == engine.EventRunning && ev.Reason == "health" {
				return true
			}
		}
		return false
	})
	if n := len(rcv.requests()); n != 1 {
		t.Fatalf("%d alerts while passing, want 1", n)
	}
	setHealthy(false)
	waitFor(t, 20*time.Second, "the second episode's alert", func() bool { return len(rcv.requests()) == 2 })
}

// A webhook that takes 5 s to answer does not delay a crash restart of
// another component, whether settings.alerts delivers to it or a hook
// waits on it in thorp.http: crash→respawn latency is what it is without
// either (a stall would show as seconds; the bound allows the machine's
// noise).
func TestRun_AlertsSlowWebhookDoesNotDelayRestarts(t *testing.T) {
	const rounds = 12
	// measure returns the victim's crash→respawn latencies and the time of
	// the last respawn measured.
	measure := func(alerts, hooks string) ([]time.Duration, time.Time) {
		port := freeTCPPort(t)
		cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "127.0.0.1:%d", %s }
component "noisy" { command = "sleep 0.02; exit 1", min_uptime = "0s", restart_delay = "20ms" }
component "victim" { command = "sleep 0.2; exit 1", min_uptime = "0s", restart_delay = "0s" }
%s`, port, alerts, hooks))
		r := startThorp(t, cfg)
		var lat []time.Duration
		var last time.Time
		waitFor(t, 60*time.Second, fmt.Sprintf("%d victim restarts", rounds), func() bool {
			lat = lat[:0]
			var exited time.Time
			for _, ev := range apiEvents(t, port, "victim") {
				switch ev.Type {
				case engine.EventExit:
					exited = ev.Time
				case engine.EventSpawn:
					if !exited.IsZero() {
						lat = append(lat, ev.Time.Sub(exited))
						last = ev.Time
					}
				}
			}
			return len(lat) >= rounds
		})
		stopThorp(t, r)
		return lat, last
	}
	// waiting checks that the slow webhook was holding a request when
	// the last restart measured happened: the load overlapped the figure.
	waiting := func(what string, rcv *alertReceiver, last time.Time) {
		t.Helper()
		got := rcv.requests()
		if len(got) == 0 {
			t.Fatalf("%s: the slow webhook got nothing while the victim was measured", what)
		}
		if first := got[0].at; !first.Before(last) || last.Sub(first) >= 5*time.Second {
			t.Fatalf("%s: the webhook's first request (%s) was not under way at the last restart measured (%s)",
				what, first.Format(time.StampMilli), last.Format(time.StampMilli))
		}
	}
	without, _ := measure("", "")
	slow := newAlertReceiver(t, 5*time.Second, 200)
	with, last := measure(fmt.Sprintf(`alerts = { webhook = %q, on = { "restarts" }, restarts_per_hour = 1, repeat_interval = "0s", retries = 0 }`, slow.URL), "")
	waiting("alerts", slow, last)
	// The same webhook called by a hook itself: the hook waits 5 s in
	// thorp.http at every crash of noisy, on the hooks' goroutine.
	hookSlow := newAlertReceiver(t, 5*time.Second, 200)
	hooked, last := measure("", fmt.Sprintf(`
on("crash", function(ev)
  if ev.component == "noisy" then thorp.http{ method = "POST", url = %q, json = { component = ev.component }, timeout = "6s" } end
end)`, hookSlow.URL))
	waiting("hook", hookSlow, last)
	for _, l := range [][]time.Duration{without, with, hooked} {
		slices.Sort(l)
	}
	t.Logf("crash→respawn of another component: without alerts median %s max %s; with a 5 s webhook alerting median %s max %s (%d alerts reached it); with a hook posting to a 5 s webhook median %s max %s (%d posts)",
		without[len(without)/2], without[len(without)-1], with[len(with)/2], with[len(with)-1], len(slow.requests()),
		hooked[len(hooked)/2], hooked[len(hooked)-1], len(hookSlow.requests()))
	bound := max(10*without[len(without)/2], 250*time.Millisecond)
	for _, m := range []struct {
		what string
		lat  []time.Duration
	}{{"the slow webhook alerting", with}, {"a hook waiting on the slow webhook", hooked}} {
		if m.lat[len(m.lat)-1] > bound {
			t.Errorf("with %s a restart took up to %s (median %s), over %s; without alerts the median is %s",
				m.what, m.lat[len(m.lat)-1], m.lat[len(m.lat)/2], bound, without[len(without)/2])
		}
	}
}

func TestFormatEvent_AlertKindAndFields(t *testing.T) {
	for _, tt := range []struct {
		ev   engine.Event
		want string
	}{
		{engine.Event{Type: "alert", Alert: "restarts", Reason: "crash", Message: "more than 10 restarts in the last hour",
			Fields: map[string]string{"restarts": "11", "detail": "exited with code 1 after 5ms"}},
			`alert restarts (crash): more than 10 restarts in the last hour [detail="exited with code 1 after 5ms" restarts=11]`},
		{engine.Event{Type: "alert", Alert: "memory", Reason: "memory", PID: 7, Message: "memory_policy at thorp.lua:7 raised an alert",
			Fields: map[string]string{"memory": "31.0 MiB", "limit": ""}},
			`alert (memory) pid 7: memory_policy at thorp.lua:7 raised an alert [limit="" memory="31.0 MiB"]`},
		{engine.Event{Type: "alert", Alert: "lua", Message: "disk full"}, `alert lua: disk full`},
	} {
		if got := formatEvent(tt.ev); got != tt.want {
			t.Errorf("formatEvent =\n%s\nwant\n%s", got, tt.want)
		}
	}
}
