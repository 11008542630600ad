package alert

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/spawn"
)

// waitGone waits (bounded) until pid no longer exists.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for syscall.Kill(pid, 0) == nil {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d still exists: the command's group was not killed", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestDispatcher_Handle_CommandKeepsItsExitStatusFromTheReaper: in thorp
// run a spawn.Spawner reaps zombie children outside thorp's process group
// (and every one as PID 1); the alert command, in a group of its own,
// must still get its own exit status, however its SIGCHLD races with
// its Wait.
func TestDispatcher_Handle_CommandKeepsItsExitStatusFromTheReaper(t *testing.T) {
	s := spawn.New()
	defer s.Close()
	d, log := start(t, settings(func(sc *config.AlertSettings) {
		sc.Command = []string{"/bin/sh", "-c", "echo nope >&2; exit 3"}
		sc.Retries = 0
		sc.RepeatInterval = 0
	}), Options{})
	for i := range 40 {
		d.Handle(luaAlert(fmt.Sprint("alert ", i)))
		if m := log.next(t); m["outcome"] != OutcomeFailed || !strings.Contains(m["err"], "exit status 3: nope") {
			t.Fatalf("alert %d: log line %v, want the command's exit status 3 (the reaper took it?)", i, m)
		}
	}
}
