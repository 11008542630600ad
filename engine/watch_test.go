package engine

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// watchRestarts returns the messages of the component's restarts with reason watch.
func watchRestarts(evs []Event, component string) []string {
	var out []string
	for _, e := range evs {
		if e.Component == component && e.Type == EventRestart && e.Reason == policies.ReasonWatch {
			out = append(out, e.Message)
		}
	}
	return out
}

func writeFile(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestSupervisor_WatchRestarts(t *testing.T) {
	var src string
	comp := testComponent(t, "app", "exec sleep 1000", func(c *config.Component) {
		src = filepath.Join(c.Cwd, "src")
		c.Instances = 2
		c.Watch = &config.Watch{Paths: []string{src}, Ignore: append(slices.Clone(config.DefaultWatchIgnore), "*.tmp"), Delay: 300 * time.Millisecond}
	})
	for _, d := range []string{"lib", "node_modules/dep"} {
		if err := os.MkdirAll(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	s := startSupervisor(t, comp)
	waitEvents(t, s, 10*time.Second, "both instances running", func(evs []Event) bool { return count(evs, "app", EventRunning) == 2 })
	before := statusOf(t, s, "app").Instances

	// Three writes in one window: one restart of every instance.
	writeFile(t, filepath.Join(src, "lib/a.js"))
	writeFile(t, filepath.Join(src, "b.js"))
	writeFile(t, filepath.Join(src, "lib/c.js"))
	evs := waitEvents(t, s, 10*time.Second, "a watch restart running", func(evs []Event) bool {
		return len(watchRestarts(evs, "app")) == 2 && count(evs, "app", EventRunning) == 4
	})
	if msg := watchRestarts(evs, "app")[0]; !strings.Contains(msg, filepath.Join(src, "lib/a.js")+" and 2 more changed") {
		t.Fatalf("restart message %q", msg)
	}
	st := statusOf(t, s, "app")
	for i, in := range st.Instances {
		if in.PID == before[i].PID || in.State != StateRunning {
			t.Fatalf("instance %d after the watch restart: %+v (before pid %d)", i, in, before[i].PID)
		}
	}
	if st.RestartsByReason["watch"] != 2 || st.LastRestartReason != policies.ReasonWatch {
		t.Fatalf("restarts %v, last %s", st.RestartsByReason, st.LastRestartReason)
	}

	// Ignored: under node_modules, by glob. Then a directory created
	// later, whose file is the first change of the next window.
	writeFile(t, filepath.Join(src, "node_modules/dep/index.js"))
	writeFile(t, filepath.Join(src, "lib/x.tmp"))
	writeFile(t, filepath.Join(src, "new/deep/d.js"))
	evs = waitEvents(t, s, 10*time.Second, "a second watch restart", func(evs []Event) bool {
		return len(watchRestarts(evs, "app")) == 4 && count(evs, "app", EventRunning) == 6
	})
	if msg := watchRestarts(evs, "app")[2]; !strings.HasPrefix(msg, filepath.Join(src, "new")) {
		t.Fatalf("the ignored files counted: %q", msg)
	}
	writeFile(t, filepath.Join(src, "new/deep/e.js"))
	evs = waitEvents(t, s, 10*time.Second, "a restart for the new directory", func(evs []Event) bool {
		return len(watchRestarts(evs, "app")) == 6
	})
	if msg := watchRestarts(evs, "app")[4]; msg != filepath.Join(src, "new/deep/e.js")+" changed" {
		t.Fatalf("restart message %q", msg)
	}

	// A reload that drops watch closes the watcher before it returns.
	plain := s.Config().Components[0]
	plain.Watch = nil
	if rep, err := s.Reload(context.Background(), testConfig(t, plain)); err != nil || !slices.Equal(rep.Updated, []string{"app"}) {
		t.Fatalf("reload: %+v %v", rep, err)
	}
	for _, g := range engineGoroutines() {
		if strings.Contains(g, "fswatch.(*Watcher).run") {
			t.Fatalf("the watcher outlived the reload that removed it:\n%s", g)
		}
	}
}
