package policies

import (
	"math"
	"slices"
	"testing"
)

const mib = 1 << 20

func TestDecideMemory_Series(t *testing.T) {
	tests := []struct {
		name    string
		p       MemoryPolicy
		samples []int64 // MiB
		want    []bool
	}{
		{"spike then fall, samples 2", MemoryPolicy{Limit: 150 * mib, Samples: 2},
			[]int64{100, 200, 100, 100, 180, 120}, []bool{false, false, false, false, false, false}},
		{"steady climb, samples 2", MemoryPolicy{Limit: 150 * mib, Samples: 2},
			[]int64{100, 140, 150, 160, 180, 200}, []bool{false, false, false, false, true, true}},
		{"steady climb, samples 3", MemoryPolicy{Limit: 150 * mib, Samples: 3},
			[]int64{140, 151, 152, 153, 154}, []bool{false, false, false, true, true}},
		{"samples 1 acts on the first sample over", MemoryPolicy{Limit: 150 * mib, Samples: 1},
			[]int64{100, 149, 151}, []bool{false, false, true}},
		{"samples 0 acts as 1", MemoryPolicy{Limit: 150 * mib, Samples: 0},
			[]int64{100, 151}, []bool{false, true}},
		{"at the limit is not over", MemoryPolicy{Limit: 150 * mib, Samples: 1},
			[]int64{150, 150, 150}, []bool{false, false, false}},
		{"dip resets the count", MemoryPolicy{Limit: 150 * mib, Samples: 2},
			[]int64{160, 140, 160, 160}, []bool{false, false, false, true}},
		{"limit 0 is off", MemoryPolicy{Limit: 0, Samples: 1},
			[]int64{1 << 20, 1 << 30}, []bool{false, false}},
		{"negative limit is off", MemoryPolicy{Limit: -1, Samples: 1},
			[]int64{1, 1 << 30}, []bool{false, false}},
		{"falls back under after a restart decision", MemoryPolicy{Limit: 150 * mib, Samples: 2},
			[]int64{160, 170, 100, 160}, []bool{false, true, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st MemoryState
			var got []bool
			for _, s := range tt.samples {
				var d MemoryDecision
				d, st = DecideMemory(tt.p, st, s*mib)
				got = append(got, d.Restart)
				over := tt.p.Limit > 0 && s*mib > tt.p.Limit
				if over != (d.Why != "") {
					t.Errorf("sample %d MiB: why %q", s, d.Why)
				}
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("restarts %v, want %v", got, tt.want)
			}
		})
	}
}

func TestDecideMemory_Why(t *testing.T) {
	p := MemoryPolicy{Limit: 150 * mib, Samples: 2}
	d, st := DecideMemory(p, MemoryState{}, 170184499) // 162.3 MiB
	if want := "memory 162.3 MiB over limit 150 MiB (1 of 2 samples)"; d.Restart || d.Why != want {
		t.Fatalf("first: %+v, want why %q", d, want)
	}
	d, st = DecideMemory(p, st, 170184499)
	if want := "memory 162.3 MiB over limit 150 MiB for 2 samples"; !d.Restart || d.Why != want {
		t.Fatalf("second: %+v, want why %q", d, want)
	}
	if st.Over != 2 {
		t.Fatalf("over = %d", st.Over)
	}
	p.Samples = 1
	d, _ = DecideMemory(p, MemoryState{}, 200*mib)
	if want := "memory 200 MiB over limit 150 MiB for 1 sample"; d.Why != want {
		t.Fatalf("why %q, want %q", d.Why, want)
	}
	// The limit as the user wrote it.
	d, _ = DecideMemory(MemoryPolicy{Limit: 150e6, Samples: 1, LimitText: "150MB (143.1 MiB)"}, MemoryState{}, 200*mib)
	if want := "memory 200 MiB over limit 150MB (143.1 MiB) for 1 sample"; d.Why != want {
		t.Fatalf("why %q, want %q", d.Why, want)
	}
}

func TestDecideMemory_Overflow(t *testing.T) {
	d, st := DecideMemory(MemoryPolicy{Limit: 1, Samples: 2}, MemoryState{Over: math.MaxInt}, 2)
	if !d.Restart || st.Over <= 0 {
		t.Fatalf("got %+v, %+v", d, st)
	}
}

func TestFormatBytes(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1023, "1023 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{150 * mib, "150 MiB"},
		{150_000_000, "143.1 MiB"},
		{170184499, "162.3 MiB"},
		{1<<20 - 1, "1 MiB"},
		{3 << 30 / 2, "1.5 GiB"},
		{-2048, "-2 KiB"},
		{math.MaxInt64, "8 EiB"},
		{math.MinInt64, "-8 EiB"},
	}
	for _, tt := range tests {
		if got := formatBytes(tt.n); got != tt.want {
			t.Errorf("formatBytes(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}
