package engine

import (
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// Instance 1 exits with code 0 every 50ms, instance 0 runs on: the
// restarts are counted on instance 1 alone, with reason exit, and the
// component's state is not taken for instance 0's.
func TestSupervisor_RestartsPerInstanceAndReasonExit(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "pair", `if [ "$THORP_INSTANCE" = 1 ]; then sleep 0.05; exit 0; fi; exec sleep 60`, func(c *config.Component) {
		c.Instances = 2
		c.MinUptime = 0
		c.Autorestart = config.AutorestartAlways
	}))
	var st Status
	evs := waitEvents(t, s, 10*time.Second, "three restarts of instance 1 in its status", func([]Event) bool {
		st = statusOf(t, s, "pair")
		return st.Instances[1].Restarts >= 3
	})
	for _, e := range evs {
		if e.Type == EventRestart && (e.Instance != 1 || e.Reason != policies.ReasonExit) {
			t.Fatalf("restart of instance %d reason %q, want only instance 1, reason exit:\n%s", e.Instance, e.Reason, dumpEvents(evs))
		}
	}
	if st.Instances[0].Restarts != 0 || st.Instances[1].Restarts < 3 {
		t.Fatalf("instance restarts = %d, %d; want 0 and at least 3", st.Instances[0].Restarts, st.Instances[1].Restarts)
	}
	if st.RestartsByReason["crash"] != 0 || st.RestartsByReason["exit"] < 3 {
		t.Fatalf("restarts_by_reason = %v", st.RestartsByReason)
	}
}

// A process that burns one core shows about 100% CPU; an idle one about
// 0%; the component's figure is their sum.
func TestSupervisor_CPUPercentPerInstance(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "cpu", `if [ "$THORP_INSTANCE" = 1 ]; then exec sleep 60; fi; while :; do :; done`, func(c *config.Component) {
		c.Instances = 2
		c.MemoryInterval = 200 * time.Millisecond
		c.MaxMemoryRestart = 1 << 40 // sampled every MemoryInterval, not every 5s
	}))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := statusOf(t, s, "cpu")
		busy, idle := st.Instances[0].CPUPercent, st.Instances[1].CPUPercent
		// One core busy, on a loaded 2-core machine: anything from 30%
		// shows the figure is a rate, not a cumulative count.
		if busy > 30 && busy < 150 && idle < 5 && st.CPUPercent == busy+idle && st.CPUSeconds > 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("cpu_percent never settled: component %.1f, instances %.1f and %.1f", st.CPUPercent, busy, idle)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// An instance whose process has ended shows no figures of it while it
// waits to restart: memory, CPU and the process count are those of a
// process that is gone.
func TestSupervisor_EndedInstanceKeepsNoFigures(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "gone", `exec sleep 60`, func(c *config.Component) {
		c.Instances = 2
		c.MemoryInterval = 100 * time.Millisecond
		c.MaxMemoryRestart = 1 << 40 // sampled every MemoryInterval, not every 5s
		c.RestartDelay = time.Hour   // instance 1 stays in backoff once killed
	}))
	var pid int
	deadline := time.Now().Add(20 * time.Second)
	for {
		in := statusOf(t, s, "gone").Instances[1]
		if in.State == StateRunning && in.Procs > 0 && in.MemoryBytes > 0 {
			pid = in.PID
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("instance 1 never sampled: %+v", in)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, s, 10*time.Second, "instance 1 in backoff", func([]Event) bool {
		return statusOf(t, s, "gone").Instances[1].State == StateBackoff
	})
	if in := statusOf(t, s, "gone").Instances[1]; in.PID != 0 || in.Procs != 0 || in.MemoryBytes != 0 || in.CPUPercent != 0 {
		t.Errorf("instance 1 in backoff: pid %d, procs %d, memory %d, cpu %.1f; want no figures of its ended process", in.PID, in.Procs, in.MemoryBytes, in.CPUPercent)
	}
}
