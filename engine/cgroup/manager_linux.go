package cgroup

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// opened counts Managers opened by this process, so that several
// supervisors in one program (tests) get roots of their own.
var opened atomic.Int64

// Manager creates, and removes again, the cgroups of one thorp: a root,
// <thorp's cgroup>/thorp-PID (thorp-PID.N for the Nth Manager of one
// process), a directory per component in it and one per instance's
// process in that. It is safe for concurrent use; Close is safe twice.
type Manager struct {
	plan Plan

	root2, rootMem string // the roots it created ("" when not used)
	selfMoved      bool   // thorp moved itself into root2/supervisor (see delegateMemory)

	files openFiles // root2's cpu.stat, kept open (see CPU)

	mu      sync.Mutex
	created []string // component directories it created, in order
	closed  bool
}

// Open decides the plan for layout l and creates thorp's root cgroups.
// Where a root cannot be created (not root, a read-only cgroupfs, a
// controller that cannot be delegated), that part falls back to the
// process tree and the plan says why. The Manager is nil when nothing
// uses a cgroup.
func Open(l Layout) (*Manager, Plan) {
	p := MakePlan(l)
	if p.tracking == "" && p.memory == "" {
		return nil, p
	}
	name := "thorp-" + strconv.Itoa(os.Getpid())
	if n := opened.Add(1); n > 1 {
		name += "." + strconv.FormatInt(n, 10)
	}
	m := &Manager{}
	if p.tracking != "" {
		dir := filepath.Join(p.tracking, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			p = fallBack(p, err)
		} else if p.trackV2 {
			m.root2 = dir
			p.cgroupKil = exists(filepath.Join(dir, "cgroup.kill"))
			if p.memoryV2 {
				moved, err := delegateMemory(p.tracking, dir)
				m.selfMoved = moved
				if err != nil {
					p.memoryV2, p.MemoryHigh = false, false
					p.Memory = Part{By: treeMemory, Why: "v2 memory controller not delegated to thorp's cgroup: " + err.Error()}
				}
			}
		} else {
			m.rootMem = dir // pure v1: the memory hierarchy tracks too
		}
	}
	if p.memory != "" && m.rootMem == "" {
		dir := filepath.Join(p.memory, name)
		if err := os.Mkdir(dir, 0o755); err != nil {
			p.memory = ""
			p.Memory = Part{By: treeMemory, Why: "cannot create " + dir + ": " + err.Error()}
		} else {
			m.rootMem = dir
		}
	}
	m.plan = p
	if m.root2 == "" && m.rootMem == "" {
		return nil, p
	}
	return m, p
}

// fallBack turns tracking (and memory on cgroup2) back to the process
// tree after err.
func fallBack(p Plan, err error) Plan {
	why := err.Error()
	p.tracking, p.trackV2, p.cgroupKil = "", false, false
	p.Tracking = Part{By: treeTracking, Why: why}
	p.Kill = Part{By: treeKill, Why: "no cgroup"}
	p.CPU = Part{By: treeCPU, Why: "no cgroup"}
	if p.memoryV2 {
		p.memoryV2, p.MemoryHigh = false, false
		p.Memory = Part{By: treeMemory, Why: why}
	}
	return p
}

// delegateMemory enables the memory controller for the children of own
// (thorp's cgroup) and of root (thorp's root under it). cgroup v2 lets a
// cgroup that holds processes enable no controller for its children, so
// when own holds only thorp (a systemd unit with Delegate=yes) thorp moves
// itself into root/supervisor first; it stays there.
func delegateMemory(own, root string) (moved bool, err error) {
	if !slices.Contains(controllers(own, "cgroup.subtree_control"), "memory") {
		err := write(filepath.Join(own, "cgroup.subtree_control"), "+memory")
		if isBusy(err) {
			pids, rerr := os.ReadFile(filepath.Join(own, "cgroup.procs"))
			if rerr != nil {
				return false, rerr
			}
			if ps := parsePIDs(pids, nil); len(ps) != 0 {
				return false, fmt.Errorf("%s holds other processes than thorp (%d); run thorp in a cgroup of its own, such as a systemd unit with Delegate=yes", own, len(ps))
			}
			self := filepath.Join(root, "supervisor")
			if err := os.Mkdir(self, 0o755); err != nil {
				return false, err
			}
			if err := write(filepath.Join(self, "cgroup.procs"), strconv.Itoa(os.Getpid())); err != nil {
				_ = rmdir(self)
				return false, fmt.Errorf("move thorp into %s: %w", self, err)
			}
			moved = true
			err = write(filepath.Join(own, "cgroup.subtree_control"), "+memory")
		}
		if err != nil {
			return moved, err
		}
	}
	return moved, write(filepath.Join(root, "cgroup.subtree_control"), "+memory")
}

