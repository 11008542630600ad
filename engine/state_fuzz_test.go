package engine

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

// FuzzLoadState gives New an arbitrary .thorp/state.json: loading never
// panics, whatever it loaded still renders (Status, events), and a state
// file in today's valid format loads without being moved aside.
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
		_ = s.Events(0, "", time.Time{})
		var st savedState
		if json.Unmarshal(b, &st) == nil && st.Version == stateVersion {
			if _, err := os.Stat(path); err != nil {
				t.Fatalf("a valid state file was moved aside: %q", b)
			}
		}
	})
}
