package alert

import (
	"fmt"
	"syscall"
	"testing"
	"time"
)

func fmtSscan(s string, pid *int) (int, error) { return fmt.Sscan(s, pid) }

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
