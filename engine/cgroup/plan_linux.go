package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"golang.org/x/sys/unix"
)

// Part says how one part of process supervision works: through a cgroup
// (Cgroup true, By naming which) or not, and Why.
type Part struct {
	Cgroup bool
	By     string
	Why    string
}

func (p Part) String() string {
	if p.Why == "" {
		return p.By
	}
	return p.By + " (" + p.Why + ")"
}

// Plan is which mechanism each part of supervision uses on this host.
type Plan struct {
	Layout Layout
	// Tracking is how a component's processes are found: the cgroup2
	// hierarchy's cgroup.procs, the v1 memory hierarchy's, or the
	// process tree under the main process.
	Tracking Part
	// Kill is how they are killed at the end of a stop.
	Kill Part
	// Memory is what a memory_measure = "cgroup" sample reads.
	Memory Part
	// CPU is where an instance's CPU time comes from.
	CPU Part
	// MemoryHigh is whether memory_high can be set (memory.high on the v2
	// memory controller).
	MemoryHigh bool

	tracking  string // directory thorp's cgroups go under ("" for the process tree)
	trackV2   bool   // tracking is on the cgroup2 hierarchy
	memory    string // v1 memory directory thorp's cgroups go under ("" when not v1)
	memoryV2  bool   // memory is read on the cgroup2 hierarchy
	cgroupKil bool   // cgroup.kill exists
}

// Lines describes the plan, one part a line, for thorp check and the log.
func (p Plan) Lines() []string {
	high := "memory_high: memory.high on the v2 memory controller"
	if !p.MemoryHigh {
		high = "memory_high: cannot be applied (needs the v2 memory controller)"
	}
	return []string{
		"layout: " + p.Layout.Describe(),
		"tracking: " + p.Tracking.String(),
		"kill: " + p.Kill.String(),
		"memory: " + p.Memory.String(),
		"cpu: " + p.CPU.String(),
		high,
	}
}

// treeWalk is the fallback of every part.
var (
	treeTracking = "process tree (the main process's process group and its descendants found in /proc)"
	treeKill     = "SIGKILL to the process group and to descendants that left it"
	treeMemory   = "process tree walk (RSS of each process)"
	treeCPU      = "process tree walk (/proc/PID/stat of each process)"
)

// MakePlan decides, without creating anything, how each part works on
// layout l: the cgroup2 hierarchy where thorp's cgroup there is writable,
// else the v1 memory hierarchy where that is, else the process tree.
func MakePlan(l Layout) Plan {
	p := Plan{Layout: l}
	v2Err, memErr := errNoHierarchy("cgroup2"), errNoHierarchy("v1 memory")
	if l.Unified != "" {
		v2Err = writable(l.Unified)
	}
	if l.Memory != "" {
		memErr = writable(l.Memory)
	}
	switch {
	case v2Err == nil:
		p.tracking, p.trackV2 = l.Unified, true
		p.Tracking = Part{Cgroup: true, By: "cgroup v2 at " + l.Unified, Why: "cgroup.procs lists every process however it forked"}
		p.CPU = Part{Cgroup: true, By: "cpu.stat usage_usec"}
		p.cgroupKil = hasCgroupKill(l)
		if p.cgroupKil {
			p.Kill = Part{Cgroup: true, By: "cgroup.kill", Why: "nothing escapes through setsid or a double fork"}
		} else {
			p.Kill = Part{Cgroup: true, By: "SIGKILL to each process in cgroup.procs", Why: "no cgroup.kill: Linux before 5.14"}
		}
	case memErr == nil:
		p.tracking = l.Memory
		p.Tracking = Part{Cgroup: true, By: "cgroup v1 memory hierarchy at " + l.Memory, Why: "cgroup2: " + v2Err.Error()}
		p.Kill = Part{Cgroup: true, By: "SIGKILL to each process in cgroup.procs", Why: "no cgroup.kill on cgroup v1"}
		p.CPU = Part{By: treeCPU, Why: "no cpu.stat without cgroup2"}
	default:
		why := "cgroup2: " + v2Err.Error() + "; v1 memory: " + memErr.Error()
		p.Tracking = Part{By: treeTracking, Why: why}
		p.Kill = Part{By: treeKill, Why: "no cgroup"}
		p.CPU = Part{By: treeCPU, Why: "no cgroup"}
	}
	switch {
	case p.trackV2 && slices.Contains(controllers(l.Unified, "cgroup.controllers"), "memory"):
		p.memoryV2, p.MemoryHigh = true, true
		p.Memory = Part{Cgroup: true, By: "v2 memory controller: memory.current minus inactive_file"}
	case memErr == nil:
		p.memory = l.Memory
		why := ""
		if l.Unified != "" && p.trackV2 {
			why = "the cgroup2 hierarchy has no memory controller"
		}
		p.Memory = Part{Cgroup: true, By: "v1 memory controller at " + l.Memory + ": memory.usage_in_bytes minus total_inactive_file", Why: why}
	default:
		why := "no memory controller"
		if l.Memory != "" {
			why = "v1 memory: " + memErr.Error()
		}
		p.Memory = Part{By: treeMemory, Why: why}
	}
	return p
}

func errNoHierarchy(what string) error { return fmt.Errorf("no %s hierarchy mounted", what) }

// writable says why thorp cannot create cgroups under dir (nil when it can).
func writable(dir string) error {
	if err := unix.Access(dir, unix.W_OK); err != nil {
		return fmt.Errorf("%s is not writable: %w", dir, err)
	}
	return nil
}

// controllers reads a space-separated controller list (cgroup.controllers,
// cgroup.subtree_control) in dir.
func controllers(dir, file string) []string {
	b, err := os.ReadFile(filepath.Join(dir, file))
	if err != nil {
		return nil
	}
	return strings.Fields(string(b))
}

// hasCgroupKill says whether the kernel has cgroup.kill (Linux 5.14), which
// every cgroup but the root has: thorp's own cgroup, or at the root one of
// its children.
func hasCgroupKill(l Layout) bool {
	if l.Unified != l.UnifiedMount {
		return exists(filepath.Join(l.Unified, "cgroup.kill"))
	}
	ents, err := os.ReadDir(l.Unified)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if e.IsDir() {
			return exists(filepath.Join(l.Unified, e.Name(), "cgroup.kill"))
		}
	}
	// No cgroup to look in: go by the kernel's version.
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var major, minor int
	if _, err := fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &major, &minor); err != nil {
		return false
	}
	return major > 5 || major == 5 && minor >= 14
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// isBusy reports the error a cgroup write gives when the no-internal-
// processes rule forbids it.
func isBusy(err error) bool { return errors.Is(err, unix.EBUSY) }
