package engine

import (
	"errors"
	"log/slog"
	"math"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/cgroup"
	"github.com/thorp-dev/thorp/engine/proc"
	"github.com/thorp-dev/thorp/engine/spawn"
)

// cgroups is the Supervisor's side of package cgroup: the Manager (nil
// when processes are tracked through the process tree) and the cgroup of
// each running main process by pid, which the sampler reads. Safe for
// concurrent use; open and close belong to Run.
type cgroups struct {
	m    *cgroup.Manager
	plan cgroup.Plan

	mu    sync.Mutex
	byPID map[int]*cgroup.Group

	// asked are the components to sample at once, since the sampler
	// last took them (see askSample); poke tells it.
	asked []*component
	poke  chan struct{}
}

// watchesMemory reports whether the sampler can be woken by the kernel
// when a process's memory grows (memory usage thresholds of the v1
// memory controller; cgroup2 has none) instead of sampling every
// memory_interval.
func (cg *cgroups) watchesMemory() bool { return cg.m != nil && cg.m.MemoryV1() }

// askSample makes the sampler sample c at once, once c's snapshot shows
// why: a process started in a cgroup (it has no alarm yet), or a reload
// changed how c's memory is judged (its alarms are for the old limit).
func (cg *cgroups) askSample(c *component) {
	cg.mu.Lock()
	if !slices.Contains(cg.asked, c) {
		cg.asked = append(cg.asked, c)
	}
	cg.mu.Unlock()
	select {
	case cg.poke <- struct{}{}:
	default:
	}
}

// takeAsked returns the components asked for since the last call, in buf.
func (cg *cgroups) takeAsked(buf []*component) []*component {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	buf = append(buf[:0], cg.asked...)
	clear(cg.asked)
	cg.asked = cg.asked[:0]
	return buf
}

// open creates thorp's cgroups on layout l and logs which mode each part
// uses and why.
func (cg *cgroups) open(l cgroup.Layout, log *slog.Logger) {
	cg.m, cg.plan = cgroup.Open(l)
	cg.byPID = map[int]*cgroup.Group{}
	cg.poke = make(chan struct{}, 1)
	lines := cg.plan.Lines()
	args := make([]any, 0, 2*len(lines)+2)
	if cg.m != nil {
		args = append(args, "root", cg.m.Root())
	}
	for _, line := range lines {
		k, v, _ := strings.Cut(line, ": ")
		args = append(args, k, v)
	}
	log.Info("cgroups", args...)
}

// close removes the cgroups of components and thorp's root (each only if
// empty).
func (cg *cgroups) close(log *slog.Logger) {
	if err := cg.m.Close(); err != nil {
		log.Warn("cgroups left behind", "err", err)
	}
}

// group returns the cgroup of the main process pid (nil when none).
func (cg *cgroups) group(pid int) *cgroup.Group {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	return cg.byPID[pid]
}

// each calls f for every process's cgroup.
func (cg *cgroups) each(f func(*cgroup.Group)) {
	cg.mu.Lock()
	defer cg.mu.Unlock()
	for _, g := range cg.byPID {
		f(g)
	}
}

