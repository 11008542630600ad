package engine

import (
	"fmt"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

func TestSupervisor_FailingHealthCheckRestarts(t *testing.T) {
	dead := freePort(t) // nothing listens: every check fails
	s := startSupervisor(t, testComponent(t, "sick", "exec sleep 100", func(c *config.Component) {
		c.Health = &config.Health{HTTP: fmt.Sprintf("http://127.0.0.1:%d/health", dead), Interval: 50 * time.Millisecond,
			Timeout: 100 * time.Millisecond, Failures: 3}
		c.RestartDelay = 0
	}))
	evs := waitEvents(t, s, 10*time.Second, "a health restart", func(evs []Event) bool {
		return count(evs, "sick", EventSpawn) >= 2
	})
	st := statusOf(t, s, "sick")
	if st.RestartsByReason["health"] < 1 || st.RestartsByReason["crash"] != 0 {
		t.Fatalf("restarts_by_reason %v\n%s", st.RestartsByReason, dumpEvents(evs))
	}
	warnings := 0
	for _, e := range evs {
		if e.Type == EventWarning && e.Reason == "health" {
			warnings++
		}
	}
	if warnings == 0 {
		t.Fatalf("no health warning before the restart:\n%s", dumpEvents(evs))
	}
}

func TestSupervisor_PassingHealthCheckKeepsRunning(t *testing.T) {
	port := freePort(t)
	s := startSupervisor(t, serverComponent(t, "fine", port, 0, func(c *config.Component) {
		c.Ready = fmt.Sprintf("tcp://127.0.0.1:%d", port)
		c.Health = &config.Health{HTTP: fmt.Sprintf("http://127.0.0.1:%d/health", port), Interval: 50 * time.Millisecond,
			Timeout: 500 * time.Millisecond, Failures: 2}
	}))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "fine", EventRunning) >= 1 })
	// Ten checks' worth of time: none may fail.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if st := statusOf(t, s, "fine"); !st.Healthy || st.Restarts != 0 {
			t.Fatalf("a healthy server was judged unhealthy: %+v", st)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSupervisor_WatchdogRestartsHungProcess(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "hung", "exec sleep 100", func(c *config.Component) {
		c.Watchdog = 200 * time.Millisecond
	}))
	evs := waitEvents(t, s, 10*time.Second, "a watchdog restart", func(evs []Event) bool { return count(evs, "hung", EventSpawn) >= 2 })
	if st := statusOf(t, s, "hung"); st.RestartsByReason["watchdog"] < 1 {
		t.Fatalf("restarts_by_reason %v\n%s", st.RestartsByReason, dumpEvents(evs))
	}
}

func TestSupervisor_WatchdogPingsKeepItRunning(t *testing.T) {
	port := freePort(t)
	// The server pings WATCHDOG=1 at half of WATCHDOG_USEC.
	s := startSupervisor(t, serverComponent(t, "alive", port, 0, func(c *config.Component) {
		c.Ready = "notify"
		c.Watchdog = 300 * time.Millisecond
	}))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "alive", EventRunning) >= 1 })
	deadline := time.Now().Add(time.Second) // more than three watchdog periods
	for time.Now().Before(deadline) {
		if st := statusOf(t, s, "alive"); st.Restarts != 0 {
			t.Fatalf("restarted although it pinged: %+v", st.RestartsByReason)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSupervisor_CronRestart(t *testing.T) {
	// 02:59 on the engine's clock; 03:00 comes when the test says so.
	clk := newFakeClock(time.Date(2026, 3, 10, 2, 59, 0, 0, time.UTC))
	s := startSupervisorWith(t, Options{Clock: clk}, testComponent(t, "nightly", "exec sleep 100", func(c *config.Component) {
		c.CronRestart = "0 3 * * *"
		c.RestartDelay = 0
	}))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "nightly", EventRunning) >= 1 })
	clk.Advance(time.Minute)
	evs := waitEvents(t, s, 10*time.Second, "a cron restart", func(evs []Event) bool { return count(evs, "nightly", EventSpawn) >= 2 })
	if st := statusOf(t, s, "nightly"); st.RestartsByReason["cron"] != 1 {
		t.Fatalf("restarts_by_reason %v\n%s", st.RestartsByReason, dumpEvents(evs))
	}
	for _, e := range evs {
		if e.Type == EventRestart && !e.Time.Equal(clk.Now()) {
			t.Fatalf("restart at %s, want 03:00 on the engine's clock", e.Time)
		}
	}
}
