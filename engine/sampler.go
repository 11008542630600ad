package engine

import (
	"context"
	"slices"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/proc"
	"github.com/thorp-dev/thorp/policies"
)

// procRoot is where /proc is mounted.
const procRoot = "/proc"

// minSampleInterval is the sampler's fastest tick (memory_interval's floor).
const minSampleInterval = 100 * time.Millisecond

// displayInterval is the sampling period of components that have neither
// max_memory_restart nor memory_policy: their figures are only shown, so
// they are sampled at most this often, which keeps an idle thorp idle.
const displayInterval = 5 * time.Second

// watchedInterval is the sampling period of a component whose memory
// limit the kernel watches (see memoryAlarms): a backstop for growth its
// cgroup's usage does not show (pages charged to another cgroup) and the
// refresh of the figures shown, as for components without a limit.
const watchedInterval = displayInterval

// minAlarmGap is the shortest time between two samples of a component of
// which one is for an alarm or a new process: a sample made just before
// the crossing (scheduled from the growth estimate) does not delay the
// one the crossing's alarm asks for, and a cgroup whose usage keeps
// crossing its threshold (file cache) is sampled at most 50 times a
// second.
const minAlarmGap = 20 * time.Millisecond

// maxConfirmDelay bounds the wait for a confirming sample (see
// confirmDelay).
const maxConfirmDelay = 200 * time.Millisecond

// statSweepEvery is how often the stat files the cgroup reader keeps
// open are swept (see proc.StatFiles.Sweep): longer than the default
// sampling periods, so that a process read at either keeps its file. One
// read less often is opened again for each read: so is an idle one,
// whose files are read once every idleRereadEvery (its samples in
// between read none).
const statSweepEvery = 2 * displayInterval

// fullScanEvery is how often each component's trees are read from a pass
// over all of /proc even when walking them would read fewer files: only
// that finds a process of the component's group whose parent exited
// before the sampler first saw it (see proc.Walk).
const fullScanEvery = time.Minute

// sampleInterval is how often c is sampled.
func sampleInterval(c *config.Component) time.Duration {
	d := max(c.MemoryInterval, minSampleInterval)
	if c.MaxMemoryRestart == 0 && c.MemoryPolicy == nil {
		d = max(d, displayInterval)
	}
	return d
}

// sameMemoryJudgement reports whether a and b judge and sample memory
// alike: a reload that changes any of it must not wait for the next
// scheduled sample of a watched component (see askSample).
func sameMemoryJudgement(a, b *config.Component) bool {
	return a.MaxMemoryRestart == b.MaxMemoryRestart && config.SameFunc(a.MemoryPolicy, b.MemoryPolicy) &&
		a.MemoryMeasure == b.MemoryMeasure && a.MemoryInterval == b.MemoryInterval && a.MemorySamples == b.MemorySamples
}

// watchable reports whether c's memory limit can be watched by memory
// usage thresholds: max_memory_restart without a memory_policy (a
// policy judges every sample, taken every memory_interval).
func watchable(c *config.Component) bool {
	return c.MaxMemoryRestart > 0 && c.MemoryPolicy == nil
}

// samplePeriod is how often s samples c while nothing wakes it: its
// sampleInterval, or watchedInterval when the kernel watches its memory.
func (s *Supervisor) samplePeriod(c *config.Component) time.Duration {
	d := sampleInterval(c)
	if s.cg.watchesMemory() && watchable(c) {
		d = max(d, watchedInterval)
	}
	return d
}

// confirmDelay is how soon c is sampled again after a sample over
// max_memory_restart when memory_samples asks for more than one in a row:
// memory_interval, but at most maxConfirmDelay. A leak that crossed the
// limit is confirmed a fraction of a second later rather than a whole
// interval; a spike that is gone by then restarts nothing.
func confirmDelay(c *config.Component) time.Duration {
	return max(min(c.MemoryInterval, maxConfirmDelay), minSampleInterval)
}

// confirms reports whether c's memory limit is judged over consecutive
// samples (the threshold of max_memory_restart with memory_samples > 1;
// a memory_policy judges each sample itself).
func confirms(c *config.Component) bool {
	return c.MaxMemoryRestart > 0 && c.MemoryPolicy == nil && c.MemorySamples > 1
}