// spawnInto starts spec in a new cgroup of instance of c, when thorp
// has cgroups: the child is in it from its fork on cgroup2, and joins the
// v1 memory cgroup at once after. Without cgroups, or when one cannot be
// created (logged), the process is tracked through its process tree.
func (s *Supervisor) spawnInto(c *component, instance int, p *process, spec spawn.Spec, onExit func(spawn.Exit)) (spawn.Process, error) {
	cg := &s.cg
	if cg.m == nil {
		return s.spawner.Spawn(spec, onExit)
	}
	g, err := cg.m.NewGroup(c.cfg.Name, instance, int64(c.cfg.MemoryHigh))
	if err != nil {
		c.log.Warn("no cgroup for the process: tracking it through its process tree", "instance", instance, "err", err)
		return s.spawner.Spawn(spec, onExit)
	}
	dir, err := g.OpenDir()
	if err != nil {
		c.log.Warn("cannot open the process's cgroup: it joins it after it starts", "instance", instance, "err", err)
	}
	spec.Cgroup = dir
	if v1 := g.V1Dir(); v1 != "" {
		spec.V1Cgroup, spec.V1Home = v1, cg.m.V1Home()
	}
	child, err := s.spawner.Spawn(spec, onExit)
	if dir != nil && errors.Is(err, syscall.ENOSYS) {
		// No clone3 (Linux before 5.7): join after the fork instead.
		spec.Cgroup, dir = nil, nil
		child, err = s.spawner.Spawn(spec, onExit)
	}
	if spec.Cgroup != nil {
		spec.Cgroup.Close()
	}
	if err != nil {
		_ = g.Remove()
		return child, err
	}
	if err := g.Join(child.PID, dir != nil); err != nil {
		c.log.Warn("process did not join its cgroup", "instance", instance, "pid", child.PID, "err", err)
	}
	p.cg = g
	for _, dir := range g.Dirs() {
		s.fence.AddCgroup(dir)
	}
	cg.mu.Lock()
	cg.byPID[child.PID] = g
	cg.mu.Unlock()
	if cg.watchesMemory() && watchable(c.cfg) {
		c.askSample = true
	}
	return child, nil
}

// releaseCgroup removes p's cgroup once p and everything it started are
// gone.
func (s *Supervisor) releaseCgroup(c *component, p *process) {
	if p.cg == nil {
		return
	}
	s.cg.mu.Lock()
	if s.cg.byPID[p.pid] == p.cg {
		delete(s.cg.byPID, p.pid)
	}
	s.cg.mu.Unlock()
	for _, dir := range p.cg.Dirs() {
		s.fence.RemoveCgroup(dir)
	}
	if err := p.cg.Remove(); err != nil {
		c.log.Warn("cannot remove the process's cgroup", "pid", p.pid, "err", err)
	}
}

// cgroupReader reads the samples of instances that run in a cgroup
// through it, and those of the others through the pass over /proc: the
// processes are those cgroup.procs lists (however they forked), the CPU
// time cpu.stat's, and the memory the cgroup's (memory_measure =
// "cgroup", where the memory controller is there) or the RSS or PSS of
// the listed processes.
//
// An instance whose cgroup used no CPU since the last reading that read
// its files keeps that reading's processes and memory, for up to
// idleRereadEvery: a process that did not run cannot have forked, faulted
// pages in or grown its heap. Whether it ran is one read for all
// instances while none ran (the CPU time of thorp's root cgroup, read at
// the start of the pass, did not move since the instance's last
// reading), else one read of its own cpu.stat, instead of cgroup.procs
// and a statm per process. What can change without it running is
// reclaim lowering its memory, which the re-read catches; PSS, which
// changes with what other processes map, is always read.
type cgroupReader struct {
	cg       *cgroups
	pass     *procReader
	now      time.Time       // the pass's
	rootCPU  time.Duration   // the CPU time of every group at the start of the pass; 0: not known
	byCgroup bool            // memory_measure = "cgroup"
	pids     []int           // cgroup.procs, reused
	stats    *proc.StatFiles // the listed processes' stat (or statm) files, kept open between samples
}

// idleRereadEvery is how long an instance whose cgroup uses no CPU keeps
// its last reading (see cgroupReader).
const idleRereadEvery = time.Minute

// cgroupCPU is the start time of the made-up process whose CPU ticks are
// a cgroup's cpu.stat, keyed by its main process's pid: no process of
// the tree has it, so the CPU counters count the cgroup as one process.
const cgroupCPU = math.MaxUint64

// startPass readies r for the pass over /proc made at now.
func (r *cgroupReader) startPass(cg *cgroups, pass *procReader, now time.Time) {
	r.cg, r.pass, r.now, r.rootCPU = cg, pass, now, 0
	if d, ok, err := cg.m.CPU(); ok && err == nil {
		r.rootCPU = d
	}
}

