package engine

import (
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/proc"
)

// TestSampler_ForgetDropsRemovedComponents checks that what the sampler
// keeps of a component removed by a reload is dropped at the next tick,
// and that of the components still supervised is kept.
func TestSampler_ForgetDropsRemovedComponents(t *testing.T) {
	sm := newSampler(nil)
	kept, removed := &component{}, &component{}
	now := time.Now()
	for _, c := range []*component{kept, removed} {
		key := treeKey{c, 0, 42}
		cs := sm.component(c)
		cs.next, cs.last, cs.scanned = now, now, now
		ts := sm.tree(key)
		ts.tree, ts.walkCost = []proc.Ident{{PID: 42}}, 2
	}
	sm.forget([]*component{kept})
	for name, n := range map[string]int{"components": len(sm.comps), "trees": len(sm.trees)} {
		if n != 1 {
			t.Errorf("%s has %d entries after forget, want the kept component's only", name, n)
		}
	}
	if _, ok := sm.comps[kept]; !ok {
		t.Error("forget dropped the component still supervised")
	}
	if _, ok := sm.trees[treeKey{kept, 0, 42}]; !ok {
		t.Error("forget dropped the tree of the component still supervised")
	}
}
