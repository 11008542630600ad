package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

// freePort returns a loopback port nothing listens on (at the moment).
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// serverComponent runs the test binary as an HTTP server that starts
// listening after delay (and then sends READY=1 when NOTIFY_SOCKET is set).
func serverComponent(t *testing.T, name string, port int, delay time.Duration, mod func(*config.Component)) config.Component {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return testComponent(t, name, "", func(c *config.Component) {
		c.Command = config.Command{Argv: []string{self}}
		c.Env = map[string]string{childEnv: "serve", "THORP_SERVE_ADDR": fmt.Sprintf("127.0.0.1:%d", port),
			"THORP_SERVE_DELAY": delay.String()}
		if mod != nil {
			mod(c)
		}
	})
}

func eventAt(t *testing.T, evs []Event, comp, typ string) time.Time {
	t.Helper()
	for _, e := range evs {
		if e.Component == comp && e.Type == typ {
			return e.Time
		}
	}
	t.Fatalf("no %s event for %s:\n%s", typ, comp, dumpEvents(evs))
	return time.Time{}
}

func TestSupervisor_ReadinessGatesDependents(t *testing.T) {
	for _, kind := range []string{"tcp", "http", "notify"} {
		t.Run(kind, func(t *testing.T) {
			port := freePort(t)
			probe := map[string]string{
				"tcp":    fmt.Sprintf("tcp://127.0.0.1:%d", port),
				"http":   fmt.Sprintf("http://127.0.0.1:%d/health", port),
				"notify": "notify",
			}[kind]
			const delay = 300 * time.Millisecond
			s := startSupervisor(t,
				serverComponent(t, "db", port, delay, func(c *config.Component) { c.Ready = probe }),
				testComponent(t, "api", "exec sleep 100", func(c *config.Component) { c.DependsOn = []string{"db"} }),
			)
			evs := waitEvents(t, s, 15*time.Second, "api running", func(evs []Event) bool { return count(evs, "api", EventRunning) >= 1 })
			spawned, ready := eventAt(t, evs, "db", EventSpawn), eventAt(t, evs, "db", EventRunning)
			if ready.Sub(spawned) < delay {
				t.Fatalf("db was running %s after its spawn, before it could listen (%s)", ready.Sub(spawned), delay)
			}
			if eventAt(t, evs, "api", EventSpawn).Before(ready) {
				t.Fatalf("api started before db was ready:\n%s", dumpEvents(evs))
			}
		})
	}
}

func TestSupervisor_ReadinessFromLogLine(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "svc", "sleep 0.2; echo 'server listening on :8080' >&2; exec sleep 100", func(c *config.Component) {
		c.Ready = "log:listening on :[0-9]+"
	}))
	evs := waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "svc", EventRunning) >= 1 })
	if d := eventAt(t, evs, "svc", EventRunning).Sub(eventAt(t, evs, "svc", EventSpawn)); d < 200*time.Millisecond {
		t.Fatalf("running after %s, before the log line", d)
	}
	// The line still reaches the log.
	waitLog(t, s.cfg.Components[0].ErrLog(), "server listening on :8080")
}

func TestSupervisor_NeverReadyIsAFailedStart(t *testing.T) {
	port := freePort(t)
	s := startSupervisor(t, testComponent(t, "deaf", "exec sleep 100", func(c *config.Component) {
		c.Ready = fmt.Sprintf("tcp://127.0.0.1:%d", port)
		c.ListenTimeout = 200 * time.Millisecond
		c.MinUptime = 10 * time.Second
		c.MaxRestarts = 2
		c.RestartDelay = 10 * time.Millisecond
		c.RetryErroredAfter = 0
	}))
	evs := waitEvents(t, s, 15*time.Second, "errored", func(evs []Event) bool { return count(evs, "deaf", EventErrored) >= 1 })
	if n := count(evs, "deaf", EventSpawn); n != 2 {
		t.Fatalf("%d runs before errored, want 2:\n%s", n, dumpEvents(evs))
	}
	if n := count(evs, "deaf", EventRunning); n != 0 {
		t.Fatalf("it was called running %d times without ever being ready", n)
	}
	if st := statusOf(t, s, "deaf"); !strings.Contains(st.Message, "listen_timeout") {
		t.Fatalf("message %q does not say why", st.Message)
	}
}

// luaReady answers a ready (or health) function: true from the third
// call on; it keeps the last argument it got.
type luaReady struct {
	mu    sync.Mutex
	calls int
	arg   map[string]any
}

func (l *luaReady) Where() string  { return "thorp.lua:3" }
func (l *luaReady) Source() string { return "" }

func (l *luaReady) Call(_ context.Context, arg map[string]any, _ time.Duration) (any, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.calls++
	l.arg = arg
	return l.calls >= 3, nil
}

// lastArg returns the argument of the last call.
func (l *luaReady) lastArg() map[string]any {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.arg
}

func TestSupervisor_ReadinessFromLuaFunction(t *testing.T) {
	lua := &luaReady{}
	s := startSupervisor(t, testComponent(t, "svc", "exec sleep 100", func(c *config.Component) {
		c.ReadyFunc = lua
	}))
	evs := waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "svc", EventRunning) >= 1 })
	if d := eventAt(t, evs, "svc", EventRunning).Sub(eventAt(t, evs, "svc", EventSpawn)); d < 2*probeEvery {
		t.Fatalf("running after %s: before the function said true", d)
	}
	lua.mu.Lock()
	defer lua.mu.Unlock()
	if lua.calls < 3 {
		t.Fatalf("ready function called %d times", lua.calls)
	}
	if want := map[string]any{"component": "svc", "instance": 0, "port": 0}; !reflect.DeepEqual(lua.arg, want) {
		t.Errorf("the ready function got %v, want %v", lua.arg, want)
	}
}

// A Lua health check gets the process it checks: component, instance,
// pid and port, so it can reach it.
func TestSupervisor_HealthFunctionGetsItsProcess(t *testing.T) {
	lua := &luaReady{}
	s := startSupervisor(t, testComponent(t, "svc", "exec sleep 100", func(c *config.Component) {
		c.Health = &config.Health{Func: lua, Interval: 20 * time.Millisecond, Timeout: time.Second, Failures: 100}
	}))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "svc", EventRunning) >= 1 })
	pid := statusOf(t, s, "svc").PID
	deadline := time.Now().Add(10 * time.Second)
	for lua.lastArg() == nil && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // polling the fake's record, bounded
	}
	if want := map[string]any{"component": "svc", "instance": 0, "pid": pid, "port": 0}; !reflect.DeepEqual(lua.lastArg(), want) {
		t.Errorf("the health function got %v, want %v", lua.lastArg(), want)
	}
}
