package engine

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// runningPIDs returns the pids of st's running instances.
func runningPIDs(st Status) []int {
	var pids []int
	for _, in := range st.Instances {
		if in.State == StateRunning && in.PID > 0 {
			pids = append(pids, in.PID)
		}
	}
	return pids
}

func TestSupervisor_ResetZeroesTheCounters(t *testing.T) {
	crash := testComponent(t, "crash", "exit 1", func(c *config.Component) {
		c.MaxRestarts = 2
		c.RetryErroredAfter = 0
	})
	other := testComponent(t, "other", "exec sleep 1000", nil)
	s := startSupervisor(t, crash, other)
	waitEvents(t, s, 10*time.Second, "crash errored", func(evs []Event) bool { return count(evs, "crash", EventErrored) > 0 })
	if st := statusOf(t, s, "crash"); st.Restarts == 0 || st.LastRestartReason != policies.ReasonCrash {
		t.Fatalf("before the reset: %d restarts, last %q", st.Restarts, st.LastRestartReason)
	}
	if err := s.Restart(context.Background(), []string{"other"}, policies.ReasonManual, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Reset(context.Background(), []string{"crash"}); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, s, "crash")
	if st.Restarts != 0 || st.LastRestartReason != "" {
		t.Fatalf("after the reset: %d restarts %v, last %q", st.Restarts, st.RestartsByReason, st.LastRestartReason)
	}
	for _, r := range policies.Reasons {
		if n, ok := st.RestartsByReason[string(r)]; !ok || n != 0 {
			t.Errorf("reason %s after the reset: %d (present %v)", r, n, ok)
		}
	}
	if st.State != StateErrored {
		t.Errorf("the reset changed the state to %s; it resets counters only", st.State)
	}
	if st := statusOf(t, s, "other"); st.RestartsByReason["manual"] != 1 {
		t.Errorf("other was not named but its counters changed: %v", st.RestartsByReason)
	}
	if n := count(s.Events(0, "crash", time.Time{}), "crash", EventReset); n != 1 {
		t.Errorf("%d reset events, want 1", n)
	}
	if err := s.Reset(context.Background(), []string{"all"}); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "other"); st.Restarts != 0 || st.LastRestartReason != "" {
		t.Errorf("reset all left other at %d restarts, last %q", st.Restarts, st.LastRestartReason)
	}
	if err := s.Reset(context.Background(), []string{"nope"}); !errors.Is(err, ErrUnknownComponent) {
		t.Errorf("reset of an unknown name: %v", err)
	}
}

func TestSupervisor_ScaleKeepsTheCountUntilTheFileChanges(t *testing.T) {
	pool := testComponent(t, "pool", "exec sleep 1000", func(c *config.Component) { c.Instances = 2 })
	s := startSupervisor(t, pool)
	ctx := context.Background()
	if err := s.Start(ctx, []string{"pool"}, true); err != nil {
		t.Fatal(err)
	}
	before := runningPIDs(statusOf(t, s, "pool"))

	// Up: the scale returns once the new instances run; the old ones keep their pids.
	if err := s.Scale(ctx, "pool", 4, true); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, s, "pool")
	if got := runningPIDs(st); len(got) != 4 || got[0] != before[0] || got[1] != before[1] {
		t.Fatalf("after scale 4: running %v (before %v)", got, before)
	}
	if st.Scale == nil || st.Scale.Instances != 4 || st.Scale.ConfigInstances != 2 {
		t.Fatalf("scale status %+v", st.Scale)
	}
	added := runningPIDs(st)[2:]

	// A reload with the same instances value keeps the scaled count.
	if _, err := s.Reload(ctx, testConfig(t, pool)); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "pool"); len(runningPIDs(st)) != 4 || st.Scale == nil {
		t.Fatalf("a reload of an unchanged file lost the scale: %+v", st)
	}

	// Down: returns once the removed instances are gone.
	if err := s.Scale(ctx, "pool", 1, true); err != nil {
		t.Fatal(err)
	}
	st = statusOf(t, s, "pool")
	if len(st.Instances) != 1 || st.PID != before[0] || st.Scale == nil || st.Scale.Instances != 1 {
		t.Fatalf("after scale 1: %+v, scale %+v", st.Instances, st.Scale)
	}
	for _, p := range append(added, before[1]) {
		if alive(p) {
			t.Errorf("pid %d of a removed instance still runs", p)
		}
	}

	// The file's count again ends the override.
	if err := s.Scale(ctx, "pool", 2, true); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "pool"); st.Scale != nil || len(runningPIDs(st)) != 2 {
		t.Fatalf("scale to the file's count: %+v, scale %+v", st.Instances, st.Scale)
	}

	// Scaled again, then a file whose instances value changed wins.
	if err := s.Scale(ctx, "pool", 3, true); err != nil {
		t.Fatal(err)
	}
	five := pool
	five.Instances = 5
	if _, err := s.Reload(ctx, testConfig(t, five)); err != nil {
		t.Fatal(err)
	}
	if st := statusOf(t, s, "pool"); st.Scale != nil || len(runningPIDs(st)) != 5 {
		t.Fatalf("after the file changed to 5: %d running, scale %+v", len(runningPIDs(st)), st.Scale)
	}

	for _, n := range []int{0, config.MaxInstances + 1} {
		if err := s.Scale(ctx, "pool", n, true); !errors.Is(err, ErrBadCount) {
			t.Errorf("scale to %d: %v", n, err)
		}
	}
	if err := s.Scale(ctx, "nope", 2, true); !errors.Is(err, ErrUnknownComponent) {
		t.Errorf("scale of an unknown name: %v", err)
	}
	evs := s.Events(0, "pool", time.Time{})
	if n := count(evs, "pool", EventScale); n != 4 {
		t.Errorf("%d scale events, want 4:\n%s", n, dumpEvents(evs))
	}
}

