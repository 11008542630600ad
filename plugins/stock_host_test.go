package plugins_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

// fakeHost records what the thorp module asks of the running thorp.
type fakeHost struct {
	mu       sync.Mutex
	alerts   []engine.Event
	stops    []string
	restarts []string
	// acted receives a value (without blocking) after each request.
	acted chan struct{}
}

var _ plugins.Host = (*fakeHost)(nil)

func newFakeHost() *fakeHost { return &fakeHost{acted: make(chan struct{}, 100)} }

func (h *fakeHost) record(f func()) {
	h.mu.Lock()
	f()
	h.mu.Unlock()
	select {
	case h.acted <- struct{}{}:
	default:
	}
}

func (h *fakeHost) Status(name string) (engine.Status, error) {
	return engine.Status{Name: name, State: engine.StateRunning}, nil
}

func (h *fakeHost) Restart(_ context.Context, name, why string) error {
	h.record(func() { h.restarts = append(h.restarts, name+": "+why) })
	return nil
}

func (h *fakeHost) Signal(context.Context, string, syscall.Signal) error { return nil }

func (h *fakeHost) Start(context.Context, string) error { return nil }

func (h *fakeHost) Stop(_ context.Context, name string) error {
	h.record(func() { h.stops = append(h.stops, name) })
	return nil
}

func (h *fakeHost) Alert(ev engine.Event) {
	h.record(func() { h.alerts = append(h.alerts, ev) })
}

func (h *fakeHost) snapshot() (alerts []engine.Event, stops, restarts []string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]engine.Event(nil), h.alerts...), append([]string(nil), h.stops...), append([]string(nil), h.restarts...)
}

// hooksOf evaluates src with host and returns its hooks.
func hooksOf(t *testing.T, src string, host plugins.Host) []config.Hook {
	t.Helper()
	raw, _, ps := evaluate(t, writeLua(t, src), plugins.Options{Host: host})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	return raw.Hooks
}

func callHook(t *testing.T, hook config.Hook, arg map[string]any) error {
	t.Helper()
	_, err := hook.Func.Call(t.Context(), arg, 5*time.Second)
	return err
}

func TestStock_RestartBudget(t *testing.T) {
	host := newFakeHost()
	hooks := hooksOf(t, `local restart_budget = require "thorp.policies.restart_budget"
restart_budget{ component = "api", max = 3, window = "1h" }
`, host)
	if len(hooks) != 1 || hooks[0].Event != "restart" {
		t.Fatalf("hooks %v, want one on(\"restart\")", hooks)
	}
	restart := func(component, reason string, at float64) {
		t.Helper()
		if err := callHook(t, hooks[0], map[string]any{"event": "restart", "component": component, "reason": reason, "time": at}); err != nil {
			t.Fatal(err)
		}
	}
	t0 := float64(time.Now().Unix())
	// Three crashes of api within the hour, and restarts that do not count:
	// another component's, an operator's, a reload's.
	for i, reason := range []string{"crash", "memory", "health"} {
		restart("api", reason, t0+float64(i)*60)
		restart("web", "crash", t0+float64(i)*60)
		restart("api", "manual", t0+float64(i)*60)
		restart("api", "reload", t0+float64(i)*60)
	}
	if alerts, stops, _ := host.snapshot(); len(alerts) != 0 || len(stops) != 0 {
		t.Fatalf("within the budget: alerts %v, stops %v", alerts, stops)
	}
	restart("api", "exit", t0+180)
	alerts, stops, _ := host.snapshot()
	if len(alerts) != 1 || len(stops) != 1 || stops[0] != "api" {
		t.Fatalf("past the budget: alerts %v, stops %v; want one alert, then a stop of api", alerts, stops)
	}
	a := alerts[0]
	if a.Type != engine.EventAlert || a.Alert != "lua" || a.Component != "api" ||
		a.Message != "api restarted 4 times within 1h, over its budget of 3; stopping it" ||
		a.Fields["restarts"] != "4" || a.Fields["max"] != "3" || a.Fields["action"] != "stop" {
		t.Errorf("alert %+v", a)
	}
	// A fresh count after the alert: three more are within the budget
	// again, and restarts an hour apart never exhaust it.
	for i := range 3 {
		restart("api", "crash", t0+240+float64(i))
	}
	for i := range 5 {
		restart("api", "crash", t0+7200+float64(i)*3601)
	}
	if alerts, stops, _ := host.snapshot(); len(alerts) != 1 || len(stops) != 1 {
		t.Errorf("after the first alert: alerts %v, stops %v; want no more", alerts, stops)
	}
}

func TestStock_RestartBudgetAllAlertOnly(t *testing.T) {
	host := newFakeHost()
	hooks := hooksOf(t, `require("thorp.policies.restart_budget"){ component = "all", max = 1, window = "10m", action = "alert" }
`, host)
	t0 := float64(time.Now().Unix())
	for i, name := range []string{"api", "web", "api", "web"} {
		if err := callHook(t, hooks[0], map[string]any{"event": "restart", "component": name, "reason": "crash", "time": t0 + float64(i)}); err != nil {
			t.Fatal(err)
		}
	}
	alerts, stops, _ := host.snapshot()
	if len(alerts) != 2 || alerts[0].Component != "api" || alerts[1].Component != "web" || len(stops) != 0 {
		t.Fatalf("alerts %+v, stops %v; want one alert each for api and web, no stop", alerts, stops)
	}
	if !strings.HasSuffix(alerts[0].Message, "over its budget of 1") {
		t.Errorf("alert message %q", alerts[0].Message)
	}
}

