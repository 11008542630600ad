package engine

import (
	"fmt"
	"runtime"
	"testing"
	"time"
)

// t0 is a whole minute, so coarse slots start on the samples' grid.
var t0 = time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)

// fill adds n samples every d from start; sample i has RSS (i+1) MiB.
func fill(s *series, start time.Time, n int, d time.Duration) time.Time {
	at := start
	for i := 0; i < n; i++ {
		at = start.Add(time.Duration(i) * d)
		s.add(at, int64(i+1)<<20, 0, 1.5)
	}
	return at
}

// near reports whether got is want within the precision of a memCode.
func near(got, want int64) bool {
	d := got - want
	return d <= want/2048+1024 && -d <= want/2048+1024
}

func TestMemCode_KeepsOrderAndPrecision(t *testing.T) {
	prev := uint16(0)
	for b := int64(0); b < 1<<42; b = b*9/8 + 1024 {
		c := memCode(b)
		if c < prev || c == 0 {
			t.Fatalf("memCode(%d) = %d after %d", b, c, prev)
		}
		prev = c
		if got := memBytes(c); !near(got, b) {
			t.Fatalf("memBytes(memCode(%d)) = %d", b, got)
		}
	}
}

func TestSeries_FillsAnHourAtTheSamplingPeriod(t *testing.T) {
	s := newSeries(time.Second)
	last := fill(s, t0, 3600, time.Second)
	h := s.since(last.Add(-time.Hour), 0)
	if len(h.Time) != 3600 || len(h.RSS) != 3600 || len(h.PSS) != 3600 || len(h.CPU) != 3600 {
		t.Fatalf("columns %d %d %d %d, want 3600 each", len(h.Time), len(h.RSS), len(h.PSS), len(h.CPU))
	}
	for i := range h.Time {
		want := float64(t0.Unix() + int64(i))
		if h.Time[i] != want || !near(h.RSS[i], int64(i+1)<<20) || h.PSS[i] != -1 || h.CPU[i] != 1.5 {
			t.Fatalf("point %d = %v %d %d %v, want %v %d -1 1.5", i, h.Time[i], h.RSS[i], h.PSS[i], h.CPU[i], want, int64(i+1)<<20)
		}
	}
	// A shorter window gives the newest points only.
	if h := s.since(last.Add(-time.Minute), 0); len(h.Time) != 61 || h.Time[60] != float64(last.Unix()) {
		t.Fatalf("1m window: %d points ending %v", len(h.Time), h.Time[len(h.Time)-1])
	}
}

func TestSeries_FoldsSamplesOfOneSlot(t *testing.T) {
	s := newSeries(100 * time.Millisecond) // slots stay 1 s wide
	for i := 0; i < 50; i++ {              // 5 s at 100 ms
		s.add(t0.Add(time.Duration(i)*100*time.Millisecond), int64(50-i)<<20, 0, float64(i))
	}
	h := s.since(t0, 0)
	if len(h.Time) != 5 {
		t.Fatalf("%d points for 5 s at 100 ms, want one a second", len(h.Time))
	}
	if !near(h.RSS[0], 50<<20) || h.CPU[0] != 9 {
		t.Fatalf("first point rss %d cpu %v, want the highest memory of its samples (50 MiB) and the newest CPU (9)", h.RSS[0], h.CPU[0])
	}
}

func TestSeries_DownsamplesBeyondTheHour(t *testing.T) {
	s := newSeries(time.Second)
	last := fill(s, t0, 3*3600, time.Second)
	h := s.since(last.Add(-3*time.Hour), 0)
	// Two hours at one point a minute (the minutes that end by the fine
	// tier's first point), then the last hour at every sample.
	fineStart := last.Add(-time.Hour + time.Second)
	if want := 120 + 3600; len(h.Time) != want {
		t.Fatalf("%d points, want %d", len(h.Time), want)
	}
	for i := 0; i < 120; i++ {
		if h.Time[i] != float64(t0.Unix()+int64(60*i)) {
			t.Fatalf("coarse point %d at %v, want the start of minute %d", i, h.Time[i], i)
		}
		if want := int64(60*i+60) << 20; !near(h.RSS[i], want) || h.CPU[i] != 1.5 {
			t.Fatalf("coarse point %d: rss %d cpu %v, want %d (the minute's highest) and 1.5", i, h.RSS[i], h.CPU[i], want)
		}
	}
	for i := 1; i < len(h.Time); i++ {
		if h.Time[i] <= h.Time[i-1] {
			t.Fatalf("time goes back at %d: %v after %v", i, h.Time[i], h.Time[i-1])
		}
	}
	if h.Time[120] != float64(fineStart.Unix()) || h.Time[len(h.Time)-1] != float64(last.Unix()) {
		t.Fatalf("fine tier from %v to %v, want the last hour's samples", h.Time[120], h.Time[len(h.Time)-1])
	}
}