func TestSupervisor_ScaleOfAStoppedComponentStartsNothing(t *testing.T) {
	pool := testComponent(t, "pool", "exec sleep 1000", nil)
	s := startSupervisor(t, pool)
	ctx := context.Background()
	if err := s.Stop(ctx, []string{"pool"}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Scale(ctx, "pool", 3, true); err != nil {
		t.Fatal(err)
	}
	st := statusOf(t, s, "pool")
	if len(st.Instances) != 3 || len(runningPIDs(st)) != 0 {
		t.Fatalf("scale of a stopped component: %+v", st.Instances)
	}
	if err := s.Start(ctx, []string{"pool"}, true); err != nil {
		t.Fatal(err)
	}
	if n := len(runningPIDs(statusOf(t, s, "pool"))); n != 3 {
		t.Fatalf("start after the scale runs %d instances, want 3", n)
	}
}

// TestProxy_ScaleUnderLoadLosesNoRequest: new instances join the rotation
// once ready and answer requests; removed ones leave it and finish what
// they accepted before they stop, so no request of a steady load fails.
func TestProxy_ScaleUnderLoadLosesNoRequest(t *testing.T) {
	c, addr := proxiedApp(t, "api", 1, nil)
	s := startSupervisor(t, c)
	ctx := context.Background()
	if err := s.Start(ctx, []string{"api"}, true); err != nil {
		t.Fatal(err)
	}
	g := startPortLoad(addr, 4)
	if err := s.Scale(ctx, "api", 3, true); err != nil {
		g.finish()
		t.Fatal(err)
	}
	up := runningPIDs(statusOf(t, s, "api"))
	for _, pid := range up {
		waitFor(t, 10*time.Second, fmt.Sprintf("a request answered by pid %d", pid), func() bool {
			return g.count(func(a answer) bool { return a.pid == pid }) > 0
		})
	}
	if err := s.Scale(ctx, "api", 1, true); err != nil {
		g.finish()
		t.Fatal(err)
	}
	downAt := time.Now()
	waitFor(t, 10*time.Second, "50 requests after the scale down", func() bool {
		return g.count(func(a answer) bool { return a.start.After(downAt) }) >= 50
	})
	answers := g.finish()
	for _, a := range answers {
		if a.err != nil {
			t.Errorf("request at %s failed: %v", a.start.Format(time.StampMicro), a.err)
		}
		if a.start.After(downAt) && a.pid != up[0] {
			t.Errorf("a request after the scale down went to pid %d, not %d", a.pid, up[0])
		}
	}
	if len(up) != 3 {
		t.Fatalf("scaled up to %v", up)
	}
	for _, p := range up[1:] {
		if alive(p) {
			t.Errorf("removed pid %d still runs", p)
		}
	}
	evs := s.Events(0, "api", time.Time{})
	if n := count(evs, "api", EventDraining); n != 2 {
		t.Errorf("%d draining events, want one per removed instance:\n%s", n, dumpEvents(evs))
	}
	t.Logf("%d requests", len(answers))
}
