package engine

import (
	"context"
	"sync"
	"time"

	"github.com/thorp-dev/thorp/engine/proc"
)

// procRoot is where /proc is mounted.
const procRoot = "/proc"

// minSampleInterval is the sampler's fastest tick (memory_interval's floor).
const minSampleInterval = 100 * time.Millisecond

// usageSample is one measurement of one instance's process tree.
type usageSample struct {
	instance int
	pid      int // the main process it was taken for
	time     time.Time
	memory   int64 // RSS or PSS, as memory_measure says
	rss, pss int64
	cpu      float64      // cumulative CPU seconds of the component, never decreasing
	escaped  []proc.Ident // descendants that left the process group
}

// sampler measures every component's process trees from one goroutine:
// one pass over /proc per tick, then a walk per due component, so the cost
// stays flat as components grow. Results go to each component's inbox; a
// slow component loop never delays the others (a newer sample replaces an
// unread one).
type sampler struct {
	sup *Supervisor

	// owned by the run goroutine
	next  map[*component]time.Time
	trees map[treeKey][]proc.Ident
	cpu   map[*component]*proc.CPUCounter
	ticks map[proc.Ident]uint64
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
	}
}

// run samples until ctx is done.
func (sm *sampler) run(ctx context.Context, comps func() []*component) {
	t := time.NewTicker(minSampleInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-t.C:
			sm.tick(now, comps())
		}
	}
}

// tick samples the components whose memory_interval has come round.
func (sm *sampler) tick(now time.Time, comps []*component) {
	var due []*component
	for _, c := range comps {
		if next, ok := sm.next[c]; ok && now.Before(next) {
			continue
		}
		due = append(due, c)
	}
	if len(due) == 0 {
		return
	}
	tab, err := proc.Scan(procRoot)
	if err != nil {
		return
	}
	seen := map[treeKey]bool{}
	for _, c := range due {
		cc := c.config()
		sm.next[c] = now.Add(max(cc.MemoryInterval, minSampleInterval))
		pss := cc.MemoryMeasure == "pss"
		st := c.status()
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
			sm.ticks = tab.CPUTicks(tree, sm.ticks)
			var escaped []proc.Ident
			for _, id := range tree {
				if s, ok := tab.Get(id.PID); ok && s.PGID != in.PID {
					escaped = append(escaped, id)
				}
			}
			samples = append(samples, usageSample{instance: in.Index, pid: in.PID, time: now,
				memory: u.Memory(pss), rss: u.RSS, pss: u.PSS, escaped: escaped})
		}
		cpu := counter.Update(sm.ticks)
		for i := range samples {
			samples[i].cpu = cpu
		}
		if len(samples) > 0 {
			c.deliver(samples)
		}
	}
	// Forget the trees of processes that are gone (only for components
	// sampled now; others keep theirs until their turn).
	for key := range sm.trees {
		if !seen[key] {
			for _, c := range due {
				if key.c == c {
					delete(sm.trees, key)
				}
			}
		}
	}
}

func clear2(m map[proc.Ident]uint64) map[proc.Ident]uint64 {
	if m == nil {
		return map[proc.Ident]uint64{}
	}
	clear(m)
	return m
}

// inbox holds the newest unread samples of a component.
type inbox struct {
	mu      sync.Mutex
	samples []usageSample
}

// deliver hands samples to the component's loop, replacing unread ones.
func (c *component) deliver(samples []usageSample) {
	c.in.mu.Lock()
	c.in.samples = samples
	c.in.mu.Unlock()
	c.poke()
}

func (c *component) takeSamples() []usageSample {
	c.in.mu.Lock()
	defer c.in.mu.Unlock()
	s := c.in.samples
	c.in.samples = nil
	return s
}
