package engine

import "time"

// FillHistory gives every instance of the named component samples every
// period over the span ending now (RSS growing by 1 MiB a minute from
// 100 MiB, 2.5 % CPU), and a restart marker a minute, for benchmarks
// outside the package. Call it before Run: the constructor still owns the
// instances then.
func FillHistory(s *Supervisor, name string, span, period time.Duration) {
	c := s.comps[name]
	now := time.Now()
	for _, in := range c.insts {
		in.series = newSeries(period)
		for d := span; d >= 0; d -= period {
			in.series.add(now.Add(-d), 100<<20+int64((span-d)/time.Minute)<<20, 0, 2.5)
		}
	}
	for d := span; d >= 0; d -= time.Minute {
		c.markers = append(c.markers, RestartMarker{Time: now.Add(-d), Reason: "memory",
			Detail: "memory 151.2 MiB over limit 150 MiB for 2 samples", OldPID: 4121, NewPID: 4188})
	}
}