// usageSample is one measurement of one instance's process tree.
type usageSample struct {
	instance int
	pid      int // the main process it was taken for
	time     time.Time
	memory   int64           // RSS, PSS or the cgroup's, as memory_measure says
	rss, pss int64           // with memory_measure = "cgroup" read there, rss is memory and pss 0
	procs    int             // processes in the tree
	cpu      float64         // cumulative CPU seconds of the component, never decreasing
	cpuPct   float64         // CPU use of this instance's tree since its previous sample, % of one core
	escaped  []proc.Ident    // descendants that left the process group
	growth   policies.Growth // the estimate of the process's memory growth, this sample included
}

// instanceCPU turns one instance process's cumulative CPU time into a
// percentage: the growth between two samples over the time between them.
type instanceCPU struct {
	counter proc.CPUCounter
	seconds float64   // counter's total at the last sample
	at      time.Time // when; zero before the first
}

// update takes the tree's CPU ticks at now and returns the % of one core
// used since the previous sample (0 at the first).
func (ic *instanceCPU) update(ticks map[proc.Ident]uint64, now time.Time) float64 {
	secs := ic.counter.Update(ticks)
	pct := 0.0
	if dt := now.Sub(ic.at).Seconds(); !ic.at.IsZero() && dt > 0 {
		pct = max(secs-ic.seconds, 0) / dt * 100
	}
	ic.seconds, ic.at = secs, now
	return pct
}

// sampler decides when each component is sampled and hands the samples
// to the components, from one goroutine: all components due at a tick
// are read in one pass, so an idle thorp wakes once per period whatever
// the number of components. What a sample reads is a usageReader's job.
// Results go to each component's inbox; a slow component loop never
// delays the others (a newer sample replaces an unread one).
type sampler struct {
	sup *Supervisor

	// owned by the run goroutine
	comps    map[*component]*componentState
	trees    map[treeKey]*treeState
	scanLen  int                   // processes in the last full scan; 0 before the first
	ticks    map[proc.Ident]uint64 // the component's processes at this sample
	iticks   map[proc.Ident]uint64 // one instance's
	cgReader cgroupReader          // see readerFor
	swept    time.Time             // when the cgroup reader's kept stat files were last swept
	alarms   memoryAlarms
	asked    []*component // cgroups.takeAsked's, reused
	pass     uint64       // ticks that sampled, counted
	due      []dueComponent
	posts    []samplesPost
}

// samplesPost is a component's samples of one pass, posted after it.
type samplesPost struct {
	c       *component
	samples []usageSample
}

type treeKey struct {
	c        *component
	instance int
	pid      int
}

// componentState is what the sampler keeps of one component between
// samples.
type componentState struct {
	next    time.Time       // when it is due; zero: at once
	last    time.Time       // when it was last sampled; zero: never
	pass    uint64          // the sampler's pass that sampled it last
	scanned time.Time       // when its trees were last read by a full scan; zero: never
	cpu     proc.CPUCounter // its processes' CPU time
}

// treeState is what the sampler keeps of one instance process's tree
// between samples.
type treeState struct {
	tree     []proc.Ident // its processes at the last sample
	pass     uint64       // the sampler's pass that read it last
	walkCost int          // files a proc.Walk of it reads; 0: not known
	cpu      instanceCPU
	growth   *policies.GrowthEstimator
	// Through its cgroup: what the last reading that read the files
	// found, when, and the CPU time of the group and of every group
	// (see cgroupReader).
	usage             proc.Usage
	readAt            time.Time
	groupCPU, rootCPU time.Duration
}

func newSampler(s *Supervisor) *sampler {
	return &sampler{sup: s, comps: map[*component]*componentState{}, trees: map[treeKey]*treeState{}}
}

// component returns what the sampler keeps of c, made at its first use.
func (sm *sampler) component(c *component) *componentState {
	cs := sm.comps[c]
	if cs == nil {
		cs = &componentState{}
		sm.comps[c] = cs
	}
	return cs
}

// tree returns what the sampler keeps of key's tree, made at its first
// use.
func (sm *sampler) tree(key treeKey) *treeState {
	ts := sm.trees[key]
	if ts == nil {
		ts = &treeState{growth: policies.NewGrowthEstimator(growthWindow, growthSamples)}
		sm.trees[key] = ts
	}
	return ts
}

