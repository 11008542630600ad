package policies

import (
	"math"
	"slices"
	"testing"
)

func TestDecideHealth_Series(t *testing.T) {
	tests := []struct {
		name     string
		failures int
		checks   []bool
		want     []bool
	}{
		{"three misses in a row", 3, []bool{true, false, false, false, false}, []bool{false, false, false, true, true}},
		{"a pass resets", 3, []bool{false, false, true, false, false, true}, []bool{false, false, false, false, false, false}},
		{"failures 1", 1, []bool{true, false}, []bool{false, true}},
		{"failures 0 acts as 1", 0, []bool{false}, []bool{true}},
		{"recovers after restart decision", 2, []bool{false, false, true, false}, []bool{false, true, false, false}},
		{"all passing", 3, []bool{true, true, true}, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st HealthState
			var got []bool
			for _, ok := range tt.checks {
				var restart bool
				restart, st = DecideHealth(HealthPolicy{Failures: tt.failures}, st, ok)
				got = append(got, restart)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("restarts %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecideHealth_Overflow(t *testing.T) {
	restart, st := DecideHealth(HealthPolicy{Failures: 3}, HealthState{Misses: math.MaxInt}, false)
	if !restart || st.Misses <= 0 {
		t.Fatalf("got %v, %+v", restart, st)
	}
}