// receiver is a local webhook: it records each request's body and
// headers and answers with status.
type receiver struct {
	mu     sync.Mutex
	bodies []string
	header []http.Header
	status int
	got    chan struct{}
}

func newReceiver(t *testing.T, status int) (*receiver, string) {
	r := &receiver{status: status, got: make(chan struct{}, 100)}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.bodies = append(r.bodies, req.Method+" "+string(body))
		r.header = append(r.header, req.Header.Clone())
		r.mu.Unlock()
		w.WriteHeader(r.status)
		r.got <- struct{}{}
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL
}

func (r *receiver) requests() ([]string, []http.Header) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.bodies...), append([]http.Header(nil), r.header...)
}

// alertEvent is an on("alert") hook's argument as HookRunner builds it.
func alertEvent() map[string]any {
	return map[string]any{"event": "alert", "type": "alert", "alert": "lua", "component": "api", "instance": 0,
		"message": "api restarted 11 times within 1h", "reason": "", "time": 1795814794.25,
		"fields": map[string]any{"restarts": "11", "queue": "<db> & more"}}
}

func TestStock_NotifyWebhook(t *testing.T) {
	rec, url := newReceiver(t, http.StatusNoContent)
	hooks := hooksOf(t, `require("thorp.policies.notify_webhook"){ url = "`+url+`/alerts", headers = { ["X-Token"] = "s3cret" } }
`, newFakeHost())
	if len(hooks) != 1 || hooks[0].Event != "alert" {
		t.Fatalf("hooks %v, want one on(\"alert\")", hooks)
	}
	if err := callHook(t, hooks[0], alertEvent()); err != nil {
		t.Fatal(err)
	}
	bodies, headers := rec.requests()
	if len(bodies) != 1 {
		t.Fatalf("requests %q, want one", bodies)
	}
	method, body, _ := strings.Cut(bodies[0], " ")
	// The shape of settings.alerts' JSON body (engine/alert.Payload).
	var got struct {
		Kind, Component, Message string
		Instance                 int
		Fields                   map[string]string
		Time                     time.Time
	}
	dec := json.NewDecoder(strings.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&got); err != nil || method != "POST" {
		t.Fatalf("%s %q: %v", method, body, err)
	}
	if got.Kind != "lua" || got.Component != "api" || got.Message != "api restarted 11 times within 1h" ||
		got.Fields["restarts"] != "11" || !got.Time.Equal(time.UnixMilli(1795814794250)) {
		t.Errorf("body %+v", got)
	}
	if headers[0].Get("X-Token") != "s3cret" || !strings.HasPrefix(headers[0].Get("Content-Type"), "application/json") {
		t.Errorf("headers %v", headers[0])
	}
}

func TestStock_NotifySlack(t *testing.T) {
	rec, url := newReceiver(t, http.StatusOK)
	hooks := hooksOf(t, `require("thorp.policies.notify_slack"){ webhook = "`+url+`", prefix = "[prod] " }
`, newFakeHost())
	if err := callHook(t, hooks[0], alertEvent()); err != nil {
		t.Fatal(err)
	}
	bodies, _ := rec.requests()
	if want := `POST {"text":"[prod] lua alert for api: api restarted 11 times within 1h (queue=&lt;db&gt; &amp; more, restarts=11)"}`; len(bodies) != 1 || bodies[0] != want {
		t.Errorf("requests %q, want [%q]", bodies, want)
	}
}

func TestStock_NotifyFailure(t *testing.T) {
	_, url := newReceiver(t, http.StatusInternalServerError)
	hooks := hooksOf(t, `require("thorp.policies.notify_webhook"){ url = "`+url+`" }
`, newFakeHost())
	err := callHook(t, hooks[0], alertEvent())
	if err == nil || !strings.Contains(err.Error(), "notify_webhook: "+url+" answered 500") {
		t.Errorf("hook error %v, want the status named", err)
	}
}

func TestStock_QuietHoursPlannedRestart(t *testing.T) {
	inside, outside := windows()
	host := newFakeHost()
	path := writeLua(t, `local quiet_hours = require "thorp.policies.quiet_hours"
quiet_hours{ window = "`+inside+`", ceiling = "1GB", component = "api", restart_every = "1s" }
quiet_hours{ window = "`+outside+`", ceiling = "1GB", component = "web", restart_every = "1s" }
component "api" { command = "true" }
component "web" { command = "true" }
`)
	raw, s, ps := evaluate(t, path, plugins.Options{Host: host})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	cfg, cps := config.Decode(raw, nil, nil)
	if cps.Err() != nil {
		t.Fatal(cps.Err())
	}
	runner := plugins.NewHookRunner(nil)
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() {
		defer close(done)
		runner.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	runner.Set(cfg, s)
	// api's window holds now: a restart each second; web's does not: none.
	deadline := time.After(10 * time.Second)
	for {
		_, _, restarts := host.snapshot()
		if len(restarts) >= 2 {
			for _, r := range restarts {
				if r != "api: quiet_hours: planned restart in "+inside {
					t.Fatalf("restarts %q: want only api's, in its window", restarts)
				}
			}
			return
		}
		select {
		case <-host.acted:
		case <-deadline:
			t.Fatalf("restarts %q after 10s, want two of api", restarts)
		}
	}
}
