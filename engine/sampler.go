package engine

import (
	"context"
	"slices"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/proc"
)

// procRoot is where /proc is mounted.
const procRoot = "/proc"

// minSampleInterval is the sampler's fastest tick (memory_interval's floor).
const minSampleInterval = 100 * time.Millisecond

// displayInterval is the sampling period of components that have neither
// max_memory_restart nor memory_policy: their figures are only shown, so
// they are sampled at most this often, which keeps an idle thorp idle.
const displayInterval = 5 * time.Second

// sampleInterval is how often c is sampled.
func sampleInterval(c *config.Component) time.Duration {
	d := max(c.MemoryInterval, minSampleInterval)
	if c.MaxMemoryRestart == 0 && c.MemoryPolicy == nil {
		d = max(d, displayInterval)
	}
	return d
}

// usageSample is one measurement of one instance's process tree.
type usageSample struct {
	instance int
	pid      int // the main process it was taken for
	time     time.Time
	memory   int64 // RSS or PSS, as memory_measure says
	rss, pss int64
	procs    int          // processes in the tree
	cpu      float64      // cumulative CPU seconds of the component, never decreasing
	cpuPct   float64      // CPU use of this instance's tree since its previous sample, % of one core
	escaped  []proc.Ident // descendants that left the process group
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

// sampler measures every component's process trees from one goroutine:
// one pass over /proc per tick, then a walk per due component, so the cost
// stays flat as components grow. Results go to each component's inbox; a
// slow component loop never delays the others (a newer sample replaces an
// unread one).
type sampler struct {
	sup *Supervisor

	// owned by the run goroutine
	next   map[*component]time.Time
	trees  map[treeKey][]proc.Ident
	cpu    map[*component]*proc.CPUCounter
	icpu   map[treeKey]*instanceCPU
	ticks  map[proc.Ident]uint64 // the component's processes at this sample
	iticks map[proc.Ident]uint64 // one instance's
}

type treeKey struct {
	c        *component
	instance int
	pid      int
}

func newSampler(s *Supervisor) *sampler {
	return &sampler{
		sup:   s,
		next:  map[*component]time.Time{},
		trees: map[treeKey][]proc.Ident{},
		cpu:   map[*component]*proc.CPUCounter{},
		icpu:  map[treeKey]*instanceCPU{},
	}
}

// run samples until ctx is done. It sleeps until the next component is
// due (at least minSampleInterval), so an idle thorp wakes rarely.
func (sm *sampler) run(ctx context.Context, comps func() []*component) {
	clk := sm.sup.clock
	t := clk.NewTimer(minSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C():
			next := sm.tick(now, comps())
			t.Reset(max(next.Sub(clk.Now()), minSampleInterval))
		}
	}
}

// nextSampleIn is how long until c is sampled again: its interval, or
// sooner when the growth estimate says the limit will be crossed before
// then (a steady leak is caught right after it crosses, not up to a whole
// interval later).
func nextSampleIn(cc *config.Component, st Status) time.Duration {
	d := sampleInterval(cc)
	if ttl := time.Duration(st.MemoryTimeToLimitSeconds * float64(time.Second)); ttl > 0 && ttl < d {
		d = max(ttl+10*time.Millisecond, minSampleInterval)
	}
	return d
}

// tick samples the components whose interval has come round and returns
// when the next one is due.
func (sm *sampler) tick(now time.Time, comps []*component) time.Time {
	var due []*component
	next := now.Add(displayInterval)
	for _, c := range comps {
		if at, ok := sm.next[c]; ok && now.Before(at) {
			next = minTime(next, at)
			continue
		}
		due = append(due, c)
		next = minTime(next, now.Add(sampleInterval(c.config())))
	}
	if len(due) == 0 {
		return next
	}
	tab, err := proc.Scan(procRoot)
	if err != nil {
		return next
	}

	seen := map[treeKey]bool{}
	for _, c := range due {
		cc := c.config()
		st := c.status()
		sm.next[c] = now.Add(nextSampleIn(cc, st))
		pss := cc.MemoryMeasure == "pss"

		counter := sm.cpu[c]
		if counter == nil {
			counter = &proc.CPUCounter{}
			sm.cpu[c] = counter
		}
		sm.ticks = clear2(sm.ticks)
		var samples []usageSample
		for _, in := range st.Instances {
			if in.PID <= 0 {
				continue
			}
			key := treeKey{c, in.Index, in.PID}
			tree := tab.Tree(in.PID, in.PID, sm.trees[key])
			sm.trees[key] = tree
			seen[key] = true
			u := tab.Usage(procRoot, tree, pss)
			sm.iticks = tab.CPUTicks(tree, sm.iticks)
			for id, n := range sm.iticks {
				sm.ticks[id] = n
			}
			ic := sm.icpu[key]
			if ic == nil {
				ic = &instanceCPU{}
				sm.icpu[key] = ic
			}
			pct := ic.update(sm.iticks, now)
			var escaped []proc.Ident
			for _, id := range tree {
				if s, ok := tab.Get(id.PID); ok && s.PGID != in.PID {
					escaped = append(escaped, id)
				}
			}
			samples = append(samples, usageSample{instance: in.Index, pid: in.PID, time: now,
				memory: u.Memory(pss), rss: u.RSS, pss: u.PSS, procs: u.Procs, cpuPct: pct, escaped: escaped})
		}
		cpu := counter.Update(sm.ticks)
		for i := range samples {
			samples[i].cpu = cpu
		}
		if len(samples) > 0 {
			c.in.postSamples(samples)
		}
	}
	// Forget the trees of processes that are gone (only for components
	// sampled now; others keep theirs until their turn).
	for key := range sm.trees {
		if !seen[key] && slices.Contains(due, key.c) {
			delete(sm.trees, key)
			delete(sm.icpu, key)
		}
	}
	for _, c := range due {
		next = minTime(next, sm.next[c]) // may be sooner: see nextSampleIn
	}
	return next
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
