package engine

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/thorp-dev/thorp/engine/config"
)

// runWithState runs a supervisor with a state file until until holds, then shuts it down.
func runWithState(t *testing.T, state string, comp config.Component, until func(*Supervisor) bool) []Status {
	t.Helper()
	s, err := New(testConfig(t, comp), Options{StatePath: state})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Run(ctx) }()
	<-s.Started()
	deadline := time.Now().Add(10 * time.Second)
	for !until(s) {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		select {
		case <-s.WaitEvent():
		case <-time.After(100 * time.Millisecond):
		}
	}
	st := s.Status()
	cancel()
	<-done
	if err := s.Close(); err != nil {
		t.Error(err)
	}
	return st
}

func TestSupervisor_StateSurvivesRestart(t *testing.T) {
	state := filepath.Join(t.TempDir(), "state", "state.json")
	comp := testComponent(t, "c", "sleep 0.05; exit 4", func(c *config.Component) { c.MinUptime = 0 })
	first := runWithState(t, state, comp, func(s *Supervisor) bool { return s.Status()[0].RestartsByReason["crash"] >= 3 })
	if _, err := os.Stat(state); err != nil {
		t.Fatalf("no state file after shutdown: %v", err)
	}
	stable := testComponent(t, "c", "exec sleep 100", nil)
	second := runWithState(t, state, stable, func(s *Supervisor) bool { return s.Status()[0].State == StateRunning })
	got, want := second[0].RestartsByReason["crash"], first[0].RestartsByReason["crash"]
	if got < want {
		t.Fatalf("crash restarts after a thorp restart = %d, want at least %d", got, want)
	}
	// The last exit of the first thorp was the stop at its shutdown.
	if second[0].LastExit == nil || second[0].LastExit.Signal != "SIGTERM" {
		t.Fatalf("last exit lost: %+v", second[0].LastExit)
	}
}

func TestSupervisor_CorruptStateIsSetAside(t *testing.T) {
	dir := t.TempDir()
	state := filepath.Join(dir, "state.json")
	if err := os.WriteFile(state, []byte("{not json"), 0o600); err != nil {
		t.Fatal(err)
	}
	comp := testComponent(t, "c", "exec sleep 100", nil)
	st := runWithState(t, state, comp, func(s *Supervisor) bool { return s.Status()[0].State == StateRunning })
	if st[0].Restarts != 0 {
		t.Fatalf("restarts %d from a corrupt file", st[0].Restarts)
	}
	entries, _ := os.ReadDir(dir)
	aside := false
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), "state.json.corrupt-") {
			aside = true
		}
	}
	if !aside {
		t.Fatalf("corrupt state not moved aside: %v", entries)
	}
}

func TestSavedState_Clean(t *testing.T) {
	st := savedState{
		Version: stateVersion,
		Components: map[string]savedComponent{
			"web": {
				RestartsByReason:  map[string]int{"crash": 9223372036854775715, "manual": -5, "pwned\x1b[31m": 7, "memory": 2},
				LastRestartReason: "pwned\x1b[31m",
				LastExit:          &ExitInfo{Code: 1, Signal: strings.Repeat("S", 100)},
			},
			"ghost": {RestartsByReason: map[string]int{"crash": 3}},
		},
		Events: []Event{
			{Component: "web", Type: EventExit, Message: strings.Repeat("é", 3000)},
			{Component: "web", Type: EventRestart, Reason: "evil"},
			{Component: "ghost", Type: EventExit},
			{Type: "reload", Message: "kept"},
		},
	}
	var warnings []string
	st.clean(func(name string) bool { return name == "web" }, func(msg string, _ ...any) { warnings = append(warnings, msg) })

	if _, ok := st.Components["ghost"]; ok {
		t.Error("unknown component kept")
	}
	web := st.Components["web"]
	want := map[string]int{"crash": maxStateCount, "manual": 0, "memory": 2}
	if len(web.RestartsByReason) != len(want) {
		t.Errorf("restarts %v, want %v", web.RestartsByReason, want)
	}
	for r, n := range want {
		if web.RestartsByReason[r] != n {
			t.Errorf("restarts[%s] = %d, want %d", r, web.RestartsByReason[r], n)
		}
	}
	if web.LastRestartReason != "" || len(web.LastExit.Signal) != maxStateSignal {
		t.Errorf("last reason %q, last exit signal %q", web.LastRestartReason, web.LastExit.Signal)
	}
	if len(st.Events) != 2 || st.Events[1].Message != "kept" {
		t.Fatalf("events %+v, want the web exit and the reload", st.Events)
	}
	if m := st.Events[0].Message; len(m) > maxStateMessage || !utf8.ValidString(m) {
		t.Errorf("message of %d bytes (valid UTF-8: %v), want at most %d, whole runes", len(m), utf8.ValidString(m), maxStateMessage)
	}
	if len(warnings) != 9 {
		t.Errorf("%d warnings, want 9 (one per change): %q", len(warnings), warnings)
	}
}
