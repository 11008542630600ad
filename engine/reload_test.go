package engine

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

func TestSupervisor_ReloadAppliesOnlyTheDifference(t *testing.T) {
	keep := testComponent(t, "keep", "exec sleep 1000", nil)
	tune := testComponent(t, "tune", "exec sleep 1000", nil)
	change := testComponent(t, "change", "exec sleep 1000", nil)
	gone := testComponent(t, "gone", "exec sleep 1000", func(c *config.Component) { c.DependsOn = []string{"keep"} })
	s := startSupervisor(t, keep, tune, change, gone)
	waitEvents(t, s, 10*time.Second, "all running", func([]Event) bool { return allRunning(s) })
	before := map[string]int{}
	for _, st := range s.Status() {
		before[st.Name] = st.PID
	}

	tune2 := tune
	tune2.MaxMemoryRestart = 500 << 20
	tune2.RestartDelay = 3 * time.Second
	change2 := change
	change2.Env = map[string]string{"NEW": "1"}
	added := testComponent(t, "added", "exec sleep 1000", func(c *config.Component) { c.DependsOn = []string{"change"} })
	rep, err := s.Reload(context.Background(), testConfig(t, keep, tune2, change2, added))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Added, []string{"added"}) || !slices.Equal(rep.Removed, []string{"gone"}) ||
		!slices.Equal(rep.Restarted, []string{"change"}) || !slices.Equal(rep.Updated, []string{"tune"}) ||
		!slices.Equal(rep.Unchanged, []string{"keep"}) {
		t.Fatalf("report %+v", rep)
	}
	waitEvents(t, s, 10*time.Second, "added running", func([]Event) bool { return allRunning(s) })
	after := map[string]Status{}
	var names []string
	for _, st := range s.Status() {
		after[st.Name] = st
		names = append(names, st.Name)
	}
	if !slices.Equal(names, []string{"keep", "tune", "change", "added"}) {
		t.Fatalf("components after reload: %v", names)
	}
	if after["keep"].PID != before["keep"] || after["tune"].PID != before["tune"] {
		t.Fatalf("unchanged/updated components were restarted: %v -> %+v", before, after)
	}
	if after["change"].PID == before["change"] || after["change"].RestartsByReason["config"] != 1 {
		t.Fatalf("changed component not restarted with reason config: %+v", after["change"])
	}
	if after["tune"].MemoryLimitBytes != 500<<20 {
		t.Fatalf("updated limit not applied in place: %d", after["tune"].MemoryLimitBytes)
	}
	if alive(before["gone"]) {
		t.Fatal("removed component still running")
	}
	if ok, _ := s.LastReload(); !ok {
		t.Fatal("LastReload not ok")
	}
}

func allRunning(s *Supervisor) bool {
	for _, st := range s.Status() {
		if st.State != StateRunning {
			return false
		}
	}
	return true
}

func TestSupervisor_ReloadChangesInstances(t *testing.T) {
	pool := testComponent(t, "pool", "exec sleep 1000", func(c *config.Component) { c.Instances = 3 })
	s := startSupervisor(t, pool)
	waitEvents(t, s, 10*time.Second, "three running", func([]Event) bool {
		n := 0
		for _, in := range s.Status()[0].Instances {
			if in.State == StateRunning {
				n++
			}
		}
		return n == 3
	})
	pids := map[int]bool{}
	for _, in := range s.Status()[0].Instances {
		pids[in.PID] = true
	}
	if len(pids) != 3 {
		t.Fatalf("instances share a pid: %+v", s.Status()[0].Instances)
	}
	one := pool
	one.Instances = 1
	if _, err := s.Reload(context.Background(), testConfig(t, one)); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, s, 10*time.Second, "one instance left", func([]Event) bool {
		st := s.Status()[0]
		return st.State == StateRunning && len(st.Instances) == 1
	})
	for p := range pids {
		if alive(p) && p != s.Status()[0].PID {
			t.Fatalf("instance pid %d survived the shrink", p)
		}
	}
}
