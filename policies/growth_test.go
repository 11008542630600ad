package policies

import (
	"math"
	"math/rand"
	"testing"
	"time"
)

// feed adds n samples one interval apart from start, bytes given by f(i).
func feed(g *GrowthEstimator, start time.Time, interval time.Duration, n int, f func(i int) float64) time.Time {
	var t time.Time
	for i := range n {
		t = start.Add(time.Duration(i) * interval)
		g.Add(t, int64(f(i)))
	}
	return t
}

func within(got, want, frac float64) bool {
	return math.Abs(got-want) <= math.Abs(want)*frac
}

func TestGrowthEstimator_Estimate_LinearWithNoise(t *testing.T) {
	tests := []struct {
		name     string
		base     float64 // bytes
		perSec   float64 // bytes per second
		noise    float64 // relative amplitude
		n        int
		interval time.Duration
	}{
		// The seed: ~578 %/hour on a 100 MB process, sampled every second.
		{"seed leak", 100e6, 100e6 * 5.78 / 3600, 0.01, 300, time.Second},
		{"slow leak, long window", 200e6, 1e3, 0.001, 600, time.Second},
		{"fast leak, sparse samples", 50e6, 1e6, 0.05, 60, 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewSource(42))
			g := NewGrowthEstimator(time.Hour, 1000)
			last := feed(g, t0, tt.interval, tt.n, func(i int) float64 {
				v := tt.base + tt.perSec*(time.Duration(i)*tt.interval).Seconds()
				return v * (1 + tt.noise*(2*rng.Float64()-1))
			})
			gr := g.Estimate(0, last)
			if !gr.OK {
				t.Fatal("not OK")
			}
			if want := tt.perSec * 3600; !within(gr.BytesPerHour, want, 0.05) {
				t.Errorf("BytesPerHour = %.0f, want %.0f ±5%%", gr.BytesPerHour, want)
			}
			if want := tt.perSec * 3600 / tt.base * 100; !within(gr.PercentPerHour, want, 0.05) {
				t.Errorf("PercentPerHour = %.1f, want %.1f ±5%%", gr.PercentPerHour, want)
			}
			if gr.TimeToLimit != 0 {
				t.Errorf("TimeToLimit = %s without a limit", gr.TimeToLimit)
			}
		})
	}
}

func TestGrowthEstimator_Estimate_Flat(t *testing.T) {
	g := NewGrowthEstimator(time.Minute, 100)
	last := feed(g, t0, time.Second, 60, func(int) float64 { return 80e6 })
	gr := g.Estimate(150e6, last)
	if !gr.OK || gr.BytesPerHour != 0 || gr.PercentPerHour != 0 || gr.TimeToLimit != 0 {
		t.Fatalf("flat: %+v", gr)
	}

	rng := rand.New(rand.NewSource(7))
	g = NewGrowthEstimator(time.Minute, 100)
	last = feed(g, t0, time.Second, 60, func(int) float64 { return 80e6 * (1 + 0.001*(2*rng.Float64()-1)) })
	gr = g.Estimate(150e6, last)
	if !gr.OK || math.Abs(gr.PercentPerHour) > 5 {
		t.Fatalf("flat with noise: %+v, want |%%/hour| ≤ 5", gr)
	}
}

func TestGrowthEstimator_Estimate_TimeToLimit(t *testing.T) {
	tests := []struct {
		name  string
		limit int64
		slope float64 // bytes per second
		now   time.Duration
		want  time.Duration
	}{
		// 100 MB + 1 MB/s, samples at 0..9 s: at 9 s it holds 109 MB, 91 s to 200 MB.
		{"linear", 200e6, 1e6, 9 * time.Second, 91 * time.Second},
		{"now after the last sample", 200e6, 1e6, 19 * time.Second, 81 * time.Second},
		{"no limit", 0, 1e6, 9 * time.Second, 0},
		{"shrinking", 200e6, -1e6, 9 * time.Second, 0},
		{"already over", 105e6, 1e6, 9 * time.Second, 0},
		{"far away", math.MaxInt64, 1, 9 * time.Second, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGrowthEstimator(time.Minute, 100)
			feed(g, t0, time.Second, 10, func(i int) float64 { return 100e6 + tt.slope*float64(i) })
			gr := g.Estimate(tt.limit, t0.Add(tt.now))
			if !gr.OK {
				t.Fatal("not OK")
			}
			if d := gr.TimeToLimit - tt.want; d < -time.Millisecond || d > time.Millisecond {
				t.Fatalf("TimeToLimit = %s, want %s", gr.TimeToLimit, tt.want)
			}
		})
	}
}

func TestGrowthEstimator_Estimate_Enough(t *testing.T) {
	tests := []struct {
		name     string
		n        int
		interval time.Duration
		ok       bool
	}{
		{"none", 0, time.Second, false},
		{"two samples", 2, 10 * time.Second, false},
		{"three samples within 2s", 3, 900 * time.Millisecond, false},
		{"three samples spanning 2s", 3, time.Second, true},
		{"many samples at one instant", 10, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			g := NewGrowthEstimator(time.Minute, 100)
			last := feed(g, t0, tt.interval, tt.n, func(i int) float64 { return float64(i) * 1e6 })
			gr := g.Estimate(0, last)
			if gr.OK != tt.ok {
				t.Fatalf("OK = %v, want %v (%+v)", gr.OK, tt.ok, gr)
			}
			if !gr.OK && gr != (Growth{}) {
				t.Fatalf("not OK but %+v", gr)
			}
		})
	}
}

