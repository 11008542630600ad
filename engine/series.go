package engine

import (
	"math"
	"math/bits"
	"time"
)

// The history tiers of one instance (see series).
const (
	// fineSpan is how far back the fine tier reaches, one slot per
	// sampling period (at least minFineSlot).
	fineSpan = time.Hour
	// minFineSlot is the narrowest fine slot: with a memory_interval
	// below it, the samples of one slot are folded into one point.
	minFineSlot = time.Second
	// coarseSlot is the slot of the coarse tier, which reaches
	// HistoryMaxWindow back: one point a minute, the minute's highest
	// RSS and PSS and its mean CPU.
	coarseSlot = time.Minute
)

// slots is a ring of fixed-width time slots, 4 bytes a slot (6 once a PSS
// was measured): slot number k (Unix time / width) sits at k mod len.
// Memory is a memCode (0: the slot is empty), CPU tenths of a percent.
// Owned by the component loop.
type slots struct {
	width    time.Duration
	rss, pss []uint16 // pss nil until a PSS is measured; 0 = not measured
	cpu      []uint16
	last     int64 // number of the newest slot written
}

// slotsFor is the slot count of a tier of width reaching span back.
func slotsFor(width, span time.Duration) int { return int(span / width) }

// newSlots makes a tier of n slots of width on buf (2n long, or nil to
// allocate it).
func newSlots(width time.Duration, n int, buf []uint16) slots {
	if buf == nil {
		buf = make([]uint16, 2*n)
	}
	return slots{width: width, rss: buf[:n:n], cpu: buf[n : 2*n : 2*n], last: math.MinInt64}
}

// slotOf is the number of the slot at holds.
func (s *slots) slotOf(at time.Time) int64 { return at.UnixNano() / int64(s.width) }

func (s *slots) index(k int64) int { return int(uint64(k) % uint64(len(s.rss))) }

// put writes slot k (never older than the ring reaches), emptying the
// slots skipped since the last one written.
func (s *slots) put(k int64, rss, pss, cpu uint16) {
	if k > s.last {
		switch {
		case s.last == math.MinInt64:
			// New: the arrays are zero, and untouched pages cost no RSS.
		case k-s.last >= int64(len(s.rss)):
			clear(s.rss)
			clear(s.pss)
		default:
			for j := s.last + 1; j < k; j++ {
				s.rss[s.index(j)] = 0
				if s.pss != nil {
					s.pss[s.index(j)] = 0
				}
			}
		}
		s.last = k
	}
	i := s.index(k)
	s.rss[i], s.cpu[i] = rss, cpu
	if pss != 0 && s.pss == nil {
		s.pss = make([]uint16, len(s.rss))
	}
	if s.pss != nil {
		s.pss[i] = pss
	}
}

// oldest is the number of the oldest slot the ring still holds.
func (s *slots) oldest() int64 { return s.last - int64(len(s.rss)) + 1 }

// series is the history of one instance: a fine tier of the last
// fineSpan at the sampling period, and a coarse tier of one point a
// minute reaching HistoryMaxWindow back. A restart does not end it: the
// replacement's samples follow under the same instance. Its memory is
// fixed when it is made: about 20 KB at a 1 s period (14.4 KB fine,
// 5.8 KB coarse), 8.6 KB at the 5 s of a component without a memory
// limit. Owned by the component loop.
type series struct {
	fine, coarse slots
	// The mean CPU of the coarse slot being filled.
	cpuSlot int64
	cpuSum  uint64
	cpuN    uint64
}

// newSeries makes the history of an instance sampled every interval. Its
// arrays are one allocation (a size class of Go's allocator fits it with
// little to spare, where four would each waste their own rounding).
func newSeries(interval time.Duration) *series {
	w := max(interval, minFineSlot)
	nf, nc := slotsFor(w, fineSpan), slotsFor(coarseSlot, HistoryMaxWindow)
	buf := make([]uint16, 2*(nf+nc))
	return &series{fine: newSlots(w, nf, buf[:2*nf]), coarse: newSlots(coarseSlot, nc, buf[2*nf:])}
}

// setInterval makes the fine tier's slots one sampling period wide (at
// least minFineSlot); when that changes (a reload), the fine tier starts
// anew and the coarse one keeps what went before.
func (s *series) setInterval(interval time.Duration) {
	if w := max(interval, minFineSlot); w != s.fine.width {
		s.fine = newSlots(w, slotsFor(w, fineSpan), nil)
	}
}

