package policies

import "testing"

func TestReason_Properties(t *testing.T) {
	tests := []struct {
		r                         Reason
		counts, delayed, overlaps bool
	}{
		{ReasonCrash, true, false, false},
		{ReasonMemory, false, true, true},
		{ReasonHealth, false, true, true},
		{ReasonWatchdog, false, true, false},
		{ReasonManual, false, false, false},
		{ReasonReload, false, false, true},
		{ReasonCron, false, true, false},
		{ReasonConfig, false, false, false},
		{ReasonExit, true, false, false},
		{ReasonWatch, false, false, false},
	}
	if len(tests) != len(Reasons) {
		t.Fatalf("%d reasons tested, %d in Reasons", len(tests), len(Reasons))
	}
	for i, tt := range tests {
		if Reasons[i] != tt.r {
			t.Fatalf("Reasons[%d] = %q, want %q (DESIGN.md order)", i, Reasons[i], tt.r)
		}
		if got := tt.r.CountsTowardMaxRestarts(); got != tt.counts {
			t.Errorf("%s.CountsTowardMaxRestarts() = %v", tt.r, got)
		}
		if got := tt.r.WaitsRestartDelay(); got != tt.delayed {
			t.Errorf("%s.WaitsRestartDelay() = %v", tt.r, got)
		}
		if got := tt.r.Overlaps(); got != tt.overlaps {
			t.Errorf("%s.Overlaps() = %v", tt.r, got)
		}
	}
}
