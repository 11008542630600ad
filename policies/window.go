package policies

import "time"

// Window counts events in a sliding window of time, by buckets: Count
// says how many were added within the last span, give or take one
// bucket, in constant memory however many there were. The zero Window
// is not usable; make one with NewWindow. Not safe for concurrent use.
type Window struct {
	bucket time.Duration
	counts []int
	index  []int64 // the bucket number each slot holds
}

// NewWindow returns a window over span counted in buckets of bucket
// (restarts within the last hour, counted by the minute: NewWindow(time.Hour, time.Minute)).
func NewWindow(span, bucket time.Duration) *Window {
	n := int(span/bucket) + 1
	return &Window{bucket: bucket, counts: make([]int, n), index: make([]int64, n)}
}

// Add counts one event at t.
func (w *Window) Add(t time.Time) {
	b := t.UnixNano() / int64(w.bucket)
	n := int64(len(w.counts))
	i := int((b%n + n) % n) // a time before 1970 (or the zero time) too
	if w.index[i] != b {
		w.index[i], w.counts[i] = b, 0
	}
	w.counts[i]++
}

// Count returns the events added in the buckets of the last span up to
// now (the current bucket included).
func (w *Window) Count(now time.Time) int {
	cur := now.UnixNano() / int64(w.bucket)
	oldest := cur - int64(len(w.counts)) + 2 // span/bucket buckets, the current one included
	n := 0
	for i, b := range w.index {
		if b >= oldest && b <= cur {
			n += w.counts[i]
		}
	}
	return n
}
