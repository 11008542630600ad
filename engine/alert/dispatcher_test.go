package alert

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// outcomes collects the dispatcher's log lines, one map of attributes per
// alert, as they are written.
type outcomeLog chan map[string]string

func (o outcomeLog) Enabled(context.Context, slog.Level) bool { return true }
func (o outcomeLog) WithAttrs([]slog.Attr) slog.Handler       { return o }
func (o outcomeLog) WithGroup(string) slog.Handler            { return o }
func (o outcomeLog) Handle(_ context.Context, r slog.Record) error {
	m := map[string]string{"msg": r.Message, "level": r.Level.String()}
	r.Attrs(func(a slog.Attr) bool {
		m[a.Key] = a.Value.String()
		return true
	})
	o <- m
	return nil
}

// next returns the next alert line, failing after a bound.
func (o outcomeLog) next(t *testing.T) map[string]string {
	t.Helper()
	select {
	case m := <-o:
		return m
	case <-time.After(10 * time.Second):
		t.Fatal("no alert was logged within 10s")
		return nil
	}
}

// none asserts that no alert line arrives within d.
func (o outcomeLog) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case m := <-o:
		t.Fatalf("unexpected alert line %v", m)
	case <-time.After(d):
	}
}

// receiver is an httptest webhook answering with the codes of answers in
// turn (then the last one), keeping the bodies and arrival times.
type receiver struct {
	*httptest.Server
	mu      sync.Mutex
	answers []int
	bodies  [][]byte
	times   []time.Time
}

func newReceiver(t *testing.T, answers ...int) *receiver {
	r := &receiver{answers: answers}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		code := r.answers[min(len(r.bodies), len(r.answers)-1)]
		r.bodies = append(r.bodies, b)
		r.times = append(r.times, time.Now())
		r.mu.Unlock()
		if req.Header.Get("Content-Type") != "application/json" {
			code = http.StatusUnsupportedMediaType
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *receiver) got() ([][]byte, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([][]byte(nil), r.bodies...), append([]time.Time(nil), r.times...)
}

// start returns a running dispatcher for s, logging to a fresh outcomeLog.
func start(t *testing.T, s config.AlertSettings, opts Options) (*Dispatcher, outcomeLog) {
	t.Helper()
	log := make(outcomeLog, 100)
	opts.Logger = slog.New(log)
	opts.Host = "test-host"
	d := New(s, opts)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.Run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return d, log
}

func settings(mod func(*config.AlertSettings)) config.AlertSettings {
	s := config.DefaultAlerts()
	mod(&s)
	return s
}

func luaAlert(msg string) engine.Event {
	return engine.Event{Type: engine.EventAlert, Alert: "lua", Component: "api", Message: msg,
		Fields: map[string]string{"n": "1"}, Time: time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)}
}

func TestDispatcher_Handle_DeliversJSON(t *testing.T) {
	rcv := newReceiver(t, 200)
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Webhook = rcv.URL + "/hook" }), Options{})
	d.Handle(luaAlert("disk almost full"))
	if m := log.next(t); m["outcome"] != OutcomeSent || m["kind"] != "lua" || m["component"] != "api" ||
		m["message"] != "disk almost full" || m["field.n"] != "1" || m["level"] != "WARN" {
		t.Fatalf("log line %v", m)
	}
	bodies, _ := rcv.got()
	var p map[string]any
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"kind": "lua", "component": "api", "instance": 0.0, "message": "disk almost full",
		"fields": map[string]any{"n": "1"}, "time": "2026-11-27T21:00:00Z", "host": "test-host"}
	if !jsonEqual(p, want) {
		t.Fatalf("body %s, want %v", bodies[0], want)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

func TestDispatcher_Handle_SlackShape(t *testing.T) {
	rcv := newReceiver(t, 200)
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Webhook = rcv.URL; s.Format = "slack" }), Options{})
	ev := luaAlert("queue <db> over 1000 & rising")
	ev.Fields = map[string]string{"queue": "db", "depth": "1200"}
	d.Handle(ev)
	if m := log.next(t); m["outcome"] != OutcomeSent {
		t.Fatalf("log line %v", m)
	}
	bodies, _ := rcv.got()
	var p map[string]any
	if err := json.Unmarshal(bodies[0], &p); err != nil {
		t.Fatal(err)
	}
	want := map[string]any{"text": "thorp on test-host: lua alert for api: queue &lt;db&gt; over 1000 &amp; rising (depth=1200, queue=db)"}
	if !jsonEqual(p, want) {
		t.Fatalf("body %s, want %v", bodies[0], want)
	}
}