func TestSeries_KeepsAtMostTheMaxWindow(t *testing.T) {
	s := newSeries(10 * time.Second)
	last := fill(s, t0, 26*360, 10*time.Second) // 26 h at 10 s
	h := s.since(t0, 0)
	if oldest := last.Add(-HistoryMaxWindow - coarseSlot); h.Time[0] < float64(oldest.Unix()) {
		t.Fatalf("oldest point %v is older than the max window (%v)", h.Time[0], oldest.Unix())
	}
	if len(h.Time) > len(s.fine.rss)+len(s.coarse.rss) {
		t.Fatalf("%d points", len(h.Time))
	}
	// A gap longer than the fine tier leaves only the new sample in it.
	s.add(last.Add(2*time.Hour), 1<<20, 0, 0)
	if h := s.since(last.Add(time.Hour), 0); len(h.Time) != 1 {
		t.Fatalf("%d points after a gap, want 1", len(h.Time))
	}
}

func TestSeries_PSSWhenMeasured(t *testing.T) {
	s := newSeries(time.Second)
	s.add(t0, 8<<20, 0, 0)
	s.add(t0.Add(time.Second), 8<<20, 6<<20, 0)
	h := s.since(t0, 0)
	if len(h.PSS) != 2 || h.PSS[0] != -1 || !near(h.PSS[1], 6<<20) {
		t.Fatalf("pss = %v, want [-1 %d]", h.PSS, 6<<20)
	}
}

// seriesBytes is the memory a series' arrays hold.
func seriesBytes(s *series) int {
	b := 0
	for _, sl := range []*slots{&s.fine, &s.coarse} {
		b += 2 * (cap(sl.rss) + cap(sl.pss) + cap(sl.cpu))
	}
	return b
}

func TestSeries_Memory(t *testing.T) {
	for _, tc := range []struct {
		interval time.Duration
		most     int
	}{{time.Second, 20200}, {displayInterval, 8700}} {
		s := newSeries(tc.interval)
		fill(s, t0, int(25*time.Hour/tc.interval), tc.interval)
		b := seriesBytes(s)
		t.Logf("sampled every %s: %d bytes a day; 500: %.2f MiB", tc.interval, b, float64(500*b)/(1<<20))
		if b > tc.most {
			t.Errorf("sampled every %s: %d bytes, want at most %d", tc.interval, b, tc.most)
		}
	}
}

// BenchmarkHistoryMemory500 measures the heap that the histories of 500
// components (one instance each) take once full: an hour of samples every
// second in the fine tier and a day of minutes in the coarse one. It
// reports bytes per component and MiB for 500, and apart from them the
// bytes of one component's full ring of restart markers (a crash loop's).
func BenchmarkHistoryMemory500(b *testing.B) {
	heap := func() float64 {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		return float64(m.HeapAlloc)
	}
	for i := 0; i < b.N; i++ {
		before := heap()
		all := make([]*series, 500)
		for j := range all {
			all[j] = newSeries(time.Second)
			for d := time.Duration(0); d <= 25*time.Hour; d += time.Second {
				all[j].add(t0.Add(d), 100<<20+int64(d/time.Minute)<<10, 0, 2.5)
			}
		}
		used := heap() - before
		runtime.KeepAlive(all)
		b.ReportMetric(used/500, "B/component")
		b.ReportMetric(used/(1<<20), "MiB/500")

		before = heap()
		c := &component{clock: systemClock{}}
		in := &instance{}
		for k := 0; k < 2*historyMarkers; k++ {
			c.markRestart(in, "memory", fmt.Sprintf("memory %d MiB over limit 150 MiB for 2 samples", 150+k%100), 4121)
		}
		b.ReportMetric(heap()-before, "B/1000-markers")
		runtime.KeepAlive(c)
	}
}
