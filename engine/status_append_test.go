package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

// TestSupervisor_AppendStatus checks that a snapshot appended to a
// previous one's memory is the snapshot Status returns (no instance left
// over from the slice it reuses, no empty instance list where Status has
// none) and that it reuses that memory.
func TestSupervisor_AppendStatus(t *testing.T) {
	s := startSupervisor(t,
		testComponent(t, "pair", "exec sleep 100", func(c *config.Component) { c.Instances = 2 }),
		testComponent(t, "idle", "exec sleep 100", func(c *config.Component) { c.Autostart = false }),
		testComponent(t, "one", "exec sleep 100", nil),
	)
	waitEvents(t, s, 30*time.Second, "pair and one running", func([]Event) bool {
		sts := s.Status()
		return sts[0].State == StateRunning && sts[2].State == StateRunning
	})
	// Reuse a slice whose spare elements hold more instances than the
	// components have, in a different order.
	prev := s.AppendStatus(nil)
	prev[0], prev[2] = prev[2], prev[0]
	prev[1].Instances = make([]InstanceStatus, 5)
	got := s.AppendStatus(prev[:0])
	want := s.Status()
	if &got[0] != &prev[0] {
		t.Error("AppendStatus did not fill the slice it was given")
	}
	if len(got[0].Instances) != 2 || len(prev[2].Instances) < 1 || &got[2].Instances[0] != &prev[2].Instances[0] {
		t.Error("AppendStatus did not reuse the instances of the slice it was given")
	}
	noUptime := func(sts []Status) {
		for i := range sts {
			sts[i].UptimeSeconds = 0
			for j := range sts[i].Instances {
				sts[i].Instances[j].UptimeSeconds = 0
			}
		}
	}
	noUptime(got)
	noUptime(want)
	if !reflect.DeepEqual(got, want) {
		t.Errorf("AppendStatus into a used slice:\n%+v\nStatus:\n%+v", got, want)
	}
}