// run samples until ctx is done. It sleeps until the next component is
// due (each component's own schedule keeps minSampleInterval between
// samples, minAlarmGap after an alarm or a new process), until the kernel
// says a watched process's memory crossed its threshold, or until a
// component asks for a sample (it started a process to watch, or a reload
// changed its memory settings), so an idle thorp wakes rarely.
func (sm *sampler) run(ctx context.Context, comps func() []*component) {
	clk := sm.sup.clock
	t := clk.NewTimer(minSampleInterval)
	defer t.Stop()
	defer func() {
		if sm.cgReader.stats != nil {
			sm.cgReader.stats.Close()
		}
	}()
	var poke <-chan struct{} // nil without cgroups: never ready
	if sm.sup.cg.watchesMemory() {
		poke = sm.sup.cg.poke
		if err := sm.alarms.open(sm.sup.log); err != nil {
			sm.sup.log.Warn("memory limits are sampled every memory_interval", "err", err)
		}
		defer sm.alarms.close()
	}
	for {
		var now time.Time
		select {
		case <-ctx.Done():
			return
		case now = <-t.C():
		case ids := <-sm.alarms.fired:
			now = clk.Now()
			for _, id := range ids {
				if key, ok := sm.alarms.keys[id]; ok {
					sm.sampleSoon(key.c, now)
				}
			}
		case <-poke:
			now = clk.Now()
			sm.asked = sm.sup.cg.takeAsked(sm.asked)
			for _, c := range sm.asked {
				sm.sampleSoon(c, now)
			}
			clear(sm.asked)
		}
		next := sm.tick(now, comps())
		t.Reset(max(next.Sub(clk.Now()), minAlarmGap))
	}
}

// sampleSoon makes c due now, or minAlarmGap after its previous sample
// if that is later.
func (sm *sampler) sampleSoon(c *component, now time.Time) {
	cs := sm.component(c)
	at := now
	if !cs.last.IsZero() {
		at = maxTime(at, cs.last.Add(minAlarmGap))
	}
	if cs.next.IsZero() || at.Before(cs.next) {
		cs.next = at
	}
}

// nextSampleIn is how long until c is sampled again: its interval (at
// least watchedInterval when watched: the kernel watches every process of
// c, see memoryAlarms); the confirm delay when its last sample was over the limit and more samples
// must confirm it (over); or sooner when the growth estimate of the
// sample just taken says the limit will be crossed before then, ttl from
// now (a steady leak is caught right after it crosses, not up to a whole
// interval later; 0: no crossing expected).
func nextSampleIn(cc *config.Component, ttl time.Duration, over, watched bool) time.Duration {
	d := sampleInterval(cc)
	if watched {
		d = max(d, watchedInterval)
	}
	if over && confirms(cc) {
		d = min(d, confirmDelay(cc))
	}
	if ttl > 0 && ttl < d {
		d = max(ttl+10*time.Millisecond, minSampleInterval)
	}
	return d
}

// nextSampleAt is when a component sampled at now is sampled again, d
// later: a period of displayInterval or more ends at the next multiple of
// it on the clock, the same for every component with that period, so that
// components sampled apart (woken by their memory, started at different
// times) are sampled in one pass again rather than each waking thorp.
func nextSampleAt(now time.Time, d time.Duration) time.Time {
	if d >= displayInterval {
		return now.Truncate(d).Add(d)
	}
	return now.Add(d)
}

// dueComponent is a component sampled at this tick, with its status.
type dueComponent struct {
	c  *component
	cc *config.Component
	st *Status // the published snapshot's: read only, never copied
}

