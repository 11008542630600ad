package cgroup

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// Group is the cgroup of one process of a component instance (and of
// everything it forks): a directory on the cgroup2 hierarchy, one on the
// v1 memory hierarchy, or both. Its methods are safe for concurrent use.
type Group struct {
	v2, mem    string // directories; "" when not on that hierarchy
	memoryV2   bool   // memory is read on v2
	killByFile bool   // cgroup.kill exists
	files      openFiles
}

// Dir is the directory its processes are tracked in.
func (g *Group) Dir() string {
	if g.v2 != "" {
		return g.v2
	}
	return g.mem
}

// V1Dir is its directory on the v1 memory hierarchy ("" when none): a
// child forked by a thread in it starts in it (spawn.Spec.V1Cgroup).
func (g *Group) V1Dir() string { return g.mem }

// OpenDir opens its cgroup2 directory for CLONE_INTO_CGROUP
// (syscall.SysProcAttr.CgroupFD): the child starts in the cgroup, before
// it can fork. Nil without a cgroup2 directory; the caller closes it.
func (g *Group) OpenDir() (*os.File, error) {
	if g.v2 == "" {
		return nil, nil
	}
	return os.OpenFile(g.v2, os.O_RDONLY|syscall.O_DIRECTORY, 0)
}

// Join moves pid into the group where it did not start in it: the v1
// memory directory always (v1 has no CLONE_INTO_CGROUP), the cgroup2 one
// when inV2 is false.
func (g *Group) Join(pid int, inV2 bool) error {
	s := strconv.Itoa(pid)
	var errs []error
	if g.v2 != "" && !inV2 {
		errs = append(errs, write(filepath.Join(g.v2, "cgroup.procs"), s))
	}
	if g.mem != "" {
		errs = append(errs, write(filepath.Join(g.mem, "cgroup.procs"), s))
	}
	return errors.Join(errs...)
}

// Procs lists the processes in the group into buf (reused) and returns it.
func (g *Group) Procs(buf []int) ([]int, error) {
	buf = buf[:0]
	err := g.files.read(fileProcs, g.Dir(), "cgroup.procs", func(b []byte) error {
		buf = parsePIDs(b, buf)
		return nil
	})
	return buf, err
}

// Signal sends sig to every process in the group.
func (g *Group) Signal(sig syscall.Signal) error {
	pids, err := g.Procs(nil)
	for _, pid := range pids {
		_ = syscall.Kill(pid, sig)
	}
	return err
}

// Kill SIGKILLs every process in the group: cgroup.kill where the kernel
// has it (atomic: a process forking meanwhile cannot escape), else
// SIGKILL to each listed process (see killEach).
func (g *Group) Kill() error {
	if g.killByFile && g.v2 != "" {
		return write(filepath.Join(g.v2, "cgroup.kill"), "1")
	}
	return killEach(g.Dir())
}

// KillDir kills every process in the cgroup directory dir as Group.Kill
// does (the fence, after thorp died, knows only the directory).
func KillDir(dir string) error {
	if err := write(filepath.Join(dir, "cgroup.kill"), "1"); err == nil {
		return nil
	}
	return killEach(dir)
}

