package policies

import (
	"testing"
	"time"
)

func TestWindow_CountsTheLastSpan(t *testing.T) {
	w := NewWindow(time.Hour, time.Minute)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := range 11 {
		w.Add(t0.Add(time.Duration(i) * 5 * time.Minute)) // 12:00 … 12:50
	}
	if n := w.Count(t0.Add(50 * time.Minute)); n != 11 {
		t.Errorf("at 12:50: %d, want 11", n)
	}
	if n := w.Count(t0.Add(61 * time.Minute)); n != 10 {
		t.Errorf("at 13:01 (12:00's gone): %d, want 10", n)
	}
	if n := w.Count(t0.Add(3 * time.Hour)); n != 0 {
		t.Errorf("two hours after the last: %d, want 0", n)
	}
	// A slot reused after a full turn starts from zero.
	w.Add(t0.Add(61 * time.Minute))
	if n := w.Count(t0.Add(61 * time.Minute)); n != 11 {
		t.Errorf("after one more at 13:01: %d, want 11", n)
	}
}

func TestWindow_ManyEventsConstantMemory(t *testing.T) {
	w := NewWindow(time.Hour, time.Minute)
	t0 := time.Date(2026, 11, 27, 12, 0, 0, 0, time.UTC)
	for i := range 100_000 {
		w.Add(t0.Add(time.Duration(i) * 36 * time.Millisecond)) // 100,000 in the hour
	}
	if n := w.Count(t0.Add(time.Hour - time.Millisecond)); n != 100_000 {
		t.Errorf("%d, want 100000", n)
	}
	if len(w.counts) != 61 {
		t.Errorf("%d slots", len(w.counts))
	}
}

func TestWindow_TimesBefore1970(t *testing.T) {
	w := NewWindow(time.Hour, time.Minute)
	w.Add(time.Time{})
	w.Add(time.Time{})
	if n := w.Count(time.Time{}); n != 2 {
		t.Errorf("%d at the zero time, want 2", n)
	}
}