// tick samples the components whose interval has come round and returns
// when the next one is due.
func (sm *sampler) tick(now time.Time, comps []*component) time.Time {
	sm.forget(comps)
	due := sm.due[:0]
	defer func() { clear(due); sm.due = due[:0] }()
	next := now.Add(displayInterval)
	for _, c := range comps {
		if cs := sm.comps[c]; cs != nil && now.Before(cs.next) {
			next = minTime(next, cs.next)
			continue
		}
		due = append(due, dueComponent{c: c, cc: c.config(), st: &c.view.Load().status})
	}
	if len(due) == 0 {
		return next
	}
	pass := sm.newPass(now, due)
	if sm.sup.cg.m != nil {
		sm.cgReader.startPass(&sm.sup.cg, pass, now)
	}
	sm.pass++
	// The samples go out together after the pass: posted one by one
	// between reads, each would wake a component loop on another thread
	// that has gone back to sleep since the previous one.
	posts := sm.posts[:0]
	defer func() {
		for _, p := range posts {
			p.c.in.postSamples(p.samples)
		}
		clear(posts)
		sm.posts = posts[:0]
	}()
	for _, d := range due {
		c, cc := d.c, d.cc
		cs := sm.component(c)
		cs.last, cs.pass = now, sm.pass
		watch := sm.alarms.on() && watchable(cc)
		watched := watch  // every instance is watched or needs no watching
		resample := false // an instance grew past its new threshold already
		pss := cc.MemoryMeasure == "pss"
		rd := sm.readerFor(cc, pass)
		sm.ticks = clear2(sm.ticks)
		var samples []usageSample
		over := false
		var ttl time.Duration // the soonest expected crossing of the limit
		for _, in := range d.st.Instances {
			if in.PID <= 0 {
				// Between two processes it comes back soon; stopped
				// or errored, it has nothing to watch.
				watched = watched && (in.State == StateStopped || in.State == StateErrored)
				continue
			}
			key := treeKey{c, in.Index, in.PID}
			ts := sm.tree(key)
			r := rd.readInstance(in.PID, ts, pss, sm.iticks)
			sm.iticks = r.ticks
			ts.tree, ts.usage, ts.groupCPU, ts.rootCPU = r.tree, r.usage, r.groupCPU, r.rootCPU
			if !r.reused {
				ts.readAt = now
			}
			if r.walkCost > 0 {
				ts.walkCost = r.walkCost
			}
			ts.pass = sm.pass
			for id, n := range r.ticks {
				sm.ticks[id] = n
			}
			pct := ts.cpu.update(r.ticks, now)
			memory := r.usage.Memory(pss)
			over = over || (cc.MaxMemoryRestart > 0 && memory > int64(cc.MaxMemoryRestart))
			ts.growth.Add(now, memory)
			switch {
			case watch && r.reused && sm.alarms.armedFor(key, int64(cc.MaxMemoryRestart)):
				// Nothing ran, the memory is the reading's that armed it.
			case watch:
				ok, crossed := sm.alarms.arm(key, sm.sup.cg.group(in.PID), memory, int64(cc.MaxMemoryRestart))
				watched, resample = watched && ok, resample || crossed
			default:
				sm.alarms.disarm(key) // a reload took the limit away or set a memory_policy
			}
			growth := ts.growth.Estimate(int64(cc.MaxMemoryRestart), now)
			if t := timeToLimit(growth, memory, int64(cc.MaxMemoryRestart)); t > 0 && (ttl == 0 || t < ttl) {
				ttl = t
			}
			samples = append(samples, usageSample{instance: in.Index, pid: in.PID, time: now,
				memory: memory, rss: r.usage.RSS, pss: r.usage.PSS, procs: r.usage.Procs, cpuPct: pct, escaped: r.escaped,
				growth: growth})
		}
		cpu := cs.cpu.Update(sm.ticks)
		for i := range samples {
			samples[i].cpu = cpu
		}
		if len(samples) > 0 {
			posts = append(posts, samplesPost{c, samples})
		}
		cs.next = nextSampleAt(now, nextSampleIn(cc, ttl, over, watched))
		if resample {
			cs.next = now.Add(minAlarmGap)
		}
		next = minTime(next, cs.next)
	}
	// Close the stat files of processes no longer read (a file is kept
	// while its process is read at least every statSweepEvery).
	if st := sm.cgReader.stats; st != nil && now.Sub(sm.swept) >= statSweepEvery {
		st.Sweep()
		sm.swept = now
	}
	// Forget the trees of processes that are gone (only for components
	// sampled now; others keep theirs until their turn).
	for key, ts := range sm.trees {
		if cs := sm.comps[key.c]; ts.pass != sm.pass && cs != nil && cs.pass == sm.pass {
			sm.forgetTree(key)
		}
	}
	return next
}

// forget drops what the sampler kept of components that are no longer
// supervised (removed by a reload).
func (sm *sampler) forget(comps []*component) {
	if len(sm.comps) <= len(comps) {
		return
	}
	live := make(map[*component]bool, len(comps))
	for _, c := range comps {
		live[c] = true
	}
	for c := range sm.comps {
		if !live[c] {
			delete(sm.comps, c)
		}
	}
	for key := range sm.trees {
		if !live[key.c] {
			sm.forgetTree(key)
		}
	}
}

// forgetTree drops what the sampler kept of one instance process's tree.
func (sm *sampler) forgetTree(key treeKey) {
	delete(sm.trees, key)
	sm.alarms.disarm(key)
}