func TestDispatcher_Handle_RateLimit(t *testing.T) {
	rcv := newReceiver(t, 200)
	var mu sync.Mutex
	now := time.Date(2026, 11, 27, 21, 0, 0, 0, time.UTC)
	clock := func() time.Time {
		mu.Lock()
		defer mu.Unlock()
		return now
	}
	advance := func(d time.Duration) {
		mu.Lock()
		now = now.Add(d)
		mu.Unlock()
	}
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Webhook = rcv.URL }), Options{Now: clock})
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeSent {
		t.Fatalf("first: %v", m)
	}
	advance(59 * time.Second)
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeSuppressed {
		t.Fatalf("identical within the minute: %v", m)
	}
	d.Handle(luaAlert("b")) // another message is another alert
	if m := log.next(t); m["outcome"] != OutcomeSent || m["message"] != "b" {
		t.Fatalf("another message: %v", m)
	}
	advance(time.Second)
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeSent {
		t.Fatalf("after the repeat interval: %v", m)
	}
	if bodies, _ := rcv.got(); len(bodies) != 3 {
		t.Fatalf("the receiver got %d alerts, want 3", len(bodies))
	}
	var out bytes.Buffer
	d.WriteMetrics(&out)
	for _, line := range []string{
		`thorp_alerts_total{kind="lua",outcome="sent"} 3`,
		`thorp_alerts_total{kind="lua",outcome="suppressed"} 1`,
		`thorp_alerts_total{kind="restarts",outcome="dropped"} 0`,
		"# TYPE thorp_alerts_total counter",
	} {
		if !strings.Contains(out.String(), line+"\n") {
			t.Errorf("metrics lack %q:\n%s", line, out.String())
		}
	}
}

func TestDispatcher_Handle_RetriesWithBackoff(t *testing.T) {
	rcv := newReceiver(t, 500, 502, 200)
	const backoff = 50 * time.Millisecond
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Webhook = rcv.URL; s.Retries = 3 }), Options{Backoff: backoff})
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeSent {
		t.Fatalf("log line %v", m)
	}
	_, times := rcv.got()
	if len(times) != 3 {
		t.Fatalf("%d attempts, want 3", len(times))
	}
	if gap := times[1].Sub(times[0]); gap < backoff {
		t.Errorf("first retry after %s, want at least %s", gap, backoff)
	}
	if gap := times[2].Sub(times[1]); gap < 2*backoff {
		t.Errorf("second retry after %s, want at least %s (doubled)", gap, 2*backoff)
	}
}

func TestDispatcher_Handle_RetriesRunOut(t *testing.T) {
	rcv := newReceiver(t, 503)
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Webhook = rcv.URL + "/secret-token"; s.Retries = 2 }),
		Options{Backoff: time.Millisecond})
	d.Handle(luaAlert("a"))
	m := log.next(t)
	if m["outcome"] != OutcomeFailed || !strings.Contains(m["err"], "3 attempts") || !strings.Contains(m["err"], "503") {
		t.Fatalf("log line %v", m)
	}
	if strings.Contains(m["err"], "secret-token") {
		t.Fatalf("the log shows the webhook's path: %v", m)
	}
	if bodies, _ := rcv.got(); len(bodies) != 3 {
		t.Fatalf("%d attempts, want 3", len(bodies))
	}
}

func TestDispatcher_Handle_ClientErrorIsNotRetried(t *testing.T) {
	rcv := newReceiver(t, 404, 200)
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Webhook = rcv.URL }), Options{Backoff: time.Millisecond})
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeFailed || !strings.Contains(m["err"], "404") {
		t.Fatalf("log line %v", m)
	}
	if bodies, _ := rcv.got(); len(bodies) != 1 {
		t.Fatalf("%d attempts, want 1", len(bodies))
	}
}

func TestDispatcher_Handle_TimeoutRetries(t *testing.T) {
	release := make(chan struct{})
	var mu sync.Mutex
	calls := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		calls++
		first := calls == 1
		mu.Unlock()
		if first {
			select { // hangs past the timeout
			case <-release:
			case <-r.Context().Done():
			}
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Webhook = srv.URL; s.Timeout = 100 * time.Millisecond }),
		Options{Backoff: time.Millisecond})
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeSent {
		t.Fatalf("log line %v", m)
	}
}

