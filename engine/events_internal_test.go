package engine

import (
	"slices"
	"testing"
	"time"
)

// TestEventLog_GrowsThenWraps checks the ring: it holds every event until
// size, then the newest size, oldest first, with restored events ahead of
// new ones.
func TestEventLog_GrowsThenWraps(t *testing.T) {
	seqs := func(evs []Event) []uint64 {
		var out []uint64
		for _, ev := range evs {
			out = append(out, ev.Seq)
		}
		return out
	}
	for _, size := range []int{1, 3, 16, 40} {
		l := newEventLog(size, nil)
		l.restore([]Event{{Message: "saved 1"}, {Message: "saved 2"}})
		var want []uint64
		for seq := uint64(1); seq <= 100; seq++ {
			if seq > 2 {
				l.add(Event{Message: "new"})
			}
			want = append(want, seq)
			if len(want) > size {
				want = want[1:]
			}
			if seq < 2 {
				continue
			}
			if got := seqs(l.since(0, "", time.Time{})); !slices.Equal(got, want) {
				t.Fatalf("size %d after %d events: %v, want %v", size, seq, got, want)
			}
			if len(l.ring) > size || cap(l.ring) > size {
				t.Fatalf("size %d: ring len %d cap %d", size, len(l.ring), cap(l.ring))
			}
		}
		if got := seqs(l.since(97, "", time.Time{})); !slices.Equal(got, []uint64{98, 99, 100}[max(0, 3-size):]) {
			t.Fatalf("size %d: since 97 = %v", size, got)
		}
	}
}