// newPass returns the /proc reader of one tick: a full scan shared by the
// due components when walking their trees would read more files than the
// scan did last time, when none was made yet, or when one of them whose
// processes are not all in cgroups was last read by a scan
// fullScanEvery ago; else a walk of each tree.
func (sm *sampler) newPass(now time.Time, due []dueComponent) *procReader {
	files := 0
	scan := sm.scanLen == 0
	if sm.sup.cg.m != nil { // without cgroups every sample reads /proc
		due = slices.DeleteFunc(slices.Clone(due), func(d dueComponent) bool { return !sm.sup.cg.needsProc(d) })
		if len(due) == 0 {
			return &procReader{root: procRoot} // every sample reads cgroups only
		}
	}
	for _, d := range due {
		// A full scan finds processes that left the tree before a walk
		// saw them; a cgroup lists those.
		if cs := sm.comps[d.c]; (cs == nil || now.Sub(cs.scanned) >= fullScanEvery) && !sm.sup.cg.tracksAll(d) {
			scan = true
		}
		for _, in := range d.st.Instances {
			if in.PID > 0 {
				cost := 0
				if ts := sm.trees[treeKey{d.c, in.Index, in.PID}]; ts != nil {
					cost = ts.walkCost
				}
				files += max(cost, 2)
			}
		}
	}
	if !scan && files < sm.scanLen {
		return &procReader{root: procRoot}
	}
	tab, err := proc.Scan(procRoot)
	if err != nil {
		return &procReader{root: procRoot} // walk: better than nothing
	}
	sm.scanLen = tab.Len()
	for _, d := range due {
		sm.component(d.c).scanned = now
	}
	return &procReader{root: procRoot, tab: tab}
}

// readerFor returns what reads cc's samples in this pass.
func (sm *sampler) readerFor(cc *config.Component, pass *procReader) usageReader {
	if sm.sup.cg.m != nil {
		r := &sm.cgReader // one for every component: its buffers are reused
		r.byCgroup = cc.MemoryMeasure == "cgroup"
		if r.stats == nil {
			r.stats = proc.NewStatFiles(pass.root)
		}
		return r
	}
	return pass
}

// instanceReading is one read of an instance's process tree.
type instanceReading struct {
	tree     []proc.Ident          // the tree's processes: prev at the next read
	usage    proc.Usage            // what they use
	ticks    map[proc.Ident]uint64 // CPU ticks of each process of the tree
	escaped  []proc.Ident          // processes of the tree outside the main process's group
	walkCost int                   // files a proc.Walk of the tree reads; 0 if not known
	groupCPU time.Duration         // the CPU time of the instance's cgroup, when read through it
	rootCPU  time.Duration         // that of every cgroup, read before it; 0: not read
	reused   bool                  // the tree and usage are the previous reading's (see cgroupReader)
}

// usageReader reads one instance's process tree and what it uses. The
// sampler calls it from its goroutine only, and decides when: a reader
// only reads. procReader reads /proc; a reader of other sources (a
// cgroup's files) implements the same.
type usageReader interface {
	// readInstance reads the tree whose main process is pid, which is
	// also its process group. prev is what the sampler kept of the
	// previous readings of the same process (empty at the first), ticks
	// a map it may clear and reuse for the reading's ticks.
	readInstance(pid int, prev *treeState, pss bool, ticks map[proc.Ident]uint64) instanceReading
}

// procReader reads trees from /proc for one pass: from the pass's scan of
// every process (tab) when it made one, else by walking each tree.
type procReader struct {
	root string
	tab  *proc.Table // nil: walk
}

func (r *procReader) readInstance(pid int, prev *treeState, pss bool, ticks map[proc.Ident]uint64) instanceReading {
	tab := r.tab
	if tab == nil {
		tab = proc.Walk(r.root, pid, prev.tree)
	}
	tree := tab.Tree(pid, pid, prev.tree)
	rd := instanceReading{tree: tree, usage: tab.Usage(r.root, tree, pss), ticks: tab.CPUTicks(tree, ticks),
		walkCost: tab.WalkCost(tree)}
	for _, id := range tree {
		if s, ok := tab.Get(id.PID); ok && s.PGID != pid {
			rd.escaped = append(rd.escaped, id)
		}
	}
	return rd
}

// timeToLimit is how long memory, growing as g says, takes to reach
// limit: from the sample itself rather than from the fitted line (which
// may already be over the limit while the sample is not, or the
// reverse), so the next sample lands just after the crossing. 0 when
// not growing, without a limit, or already over it.
func timeToLimit(g policies.Growth, memory, limit int64) time.Duration {
	left := float64(limit - memory)
	perSecond := g.BytesPerHour / 3600
	if !g.OK || limit <= 0 || left <= 0 || perSecond <= 0 {
		return 0
	}
	if secs := left / perSecond; secs < time.Hour.Seconds() {
		return max(time.Duration(secs*float64(time.Second)), 1)
	}
	return time.Hour
}

func maxTime(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

func clear2(m map[proc.Ident]uint64) map[proc.Ident]uint64 {
	if m == nil {
		return map[proc.Ident]uint64{}
	}
	clear(m)
	return m
}
