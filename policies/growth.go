package policies

import (
	"math"
	"time"
)

// DefaultGrowthSamples is the ring size NewGrowthEstimator uses when given
// maxSamples < 3: ten minutes of samples at the default 1s memory_interval.
const DefaultGrowthSamples = 600

// GrowthEstimator estimates memory growth by least squares over a sliding
// window of samples, kept in a fixed-size ring so its memory is bounded. The
// owner resets it at each start of the instance. Not safe for concurrent use
// (the owner serialises calls).
type GrowthEstimator struct {
	window  time.Duration
	base    time.Time      // what the held samples' times count from
	samples []growthSample // ring storage, len == capacity
	next    int            // index the next Add writes
	n       int            // samples held, ≤ len(samples)
}

// growthSample is 16 bytes where a time.Time and the bytes took 32: one
// estimator per watched process holds maxSamples of them.
type growthSample struct {
	at    time.Duration // taken at base + at
	bytes int64
}

// Growth is an estimate of memory growth.
type Growth struct {
	// BytesPerHour is the fitted slope; negative when memory shrinks.
	BytesPerHour float64
	// PercentPerHour is BytesPerHour relative to the fitted value at the
	// window's first sample (so a leak from 100 MB to 678 MB in an hour reads
	// 578 %/hour); relative to the window's mean when that fitted value is
	// not positive, and 0 when the mean is not positive either.
	PercentPerHour float64
	// TimeToLimit is when the fitted line reaches the limit, counted from the
	// estimate's now. 0 when not growing, when there is no limit, or when the
	// fitted value is already at or over the limit.
	TimeToLimit time.Duration
	// OK is true when there were enough samples: at least 3 in the window,
	// spanning at least 2 seconds. All other fields are 0 when it is false.
	OK bool
}

// NewGrowthEstimator returns an estimator fitting the samples of the last
// window (0 = every sample held) and holding at most maxSamples of them
// (DefaultGrowthSamples when maxSamples < 3).
func NewGrowthEstimator(window time.Duration, maxSamples int) *GrowthEstimator {
	if maxSamples < 3 {
		maxSamples = DefaultGrowthSamples
	}
	return &GrowthEstimator{window: max(window, 0), samples: make([]growthSample, maxSamples)}
}

// Add records a sample of bytes taken at t, dropping the oldest when the ring
// is full. Samples should arrive in time order.
func (g *GrowthEstimator) Add(t time.Time, bytes int64) {
	if g.n == 0 {
		g.base = t
	}
	g.samples[g.next] = growthSample{at: t.Sub(g.base), bytes: bytes}
	g.next = (g.next + 1) % len(g.samples)
	g.n = min(g.n+1, len(g.samples))
}

// Reset forgets every sample.
func (g *GrowthEstimator) Reset() {
	clear(g.samples)
	g.next, g.n = 0, 0
}

// Len is the number of samples held (in the window or not).
func (g *GrowthEstimator) Len() int { return g.n }

// Estimate fits a line to the samples taken in (now-window, now] and returns
// the growth, with the time to reach limit bytes (limit ≤ 0 = no limit).
func (g *GrowthEstimator) Estimate(limit int64, now time.Time) Growth {
	// Fit (seconds since the oldest sample in the window, bytes) in two
	// passes over the ring, means first, so the sums stay well-conditioned.
	var (
		t0, tMax time.Duration // since g.base
		count    int
		sx, sy   float64
		first    = (g.next - g.n + len(g.samples)) % len(g.samples)
		at       = now.Sub(g.base)
	)
	in := func(s *growthSample) bool {
		return s.at <= at && (g.window == 0 || at-s.at < g.window)
	}
	for i := range g.n {
		s := &g.samples[(first+i)%len(g.samples)]
		if !in(s) {
			continue
		}
		if count == 0 {
			t0, tMax = s.at, s.at
		}
		if s.at < t0 { // out of order: shift what was summed so far
			sx += float64(count) * (t0 - s.at).Seconds()
			t0 = s.at
		}
		if s.at > tMax {
			tMax = s.at
		}
		sx += (s.at - t0).Seconds()
		sy += float64(s.bytes)
		count++
	}
	if count < 3 || tMax-t0 < 2*time.Second {
		return Growth{}
	}
	mx, my := sx/float64(count), sy/float64(count)
	var sxx, sxy float64
	for i := range g.n {
		s := &g.samples[(first+i)%len(g.samples)]
		if !in(s) {
			continue
		}
		dx := (s.at - t0).Seconds() - mx
		sxx += dx * dx
		sxy += dx * (float64(s.bytes) - my)
	}
	if sxx == 0 {
		return Growth{}
	}
	slope := sxy / sxx // bytes per second
	intercept := my - slope*mx

	gr := Growth{BytesPerHour: slope * 3600, OK: true}
	switch {
	case intercept > 0:
		gr.PercentPerHour = gr.BytesPerHour / intercept * 100
	case my > 0:
		gr.PercentPerHour = gr.BytesPerHour / my * 100
	}
	if limit > 0 && slope > 0 {
		current := intercept + slope*(at-t0).Seconds()
		if left := float64(limit) - current; left > 0 {
			secs := left / slope
			if secs >= float64(math.MaxInt64)/float64(time.Second) {
				gr.TimeToLimit = time.Duration(math.MaxInt64)
			} else {
				gr.TimeToLimit = max(time.Duration(secs*float64(time.Second)), 1)
			}
		}
	}
	return gr
}