func TestDispatcher_Handle_QueueFullDrops(t *testing.T) {
	log := make(outcomeLog, 100)
	// Not running: nothing leaves the queue of 2.
	d := New(settings(func(s *config.AlertSettings) { s.Webhook = "http://127.0.0.1:9/" }), Options{Logger: slog.New(log), QueueSize: 2})
	for _, msg := range []string{"a", "b", "c", "d"} {
		d.Handle(luaAlert(msg))
	}
	for _, want := range []string{"c", "d"} {
		if m := log.next(t); m["outcome"] != OutcomeDropped || m["message"] != want {
			t.Fatalf("log line %v, want %s dropped", m, want)
		}
	}
	log.none(t, 50*time.Millisecond)
	// A dropped alert was not sent, so an identical one may go.
	d2 := New(settings(func(s *config.AlertSettings) { s.Webhook = "http://127.0.0.1:9/" }), Options{Logger: slog.New(log), QueueSize: 1})
	d2.Handle(luaAlert("a"))
	d2.Handle(luaAlert("b"))
	<-d2.queue
	d2.Handle(luaAlert("b"))
	if m := log.next(t); m["outcome"] != OutcomeDropped {
		t.Fatalf("log line %v", m)
	}
	log.none(t, 50*time.Millisecond)
	var out bytes.Buffer
	d.WriteMetrics(&out)
	if !strings.Contains(out.String(), `thorp_alerts_total{kind="lua",outcome="dropped"} 2`+"\n") {
		t.Fatalf("metrics:\n%s", out.String())
	}
}

func TestDispatcher_Handle_NoDestinationLogs(t *testing.T) {
	d, log := start(t, config.DefaultAlerts(), Options{})
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeLogged {
		t.Fatalf("log line %v", m)
	}
}

func TestDispatcher_Handle_Command(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "alert")
	script := filepath.Join(dir, "page.sh")
	body := "#!/bin/sh\ncat > \"$1\"\necho \"$THORP_ALERT_KIND|$THORP_ALERT_COMPONENT|$THORP_ALERT_MESSAGE\" >> \"$1\"\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Command = []string{script, out} }), Options{})
	d.Handle(luaAlert("disk full"))
	if m := log.next(t); m["outcome"] != OutcomeSent {
		t.Fatalf("log line %v", m)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitN(string(b), "\n", 2) // the JSON ends in a newline
	var p Payload
	if err := json.Unmarshal([]byte(lines[0]), &p); err != nil || p.Kind != "lua" || p.Message != "disk full" || p.Host != "test-host" {
		t.Fatalf("stdin %q: %+v %v", lines[0], p, err)
	}
	if lines[1] != "lua|api|disk full\n" {
		t.Fatalf("env line %q", lines[1])
	}
}

func TestDispatcher_Handle_CommandKilledAtTimeout(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "pid")
	script := filepath.Join(dir, "hang.sh")
	// A grandchild in the same group holds stderr open: the whole group
	// must die, or Wait would hang on the pipe.
	body := "#!/bin/sh\nsleep 30 &\necho $! > \"$1\"\nwait\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	d, log := start(t, settings(func(s *config.AlertSettings) {
		s.Command = []string{script, pidFile}
		s.Timeout = 200 * time.Millisecond
		s.Retries = 0
	}), Options{})
	began := time.Now()
	d.Handle(luaAlert("a"))
	m := log.next(t)
	if m["outcome"] != OutcomeFailed || !strings.Contains(m["err"], "process group was killed") {
		t.Fatalf("log line %v", m)
	}
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("the failed command took %s", took)
	}
	b, _ := os.ReadFile(pidFile)
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatalf("pid file %q: %v", b, err)
	}
	waitGone(t, pid)
}

func TestDispatcher_Handle_CommandExitFailsAndRetries(t *testing.T) {
	dir := t.TempDir()
	count := filepath.Join(dir, "count")
	script := filepath.Join(dir, "fail.sh")
	body := "#!/bin/sh\necho x >> \"$1\"\necho nope >&2\nexit 3\n"
	if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
		t.Fatal(err)
	}
	d, log := start(t, settings(func(s *config.AlertSettings) { s.Command = []string{script, count}; s.Retries = 1 }),
		Options{Backoff: time.Millisecond})
	d.Handle(luaAlert("a"))
	if m := log.next(t); m["outcome"] != OutcomeFailed || !strings.Contains(m["err"], "exit status 3: nope") {
		t.Fatalf("log line %v", m)
	}
	if b, _ := os.ReadFile(count); string(b) != "x\nx\n" {
		t.Fatalf("ran %q, want twice", b)
	}
}

// recorder is a Recorder that hands the events back to the dispatcher, as
// the supervisor does, and keeps them.
type recorder struct {
	mu  sync.Mutex
	d   *Dispatcher
	evs []engine.Event
}

func (r *recorder) Record(ev engine.Event) {
	r.mu.Lock()
	r.evs = append(r.evs, ev)
	r.mu.Unlock()
	r.d.Handle(ev)
}

func (r *recorder) take() []engine.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := r.evs
	r.evs = nil
	return out
}