// Plan is the plan Open settled on. Safe for concurrent use.
func (m *Manager) Plan() Plan { return m.plan }

// Root is the directory of thorp's root cgroup on the hierarchy that
// tracks processes ("" when none does).
func (m *Manager) Root() string {
	if m.root2 != "" {
		return m.root2
	}
	if m.plan.tracking != "" {
		return m.rootMem
	}
	return ""
}

// MemoryV1 reports whether its groups have a directory on the v1 memory
// hierarchy: one whose usage thresholds Alarms can watch.
func (m *Manager) MemoryV1() bool { return m.rootMem != "" }

// V1Home is thorp's own cgroup on the v1 memory hierarchy, where a
// thread that forked into a Group's V1Dir goes back to.
func (m *Manager) V1Home() string { return m.plan.Layout.Memory }

// NewGroup creates the cgroup of one process of instance of component,
// before the process starts: <root>/<component>/<instance>, or
// <instance>.1, .2, … while an earlier process of the instance still
// has its cgroup (an overlap restart). memoryHigh > 0 sets memory.high
// where the plan allows it.
func (m *Manager) NewGroup(component string, instance int, memoryHigh int64) (*Group, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errors.New("cgroups closed")
	}
	g := &Group{killByFile: m.plan.cgroupKil}
	var err error
	if m.root2 != "" {
		if g.v2, err = m.leaf(m.root2, component, instance, m.plan.memoryV2); err != nil {
			return nil, err
		}
		g.memoryV2 = m.plan.memoryV2
	}
	if m.rootMem != "" {
		if g.mem, err = m.leaf(m.rootMem, component, instance, false); err != nil {
			g.remove()
			return nil, err
		}
		// v1 has no CLONE_INTO_CGROUP: the process joins after it
		// starts, and its first pages move with it.
		_ = write(filepath.Join(g.mem, "memory.move_charge_at_immigrate"), "1")
	}
	if memoryHigh > 0 && g.memoryV2 {
		if err := write(filepath.Join(g.v2, "memory.high"), strconv.FormatInt(memoryHigh, 10)); err != nil {
			g.remove()
			return nil, fmt.Errorf("memory_high: %w", err)
		}
	}
	return g, nil
}

// leaf creates root/component (once) and a fresh instance directory in it.
func (m *Manager) leaf(root, component string, instance int, delegate bool) (string, error) {
	comp := filepath.Join(root, component)
	if err := os.Mkdir(comp, 0o755); err == nil {
		m.created = append(m.created, comp)
		if delegate {
			if err := write(filepath.Join(comp, "cgroup.subtree_control"), "+memory"); err != nil {
				return "", fmt.Errorf("enable memory in %s: %w", comp, err)
			}
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return "", err
	}
	base := filepath.Join(comp, strconv.Itoa(instance))
	for i := range 64 {
		dir := base
		if i > 0 {
			dir += "." + strconv.Itoa(i)
		}
		err := os.Mkdir(dir, 0o755)
		if err == nil {
			return dir, nil
		}
		if !errors.Is(err, fs.ErrExist) {
			return "", err
		}
	}
	return "", fmt.Errorf("%s: 64 cgroups of the instance exist already", base)
}

// CPU is the CPU time used by every process that ran in the groups it
// created (cpu.stat's usage_usec of its cgroup2 root): while it does not
// move, no process of any group ran. ok is false without a cgroup2 root,
// or when thorp itself runs in it (see delegateMemory).
func (m *Manager) CPU() (d time.Duration, ok bool, err error) {
	if m.root2 == "" || m.selfMoved {
		return 0, false, nil
	}
	d, err = readCPU(&m.files, m.root2)
	return d, true, err
}

// Close removes the component directories and the roots it created, each
// only if empty (a process still in one keeps it). Safe twice.
func (m *Manager) Close() error {
	if m == nil {
		return nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil
	}
	m.closed = true
	m.files.close()
	var errs []error
	for _, dir := range slices.Backward(m.created) {
		errs = append(errs, rmdir(dir))
	}
	for _, dir := range []string{m.root2, m.rootMem} {
		if dir != "" && !(dir == m.root2 && m.selfMoved) {
			errs = append(errs, rmdir(dir))
		}
	}
	// thorp itself stays in root2/supervisor until it exits; the
	// unit's cgroup goes with the unit.
	return errors.Join(errs...)
}

// rmdir removes an empty cgroup it created; one already gone is fine.
func rmdir(dir string) error {
	if err := os.Remove(dir); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// write writes s to a cgroup file (no O_CREATE, no O_TRUNC: cgroupfs
// files exist).
func write(path, s string) error {
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(s)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
