package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// procInfo is what the comparison reads of a process from /proc.
type procInfo struct {
	pid, ppid int
	start     uint64 // start time in clock ticks since boot: tells a pid's reuse apart
	comm      string
}

// readProc reads /proc/PID/stat; ok is false when the process is gone.
func readProc(pid int) (procInfo, bool) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procInfo{}, false
	}
	s := string(b)
	open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || close < open || close+2 >= len(s) {
		return procInfo{}, false
	}
	f := strings.Fields(s[close+2:])
	if len(f) < 20 || f[0] == "Z" {
		return procInfo{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return procInfo{pid: pid, ppid: ppid, start: start, comm: s[open+1 : close]}, true
}

// allProcs reads every live process.
func allProcs() []procInfo {
	ents, _ := os.ReadDir("/proc")
	out := make([]procInfo, 0, len(ents))
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if p, ok := readProc(pid); ok {
			out = append(out, p)
		}
	}
	return out
}

// descendants returns every live descendant of pid (not pid itself).
func descendants(pid int) []procInfo {
	children := map[int][]procInfo{}
	for _, p := range allProcs() {
		children[p.ppid] = append(children[p.ppid], p)
	}
	var out []procInfo
	queue := []int{pid}
	for len(queue) > 0 && len(out) < 100_000 {
		for _, c := range children[queue[0]] {
			out = append(out, c)
			queue = append(queue, c.pid)
		}
		queue = queue[1:]
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
