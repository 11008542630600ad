package engine

import (
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/proc"
	"github.com/thorp-dev/thorp/policies"
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
		sm.next[c] = now
		sm.scanned[c] = now
		sm.cpu[c] = &proc.CPUCounter{}
		sm.trees[key] = []proc.Ident{{PID: 42}}
		sm.icpu[key] = &instanceCPU{}
		sm.walkCost[key] = 2
		sm.growth[key] = policies.NewGrowthEstimator(growthWindow, growthSamples)
	}
	sm.forget([]*component{kept})
	for name, n := range map[string]int{"next": len(sm.next), "scanned": len(sm.scanned), "cpu": len(sm.cpu),
		"trees": len(sm.trees), "icpu": len(sm.icpu), "walkCost": len(sm.walkCost), "growth": len(sm.growth)} {
		if n != 1 {
			t.Errorf("%s has %d entries after forget, want the kept component's only", name, n)
		}
	}
	if _, ok := sm.next[kept]; !ok {
		t.Error("forget dropped the component still supervised")
	}
	if _, ok := sm.trees[treeKey{kept, 0, 42}]; !ok {
		t.Error("forget dropped the tree of the component still supervised")
	}
}