// add records one sample taken at at: rss and pss in bytes (pss 0 when
// not measured), cpu in % of one core. A sample in the slot of the one
// before it is folded into it: the higher memory, the newer CPU.
func (s *series) add(at time.Time, rss, pss int64, cpu float64) {
	r, p := memCode(rss), uint16(0)
	if pss > 0 {
		p = memCode(pss)
	}
	c := uint16(min(max(math.Round(cpu*10), 0), math.MaxUint16))

	f := &s.fine
	if k := f.slotOf(at); f.last == math.MinInt64 || k >= f.oldest() {
		if k == f.last {
			i := f.index(k)
			r2, p2 := max(r, f.rss[i]), p
			if f.pss != nil {
				p2 = max(p, f.pss[i])
			}
			f.put(k, r2, p2, c)
		} else if k > f.last {
			f.put(k, r, p, c)
		}
	}

	cs := &s.coarse
	k := cs.slotOf(at)
	if k < cs.last {
		return
	}
	if k != s.cpuSlot {
		s.cpuSlot, s.cpuSum, s.cpuN = k, 0, 0
	}
	s.cpuSum += uint64(c)
	s.cpuN++
	mean := uint16(s.cpuSum / s.cpuN)
	if k == cs.last {
		i := cs.index(k)
		r = max(r, cs.rss[i])
		if cs.pss != nil {
			p = max(p, cs.pss[i])
		}
	}
	cs.put(k, r, p, mean)
}

// since copies out the points at from or later, oldest first: the
// coarse tier's slots that end by the fine tier's first point, then the
// fine tier's.
func (s *series) since(from time.Time, index int) InstanceHistory {
	f, cs := &s.fine, &s.coarse
	fineFirst := int64(math.MaxInt64) // the fine tier's oldest point, in ns
	for k := max(f.oldest(), f.slotOf(from)); f.last != math.MinInt64 && k <= f.last; k++ {
		if f.rss[f.index(k)] != 0 {
			fineFirst = k * int64(f.width)
			break
		}
	}
	n := 0
	each := func(sl *slots, lo, hi int64, do func(k int64, i int)) {
		if sl.last == math.MinInt64 {
			return
		}
		for k := max(sl.oldest(), lo); k <= min(sl.last, hi); k++ {
			if i := sl.index(k); sl.rss[i] != 0 {
				do(k, i)
			}
		}
	}
	coarseLo := cs.slotOf(from)
	if from.UnixNano()%int64(coarseSlot) != 0 {
		coarseLo++ // a slot that began before from
	}
	coarseHi := int64(math.MaxInt64)
	if fineFirst != math.MaxInt64 {
		coarseHi = fineFirst/int64(coarseSlot) - 1 // slots that end by then
	}
	count := func(int64, int) { n++ }
	each(cs, coarseLo, coarseHi, count)
	each(f, f.slotOf(from), math.MaxInt64, count)

	h := InstanceHistory{Index: index, Time: make([]float64, 0, n), RSS: make([]int64, 0, n), PSS: make([]int64, 0, n), CPU: make([]float64, 0, n)}
	emit := func(sl *slots) func(k int64, i int) {
		return func(k int64, i int) {
			h.Time = append(h.Time, float64(k*int64(sl.width)/int64(time.Millisecond))/1000)
			h.RSS = append(h.RSS, memBytes(sl.rss[i]))
			if sl.pss == nil || sl.pss[i] == 0 {
				h.PSS = append(h.PSS, -1)
			} else {
				h.PSS = append(h.PSS, memBytes(sl.pss[i]))
			}
			h.CPU = append(h.CPU, float64(sl.cpu[i])/10)
		}
	}
	each(cs, coarseLo, coarseHi, emit(cs))
	each(f, f.slotOf(from), math.MaxInt64, emit(f))
	return h
}

// memCode packs a size in bytes into 16 bits, keeping order: KiB below 2
// MiB exactly, above that to within 1 part in 2048 (a float with an
// 11-bit mantissa); 0 is left for "no value". Sizes up to 4 TiB.
func memCode(b int64) uint16 {
	v := uint32(min(max((b+512)/1024, 0), math.MaxUint32))
	if v < 2048 {
		return uint16(v) + 1
	}
	e := bits.Len32(v) - 11 // v>>e is in [1024, 2047]
	return uint16(1 + 2048 + (e-1)*1024 + int(v>>e) - 1024)
}

// memBytes is the size a memCode stands for, in bytes (the middle of
// its step).
func memBytes(c uint16) int64 {
	f := int64(c) - 1
	if f < 2048 {
		return f * 1024
	}
	e := (f-2048)/1024 + 1
	m := (f-2048)%1024 + 1024
	return (m<<e + 1<<(e-1)) * 1024
}