func TestGrowthEstimator_Estimate_Window(t *testing.T) {
	// Flat for a minute, then 1 MB/s for 30 s: a 20 s window sees only growth.
	g := NewGrowthEstimator(20*time.Second, 1000)
	feed(g, t0, time.Second, 60, func(int) float64 { return 100e6 })
	last := feed(g, t0.Add(60*time.Second), time.Second, 30, func(i int) float64 { return 100e6 + 1e6*float64(i+1) })
	gr := g.Estimate(0, last)
	if !gr.OK || !within(gr.BytesPerHour, 3600e6, 1e-9) {
		t.Fatalf("windowed: %+v, want 3.6e9 B/h", gr)
	}
	// Long after the last sample, nothing is left in the window.
	if gr := g.Estimate(0, last.Add(time.Hour)); gr.OK {
		t.Fatalf("stale samples still estimated: %+v", gr)
	}
	// Samples after now are not used.
	if gr := g.Estimate(0, t0.Add(59*time.Second)); !gr.OK || gr.BytesPerHour != 0 {
		t.Fatalf("future samples used: %+v", gr)
	}
}

func TestGrowthEstimator_Add_RingIsBounded(t *testing.T) {
	g := NewGrowthEstimator(0, 10)
	// 90 flat samples, then 10 growing ones: only the last 10 are kept.
	feed(g, t0, time.Second, 90, func(int) float64 { return 100e6 })
	last := feed(g, t0.Add(90*time.Second), time.Second, 10, func(i int) float64 { return 100e6 + 2e6*float64(i) })
	if g.Len() != 10 || len(g.samples) != 10 {
		t.Fatalf("holds %d samples in %d slots, want 10", g.Len(), len(g.samples))
	}
	if gr := g.Estimate(0, last); !gr.OK || !within(gr.BytesPerHour, 7200e6, 1e-9) {
		t.Fatalf("%+v, want 7.2e9 B/h from the last 10 samples", gr)
	}
	if small := NewGrowthEstimator(time.Minute, 0); len(small.samples) != DefaultGrowthSamples {
		t.Fatalf("maxSamples 0 gave %d slots", len(small.samples))
	}
}

func TestGrowthEstimator_Reset(t *testing.T) {
	g := NewGrowthEstimator(time.Minute, 50)
	last := feed(g, t0, time.Second, 30, func(i int) float64 { return 1e6 * float64(i) })
	if !g.Estimate(0, last).OK {
		t.Fatal("not OK before reset")
	}
	g.Reset()
	if g.Len() != 0 {
		t.Fatalf("Len = %d after reset", g.Len())
	}
	if gr := g.Estimate(0, last); gr != (Growth{}) {
		t.Fatalf("after reset: %+v", gr)
	}
	// After a restart the new run's samples stand alone.
	last = feed(g, last.Add(time.Second), time.Second, 5, func(int) float64 { return 5e6 })
	if gr := g.Estimate(0, last); !gr.OK || gr.BytesPerHour != 0 {
		t.Fatalf("after reset and a flat run: %+v", gr)
	}
}

func TestGrowthEstimator_Estimate_PercentFallsBackToMean(t *testing.T) {
	// Steep growth from 0: the fitted start is ≤ 0, so % is relative to the mean.
	g := NewGrowthEstimator(time.Minute, 100)
	last := feed(g, t0, time.Second, 11, func(i int) float64 { return 1e6 * float64(i) })
	gr := g.Estimate(0, last)
	if want := 3600e6 / 5e6 * 100; !gr.OK || !within(gr.PercentPerHour, want, 1e-9) {
		t.Fatalf("%+v, want %.0f %%/hour", gr, want)
	}
}

func BenchmarkGrowthEstimator_Estimate(b *testing.B) {
	g := NewGrowthEstimator(10*time.Minute, DefaultGrowthSamples)
	last := feed(g, t0, time.Second, DefaultGrowthSamples, func(i int) float64 { return 100e6 + 1e4*float64(i) })
	b.ReportAllocs()
	for b.Loop() {
		g.Estimate(150e6, last)
	}
}

func TestGrowthEstimator_Estimate_OutOfOrder(t *testing.T) {
	ordered := NewGrowthEstimator(time.Minute, 100)
	shuffled := NewGrowthEstimator(time.Minute, 100)
	for _, i := range []int{3, 0, 4, 1, 2, 6, 5} {
		shuffled.Add(t0.Add(time.Duration(i)*time.Second), int64(100e6+1e6*float64(i*i)))
	}
	for i := range 7 {
		ordered.Add(t0.Add(time.Duration(i)*time.Second), int64(100e6+1e6*float64(i*i)))
	}
	now := t0.Add(6 * time.Second)
	a, b := ordered.Estimate(200e6, now), shuffled.Estimate(200e6, now)
	if !a.OK || !within(b.BytesPerHour, a.BytesPerHour, 1e-9) || !within(b.PercentPerHour, a.PercentPerHour, 1e-9) {
		t.Fatalf("ordered %+v, shuffled %+v", a, b)
	}
}
