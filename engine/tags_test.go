package engine

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

func TestSupervisor_TagsSelectComponents(t *testing.T) {
	tagged := func(tags ...string) func(*config.Component) {
		return func(c *config.Component) { c.Tags = tags }
	}
	s := startSupervisor(t,
		testComponent(t, "web", "exec sleep 100", tagged("front", "http")),
		testComponent(t, "api", "exec sleep 100", tagged("http")),
		testComponent(t, "db", "exec sleep 100", nil),
	)
	waitEvents(t, s, 10*time.Second, "all running", func([]Event) bool { return allRunning(s) })
	if got, err := s.Resolve([]string{"@http", "db"}); err != nil || !slices.Equal(got, []string{"web", "api", "db"}) {
		t.Fatalf("Resolve(@http, db) = %q, %v", got, err)
	}
	if err := s.Stop(context.Background(), []string{"@http"}, true); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]State{"web": StateStopped, "api": StateStopped, "db": StateRunning} {
		if st := statusOf(t, s, name); st.State != want {
			t.Errorf("%s after stop @http: %s, want %s", name, st.State, want)
		}
	}
	if got := statusOf(t, s, "web").Tags; !slices.Equal(got, []string{"front", "http"}) {
		t.Errorf("status tags %q", got)
	}
	err := s.Start(context.Background(), []string{"@nope"}, true)
	if !errors.Is(err, ErrUnknownComponent) || !strings.Contains(err.Error(), "@nope") || !strings.Contains(err.Error(), "@http") {
		t.Fatalf("start @nope: %v", err)
	}
	if st := statusOf(t, s, "web"); st.State != StateStopped {
		t.Fatalf("an unknown tag in the request started something: web %s", st.State)
	}
}

func TestSupervisor_AutostartFalse(t *testing.T) {
	off := func(c *config.Component) { c.Autostart = false }
	s := startSupervisor(t,
		testComponent(t, "worker", "exec sleep 100", off),
		testComponent(t, "after", "exec sleep 100", func(c *config.Component) { c.DependsOn = []string{"worker"} }),
		testComponent(t, "other", "exec sleep 100", nil),
	)
	waitEvents(t, s, 10*time.Second, "other running, after waiting", func(evs []Event) bool {
		return count(evs, "other", EventRunning) == 1 && count(evs, "after", EventBackoff) == 1
	})
	st := statusOf(t, s, "worker")
	if st.State != StateStopped || st.PID != 0 || st.Message != "autostart = false: start it with thorp start worker" {
		t.Fatalf("worker: %s pid %d %q", st.State, st.PID, st.Message)
	}
	if st := statusOf(t, s, "after"); st.State != StateStarting || !strings.Contains(st.Message, "worker") {
		t.Fatalf("dependent of a not-autostarted component: %s %q", st.State, st.Message)
	}
	// A reload that adds another one does not start it either, nor does
	// changing the stopped one.
	worker2 := testComponent(t, "worker", "exec sleep 101", off)
	added := testComponent(t, "added", "exec sleep 100", off)
	cfg := s.Config()
	if _, err := s.Reload(context.Background(), testConfig(t, worker2, cfg.Components[1], cfg.Components[2], added)); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"worker", "added"} {
		if st := statusOf(t, s, name); st.State != StateStopped || st.PID != 0 {
			t.Fatalf("%s after reload: %s pid %d", name, st.State, st.PID)
		}
	}
	if err := s.Start(context.Background(), []string{"worker"}, true); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, s, 10*time.Second, "the dependent running", func(evs []Event) bool { return count(evs, "after", EventRunning) == 1 })
	if st := statusOf(t, s, "worker"); st.State != StateRunning || st.PID == 0 {
		t.Fatalf("worker after start: %s", st.State)
	}
}