func TestDispatcher_Handle_RestartsRule(t *testing.T) {
	d := New(settings(func(s *config.AlertSettings) { s.On = []string{"restarts"}; s.RestartsPerHour = 10 }), Options{})
	rec := &recorder{d: d}
	d.Attach(rec)
	t0 := time.Date(2026, 11, 27, 20, 0, 0, 0, time.UTC)
	restart := func(at time.Time, reason policies.Reason) {
		d.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: reason, Time: at, Message: "exit 1"})
	}
	// Two restarts more than an hour before the rest, and planned ones,
	// do not count.
	restart(t0.Add(-2*time.Hour), policies.ReasonCrash)
	restart(t0.Add(-61*time.Minute), policies.ReasonCrash)
	for i := range 5 {
		restart(t0.Add(time.Duration(i)*time.Second), policies.ReasonManual)
		restart(t0.Add(time.Duration(i)*time.Second), policies.ReasonCron)
	}
	for i := range 10 {
		restart(t0.Add(time.Duration(i)*time.Minute), policies.ReasonCrash)
	}
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("alerts after the 10th restart: %+v", evs)
	}
	d.Handle(engine.Event{Type: engine.EventRestart, Component: "web", Reason: policies.ReasonCrash, Time: t0.Add(10 * time.Minute)})
	restart(t0.Add(10*time.Minute), policies.ReasonHealth)
	evs := rec.take()
	if len(evs) != 1 {
		t.Fatalf("alerts after the 11th restart: %+v", evs)
	}
	want := engine.Event{Type: engine.EventAlert, Alert: "restarts", Component: "api", Reason: policies.ReasonHealth,
		Time: t0.Add(10 * time.Minute), Message: "more than 10 restarts in the last hour",
		Fields: map[string]string{"restarts": "11", "restarts_per_hour": "10", "reason": "health", "detail": "exit 1"}}
	if !jsonEqual(evs[0], want) {
		t.Fatalf("alert %+v\nwant  %+v", evs[0], want)
	}
	// Once the first two are more than an hour old, it is 10 again.
	restart(t0.Add(time.Hour+time.Minute+time.Second), policies.ReasonCrash)
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("alerts with 10 restarts in the last hour: %+v", evs)
	}
}

func TestDispatcher_Handle_HealthOncePerEpisode(t *testing.T) {
	d := New(settings(func(s *config.AlertSettings) { s.On = []string{"health"} }), Options{})
	rec := &recorder{d: d}
	d.Attach(rec)
	ev := func(typ string, instance int) {
		d.Handle(engine.Event{Type: typ, Component: "api", Instance: instance, Reason: policies.ReasonHealth, Message: typ})
	}
	ev(engine.EventWarning, 0)
	ev(engine.EventRestart, 0)
	ev(engine.EventWarning, 0) // the replacement fails too: the same episode
	ev(engine.EventWarning, 1) // another instance: its own episode
	evs := rec.take()
	if len(evs) != 2 || evs[0].Alert != "health" || evs[0].Message != "health check failing" || evs[0].Instance != 0 ||
		evs[1].Instance != 1 || evs[0].Fields["detail"] != "warning" {
		t.Fatalf("alerts %+v", evs)
	}
	ev(engine.EventRunning, 0) // passes again: the episode is over
	ev(engine.EventRestart, 0)
	if evs := rec.take(); len(evs) != 1 || evs[0].Instance != 0 {
		t.Fatalf("alerts of the second episode %+v", evs)
	}
}

func TestDispatcher_Handle_ErroredAndMemoryRules(t *testing.T) {
	d := New(settings(func(s *config.AlertSettings) { s.On = []string{"errored", "memory"} }), Options{})
	rec := &recorder{d: d}
	d.Attach(rec)
	d.Handle(engine.Event{Type: engine.EventErrored, Component: "api", Message: "10 short runs"})
	d.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: policies.ReasonMemory, Message: "memory 2GiB over 1GiB"})
	d.Handle(engine.Event{Type: engine.EventRestart, Component: "api", Reason: policies.ReasonCrash})
	d.Handle(engine.Event{Type: engine.EventWarning, Component: "api", Reason: policies.ReasonHealth})
	evs := rec.take()
	if len(evs) != 2 || evs[0].Alert != "errored" || evs[0].Fields["detail"] != "10 short runs" ||
		evs[1].Alert != "memory" || evs[1].Message != "restarted for memory" {
		t.Fatalf("alerts %+v", evs)
	}
}

func TestDispatcher_Set_ChangesRules(t *testing.T) {
	d := New(config.DefaultAlerts(), Options{})
	rec := &recorder{d: d}
	d.Attach(rec)
	d.Handle(engine.Event{Type: engine.EventErrored, Component: "api"})
	if evs := rec.take(); len(evs) != 0 {
		t.Fatalf("alerts without rules: %+v", evs)
	}
	d.Set(settings(func(s *config.AlertSettings) { s.On = []string{"errored"} }))
	d.Handle(engine.Event{Type: engine.EventErrored, Component: "api"})
	if evs := rec.take(); len(evs) != 1 {
		t.Fatalf("alerts after Set: %+v", evs)
	}
}
