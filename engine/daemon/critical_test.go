package daemon

import (
	"context"
	"errors"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

// crasher is a component that exits 1 at once and ends errored after two
// restarts.
func crasher(t *testing.T, dir string, critical bool) *running {
	t.Helper()
	worker := component(t, dir, "worker", "exec sleep 100")
	c := component(t, dir, "crasher", "exit 1")
	c.MaxRestarts = 2
	c.DependsOn = []string{"worker"}
	c.Critical = critical
	return launchDaemon(t, testConfig(dir, worker, c), nil)
}

// TestDaemon_Critical_ErroredStopsEverything: a critical component that
// ends errored stops thorp: every component in reverse dependency order
// (the worker it depends on only after it), and Run returns a
// *CriticalError naming it.
func TestDaemon_Critical_ErroredStopsEverything(t *testing.T) {
	r := crasher(t, t.TempDir(), true)
	err := r.wait(t, 30*time.Second)
	var ce *CriticalError
	if !errors.As(err, &ce) || ce.Component != "crasher" || ce.Instance != 0 {
		t.Fatalf("Run: %v, want a *CriticalError for crasher", err)
	}
	if r.notify.stopping.Load() != 1 {
		t.Errorf("notifier told of stopping %d times, want 1", r.notify.stopping.Load())
	}
	var erroredAt, stoppingAt uint64
	var workerPID int
	for _, ev := range r.d.Supervisor().Events(0, "", time.Time{}) {
		switch {
		case ev.Component == "crasher" && ev.Type == engine.EventErrored:
			erroredAt = ev.Seq
		case ev.Component == "worker" && ev.Type == engine.EventStopping:
			stoppingAt, workerPID = ev.Seq, ev.PID
		}
	}
	if erroredAt == 0 || stoppingAt < erroredAt {
		t.Fatalf("crasher errored at event %d, worker stopping at %d: want the worker stopped after the critical component ended errored", erroredAt, stoppingAt)
	}
	if workerPID == 0 || syscall.Kill(workerPID, 0) == nil {
		t.Errorf("worker pid %d survived the shutdown", workerPID)
	}
}

// TestDaemon_Critical_NotCriticalKeepsRunning: without critical an errored
// component leaves thorp running, and a SIGTERM then stops it cleanly.
func TestDaemon_Critical_NotCriticalKeepsRunning(t *testing.T) {
	r := crasher(t, t.TempDir(), false)
	sup := r.d.Supervisor()
	deadline := time.NewTimer(30 * time.Second)
	defer deadline.Stop()
	for {
		changed := sup.WaitEvent()
		if st := sup.Status(); len(st) == 2 && st[1].State == engine.StateErrored && st[0].State == engine.StateRunning {
			break
		}
		select {
		case <-changed:
		case err := <-r.done:
			t.Fatalf("Run returned %v when a component that is not critical ended errored", err)
		case <-deadline.C:
			t.Fatalf("crasher not errored within 30s: %+v", sup.Status())
		}
	}
	r.sigs <- syscall.SIGTERM
	if err := r.wait(t, 10*time.Second); err != nil {
		t.Fatalf("Run: %v, want nil after SIGTERM", err)
	}
}

// TestDaemon_Critical_FollowsReload: a reload that marks a component
// critical (and changes its command to one that fails) makes its errored
// end stop thorp, as if it had been critical from the start.
func TestDaemon_Critical_FollowsReload(t *testing.T) {
	dir := t.TempDir()
	before := component(t, dir, "worker", "exec sleep 100")
	after := component(t, dir, "worker", "exit 1")
	after.MaxRestarts = 2
	after.Critical = true
	next := testConfig(dir, after)
	r := startDaemon(t, testConfig(dir, before), func() Load { return Load{Config: next} })
	if _, problems, err := r.d.Reload(context.Background()); err != nil || problems.Err() != nil {
		t.Fatalf("reload: %v %v", err, problems)
	}
	var ce *CriticalError
	if err := r.wait(t, 30*time.Second); !errors.As(err, &ce) || ce.Component != "worker" {
		t.Fatalf("Run: %v, want a *CriticalError for worker after the reload made it critical", err)
	}
}
