package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/proc"
)

// procInfo is what the comparison reads of a process from /proc.
type procInfo struct {
	pid, ppid int
	start     uint64 // start time in clock ticks since boot: tells a pid's reuse apart
	comm      string
}

// readProc reads /proc/PID/stat; ok is false when the process is gone or
// a zombie.
func readProc(pid int) (procInfo, bool) {
	s, err := proc.ReadStat("/proc", pid)
	if err != nil || s.State == 'Z' {
		return procInfo{}, false
	}
	return infoOf(s), true
}

func infoOf(s proc.Stat) procInfo {
	return procInfo{pid: s.PID, ppid: s.PPID, start: s.StartTime, comm: s.Comm}
}

// descendants returns every live descendant of pid (not pid itself), from
// one scan of /proc.
func descendants(pid int) []procInfo {
	t, err := proc.Scan("/proc")
	if err != nil {
		return nil
	}
	var out []procInfo
	for _, id := range t.Tree(pid, 0, nil) {
		if s, ok := t.Get(id.PID); ok && id.PID != pid && s.State != 'Z' {
			out = append(out, infoOf(s))
		}
	}
	return out
}

// cpuSeconds is a process's CPU time summed over its threads from
// schedstat (nanoseconds, unlike the 10 ms ticks of /proc/PID/stat).
func cpuSeconds(pid int) float64 {
	tasks, _ := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
	var ns int64
	for _, t := range tasks {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/schedstat", pid, t.Name()))
		if err != nil {
			continue
		}
		if f := strings.Fields(string(b)); len(f) > 0 {
			if v, err := strconv.ParseInt(f[0], 10, 64); err == nil {
				ns += v
			}
		}
	}
	return float64(ns) / 1e9
}

// killTree stops a supervisor the comparison started and everything under
// it, by pid: it lists the roots and their descendants, runs stop (the
// supervisor's own way to stop: SIGTERM, `pm2 kill`), waits up to grace for
// every listed process to end, and SIGKILLs those still running (each the
// same process by its start time, never a reused pid). The list is taken
// before stop because PM2's children are re-parented as it dies.
func killTree(grace time.Duration, stop func(), roots ...procInfo) {
	var all []procInfo
	for _, r := range roots {
		if p, ok := readProc(r.pid); ok && p.start == r.start {
			all = append(all, p)
			all = append(all, descendants(r.pid)...)
		}
	}
	if len(all) == 0 {
		return
	}
	stop()
	deadline := time.Now().Add(grace)
	for time.Now().Before(deadline) && anyAlive(all) {
		time.Sleep(50 * time.Millisecond)
	}
	for _, p := range all {
		if q, ok := readProc(p.pid); ok && q.start == p.start {
			_ = syscall.Kill(p.pid, syscall.SIGKILL)
		}
	}
}

func anyAlive(ps []procInfo) bool {
	for _, p := range ps {
		if q, ok := readProc(p.pid); ok && q.start == p.start {
			return true
		}
	}
	return false
}