// killEach SIGKILLs each process in dir's cgroup.procs, again for
// processes that appear meanwhile, until a read lists none it has not
// killed (at most 100 rounds: a fork bomb may outrun it).
func killEach(dir string) error {
	var pids []int
	killed := map[int]bool{}
	for range 100 {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			return err
		}
		fresh := false
		for _, pid := range parsePIDs(b, pids) {
			if !killed[pid] {
				killed[pid], fresh = true, true
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
		if !fresh {
			return nil
		}
	}
	return fmt.Errorf("%s: processes still forking after 100 rounds of SIGKILL", dir)
}

// Empty reports whether no process is left in the group (a zombie not
// yet reaped still counts as in it on v1, not on v2). A group whose
// cgroup.procs cannot be read (removed by someone else) counts as empty.
func (g *Group) Empty() bool {
	pids, err := g.Procs(nil)
	return err != nil || len(pids) == 0
}

// Memory reads the group's memory: memory.current minus memory.stat's
// inactive_file on the v2 memory controller, memory.usage_in_bytes minus
// total_inactive_file on v1. ok is false when the group has no memory
// controller.
func (g *Group) Memory() (m Memory, ok bool, err error) {
	switch {
	case g.memoryV2:
		m, err = g.readMemory(fileMemoryCurrent, g.v2, "memory.current", "inactive_file")
	case g.mem != "":
		m, err = g.readMemory(fileUsageV1, g.mem, "memory.usage_in_bytes", "total_inactive_file")
	default:
		return Memory{}, false, nil
	}
	return m, true, err
}

// readMemory reads the usage file usageFile (kept as file which: on v1
// the one UsageV1 and Alarms use, not a second descriptor of it) and
// memory.stat of dir.
func (g *Group) readMemory(which int, dir, usageFile, inactiveKey string) (Memory, error) {
	var usage [32]byte // a decimal number and a newline
	n := 0
	err := g.files.read(which, dir, usageFile, func(b []byte) error {
		n = copy(usage[:], b)
		return nil
	})
	if err != nil {
		return Memory{}, err
	}
	var m Memory
	err = g.files.read(fileMemoryStat, dir, "memory.stat", func(b []byte) error {
		m, err = memoryFrom(usage[:n], b, inactiveKey)
		return err
	})
	return m, err
}

// UsageV1 reads the v1 memory directory's memory.usage_in_bytes, the
// figure its memory thresholds compare with (see Alarms). ok is false
// without a v1 memory directory.
func (g *Group) UsageV1() (usage int64, ok bool, err error) {
	if g.mem == "" {
		return 0, false, nil
	}
	err = g.files.read(fileUsageV1, g.mem, "memory.usage_in_bytes", func(b []byte) error {
		usage, err = strconv.ParseInt(string(bytes.TrimSpace(b)), 10, 64)
		return err
	})
	return usage, true, err
}

// CPU is the CPU time used by every process that ran in the group
// (cpu.stat's usage_usec on cgroup2). ok is false without a cgroup2
// directory.
func (g *Group) CPU() (d time.Duration, ok bool, err error) {
	if g.v2 == "" {
		return 0, false, nil
	}
	d, err = readCPU(&g.files, g.v2)
	return d, true, err
}

// readCPU reads usage_usec of dir's cpu.stat through files.
func readCPU(files *openFiles, dir string) (d time.Duration, err error) {
	err = files.read(fileCPU, dir, "cpu.stat", func(b []byte) error {
		us, found := statValue(b, "usage_usec")
		if !found {
			return errors.New("cpu.stat has no usage_usec")
		}
		d = time.Duration(us) * time.Microsecond
		return nil
	})
	return d, err
}

// Remove removes the group's directories once its processes are gone
// (rmdir fails on a cgroup with processes: it is left alone then). The
// files its reads kept open are closed first; the group's methods still
// work after, reading by path.
func (g *Group) Remove() error {
	g.files.close()
	return g.remove()
}

func (g *Group) remove() error {
	var errs []error
	for _, dir := range []string{g.v2, g.mem} {
		if dir != "" {
			errs = append(errs, rmdir(dir))
		}
	}
	return errors.Join(errs...)
}

// Dirs are its directories, one per hierarchy it is on.
func (g *Group) Dirs() []string {
	var out []string
	for _, dir := range []string{g.v2, g.mem} {
		if dir != "" {
			out = append(out, dir)
		}
	}
	return out
}

// RemoveKilled removes the cgroups dirs of processes killed by KillDir
// after thorp died (the fence), once each is empty (waiting at most
// wait in all), then their component and thorp-PID directories where
// those are empty: dirs must be Group directories, <root>/thorp-PID/
// COMPONENT/INSTANCE, and nothing above thorp-PID is touched.
func RemoveKilled(dirs []string, wait time.Duration) {
	deadline := time.Now().Add(wait)
	for _, dir := range dirs {
		for !emptyDir(dir) && time.Now().Before(deadline) {
			time.Sleep(10 * time.Millisecond)
		}
		if rmdir(dir) != nil {
			continue
		}
		comp := filepath.Dir(dir)
		root := filepath.Dir(comp)
		if !strings.HasPrefix(filepath.Base(root), "thorp-") {
			continue
		}
		if rmdir(comp) == nil {
			_ = rmdir(root)
		}
	}
}

func emptyDir(dir string) bool {
	b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
	return err != nil || len(parsePIDs(b, nil)) == 0
}