func (r *cgroupReader) readInstance(pid int, prev *treeState, pss bool, ticks map[proc.Ident]uint64) instanceReading {
	g := r.cg.group(pid)
	if g == nil {
		return r.pass.readInstance(pid, prev, pss, ticks)
	}
	reusable := !pss && r.pass.tab == nil && prev.groupCPU > 0 &&
		!prev.readAt.IsZero() && r.now.Sub(prev.readAt) < idleRereadEvery
	cpu, hasCPU, err := prev.groupCPU, true, error(nil)
	if !reusable || r.rootCPU == 0 || r.rootCPU != prev.rootCPU {
		cpu, hasCPU, err = g.CPU()
		hasCPU = hasCPU && err == nil
	}
	if reusable && hasCPU && cpu == prev.groupCPU {
		rd := instanceReading{tree: prev.tree, usage: prev.usage, ticks: clear2(ticks), groupCPU: cpu, rootCPU: r.rootCPU, reused: true}
		rd.ticks[proc.Ident{PID: pid, StartTime: cgroupCPU}] = uint64(cpu.Seconds() * proc.ClockTicks)
		return rd
	}
	pids, err := g.Procs(r.pids)
	r.pids = pids
	if err != nil {
		return r.pass.readInstance(pid, prev, pss, ticks)
	}
	rd := instanceReading{tree: prev.tree[:0], ticks: clear2(ticks)} // prev's memory: the sampler keeps only this reading's tree
	rd.usage.Procs = len(pids)
	measured := false
	if r.byCgroup {
		if m, ok, err := g.Memory(); ok && err == nil {
			rd.usage.RSS, measured = m.Bytes, true
		}
	}
	if !measured && !pss && hasCPU && r.pass.tab == nil {
		// The RSS alone, from the listed processes' statm (cheaper
		// than their stat). The tree stays empty: only a walk of /proc
		// would use it, and it reads the group afresh.
		rd.usage.RSS, _ = r.stats.ReadRSS(pids)
		measured = true
	}
	var tab *proc.Table
	if !measured || !hasCPU {
		// The listed processes' stat: from the pass's scan, or read
		// one by one (cgroup.procs lists them all: no children to read).
		if tab = r.pass.tab; tab == nil {
			tab = r.stats.ReadStats(pids)
		}
		for _, p := range pids {
			if st, ok := tab.Get(p); ok {
				rd.tree = append(rd.tree, st.Ident())
			}
		}
	}
	if !measured {
		u := tab.Usage(r.pass.root, rd.tree, pss)
		rd.usage.RSS, rd.usage.PSS = u.RSS, u.PSS
	}
	if hasCPU {
		rd.ticks[proc.Ident{PID: pid, StartTime: cgroupCPU}] = uint64(cpu.Seconds() * proc.ClockTicks)
		rd.usage.CPUSeconds = cpu.Seconds()
		rd.groupCPU, rd.rootCPU = cpu, r.rootCPU
	} else {
		rd.ticks = tab.CPUTicks(rd.tree, rd.ticks)
	}
	return rd
}

// needsProc reports whether sampling d reads /proc: not when every
// instance with a process is read through its cgroup, memory and CPU
// included.
func (cg *cgroups) needsProc(d dueComponent) bool {
	if cg.m == nil || d.cc.MemoryMeasure != "cgroup" || !cg.plan.Memory.Cgroup || !cg.plan.CPU.Cgroup {
		return true
	}
	return !cg.tracksAll(d)
}

// tracksAll reports whether every instance of d with a process has a
// cgroup: its processes are those cgroup.procs lists, so no pass over
// /proc is needed to find one that left its process tree.
func (cg *cgroups) tracksAll(d dueComponent) bool {
	if cg.m == nil {
		return false
	}
	for _, in := range d.st.Instances {
		if in.PID > 0 && cg.group(in.PID) == nil {
			return false
		}
	}
	return true
}
