// Package fence kills what thorp started when thorp itself dies without
// stopping it (kill -9, OOM killer, a crash).
//
// A component's main process has a parent-death signal, but its own
// children do not: when thorp dies they would re-parent to init and run on.
// So thorp starts one small fence process (thorp's own binary, in its own
// session) and keeps the write end of a pipe to it. thorp tells the fence
// every process group it starts and every descendant that left its group
// (or, where it has them, every component process's cgroup);
// when the pipe reaches EOF, which the kernel guarantees however thorp
// ended, the fence SIGKILLs all of them and exits. After an orderly
// shutdown everything is already gone and the fence just exits.
//
// Writer is safe for concurrent use. Serve runs in the fence process.
package fence

import (
	"bufio"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"syscall"
)

// Writer sends registrations to a fence process. A nil Writer does nothing,
// so code paths without a fence (tests, embedding) need no checks.
type Writer struct {
	mu sync.Mutex
	w  io.WriteCloser
}

// NewWriter returns a Writer over w, the write end of the fence's stdin.
func NewWriter(w io.WriteCloser) *Writer { return &Writer{w: w} }

func (f *Writer) send(format string, a ...any) {
	if f == nil {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.w != nil {
		// A failed write means the fence died; supervision goes on without it.
		_, _ = fmt.Fprintf(f.w, format+"\n", a...)
	}
}

// AddGroup asks the fence to kill process group pgid if thorp dies.
func (f *Writer) AddGroup(pgid int) { f.send("+g %d", pgid) }

// RemoveGroup forgets pgid once the group is gone (its number may be reused).
func (f *Writer) RemoveGroup(pgid int) { f.send("-g %d", pgid) }

// AddProcess asks the fence to kill pid (if it still has start time start,
// in clock ticks since boot, from /proc/PID/stat) if thorp dies.
func (f *Writer) AddProcess(pid int, start uint64) { f.send("+p %d %d", pid, start) }

// RemoveProcess forgets pid.
func (f *Writer) RemoveProcess(pid int) { f.send("-p %d", pid) }

// AddCgroup asks the fence to kill every process in the cgroup directory
// dir if thorp dies (dir must not hold a newline).
func (f *Writer) AddCgroup(dir string) { f.send("+c %s", dir) }

// RemoveCgroup forgets dir once its processes are gone.
func (f *Writer) RemoveCgroup(dir string) { f.send("-c %s", dir) }

// Close closes the pipe: the fence kills whatever is still registered and
// exits. Safe twice.
func (f *Writer) Close() error {
	if f == nil {
		return nil
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.w == nil {
		return nil
	}
	err := f.w.Close()
	f.w = nil
	return err
}

// Serve is the fence process: it reads registrations from r until EOF, then
// kills every registered cgroup (killCgroup) and SIGKILLs every registered
// group and process. startTime reads a pid's start time so a reused pid is
// never killed; nil skips that check.
func Serve(r io.Reader, startTime func(pid int) (uint64, bool), killCgroup func(dir string) error) {
	groups := map[int]bool{}
	procs := map[int]uint64{}
	cgroups := map[string]bool{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		if op, dir, ok := strings.Cut(sc.Text(), " "); ok && (op == "+c" || op == "-c") {
			if op == "+c" {
				cgroups[dir] = true
			} else {
				delete(cgroups, dir)
			}
			continue
		}
		f := strings.Fields(sc.Text())
		if len(f) < 2 {
			continue
		}
		n, err := strconv.Atoi(f[1])
		if err != nil || n <= 1 {
			continue
		}
		switch f[0] {
		case "+g":
			groups[n] = true
		case "-g":
			delete(groups, n)
		case "+p":
			if len(f) == 3 {
				st, _ := strconv.ParseUint(f[2], 10, 64)
				procs[n] = st
			}
		case "-p":
			delete(procs, n)
		}
	}
	for dir := range cgroups {
		if killCgroup != nil {
			_ = killCgroup(dir)
		}
	}
	for pgid := range groups {
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
	for pid, st := range procs {
		if startTime != nil {
			if cur, ok := startTime(pid); !ok || cur != st {
				continue
			}
		}
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}
