package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// FuzzLoadState gives New an arbitrary .thorp/state.json: loading never
// panics, a file in the current format within maxStateFile loads without
// being moved aside, and whatever it loaded is within the loader's bounds:
// only the config's components, known restart reasons, counts in
// 0..maxStateCount, at most stateEvents events whose components and reasons
// are known, messages and signals cut.
func FuzzLoadState(f *testing.F) {
	f.Add([]byte(`{"version":1,"saved_at":"2026-11-27T16:00:00Z","components":{"a":{"restarts_by_reason":{"crash":3,"manual":1},"last_exit":{"code":4},"last_restart_reason":"crash"}},"events":[{"seq":1,"component":"a","type":"exit","message":"exited 4"}]}`))
	f.Add([]byte(`{"version":1,"components":{},"events":[]}`))
	f.Add([]byte(`{"version":1,"components":{"gone":{"restarts_by_reason":{"crash":1}}}}`))
	f.Add([]byte(`{"version":2}`))
	f.Add([]byte(`{"version":1,"components":{"a":{"restarts_by_reason":{"crash":9223372036854775715,"\u001b[31minvented":-5}}}}`))
	f.Add([]byte(`not json`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := testConfig(t, config.Component{}, config.Component{})
		for i, name := range []string{"a", "b"} {
			c := config.DefaultComponent()
			c.Name = name
			c.Command = config.Command{Argv: []string{"/bin/true"}}
			c.Cwd = cfg.Dir
			c.Logs = config.Defaults().Logs
			c.Logs.Dir = filepath.Join(cfg.Dir, "logs")
			cfg.Components[i] = c
		}
		path := cfg.Settings.State
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		s, err := New(cfg, Options{StatePath: path, Spawner: &refusingSpawner{}}) // nothing is started
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		if _, err := json.Marshal(s.Status()); err != nil {
			t.Fatalf("status after loading %q: %v", b, err)
		}
		checkLoadedState(t, s, b)
		var st savedState
		if len(b) <= maxStateFile && json.Unmarshal(b, &st) == nil && st.Version == stateVersion {
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("a valid state file was moved aside: %q", b)
			}
		}
	})
}

// checkLoadedState fails t when s holds anything a state file may not give
// it: the config has components a and b.
func checkLoadedState(t *testing.T, s *Supervisor, file []byte) {
	t.Helper()
	known := func(r policies.Reason) bool { return slices.Contains(policies.Reasons, r) }
	for _, st := range s.Status() {
		if st.Name != "a" && st.Name != "b" {
			t.Fatalf("component %q from %q", st.Name, file)
		}
		for r, n := range st.RestartsByReason {
			if n < 0 || n > maxStateCount || (n > 0 && !known(policies.Reason(r))) {
				t.Fatalf("%s: restarts %q = %d from %q", st.Name, r, n, file)
			}
		}
		if r := st.LastRestartReason; r != "" && !known(r) {
			t.Fatalf("%s: last restart reason %q from %q", st.Name, r, file)
		}
		if e := st.LastExit; e != nil && len(e.Signal) > maxStateSignal {
			t.Fatalf("%s: last exit signal of %d bytes from %q", st.Name, len(e.Signal), file)
		}
	}
	evs := s.Events(0, "", time.Time{})
	if len(evs) > stateEvents {
		t.Fatalf("%d events from %q", len(evs), file)
	}
	for _, ev := range evs {
		if (ev.Component != "" && ev.Component != "a" && ev.Component != "b") || (ev.Reason != "" && !known(ev.Reason)) ||
			len(ev.Message) > maxStateMessage || len(ev.Signal) > maxStateSignal {
			t.Fatalf("event %+v from %q", ev, file)
		}
	}
}
