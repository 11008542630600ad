package balancer

import (
	"log/slog"
	"sync"
	"time"
)

// warnEvery is the least time between two warnings of one kind; the ones
// in between are counted in the next ("suppressed").
const warnEvery = 10 * time.Second

// warner logs the Balancer's warnings, at most one per key per warnEvery.
type warner struct {
	log *slog.Logger // nil: discard

	mu         sync.Mutex
	last       map[string]time.Time
	suppressed map[string]int
}

func newWarner(log *slog.Logger) *warner {
	return &warner{log: log, last: map[string]time.Time{}, suppressed: map[string]int{}}
}

// warn logs msg with args unless a warning of key was logged less than
// warnEvery ago.
func (w *warner) warn(key, msg string, args ...any) {
	if w.log == nil {
		return
	}
	now := time.Now()
	w.mu.Lock()
	if t, ok := w.last[key]; ok && now.Sub(t) < warnEvery {
		w.suppressed[key]++
		w.mu.Unlock()
		return
	}
	w.last[key] = now
	n := w.suppressed[key]
	delete(w.suppressed, key)
	w.mu.Unlock()
	if n > 0 {
		args = append(args, "suppressed", n)
	}
	w.log.Warn(msg, args...)
}

// Write makes w the destination of a log.Logger (net/http's ErrorLog):
// each line is a warning of key "http".
func (w *warner) Write(p []byte) (int, error) {
	msg := string(p)
	if len(msg) > 0 && msg[len(msg)-1] == '\n' {
		msg = msg[:len(msg)-1]
	}
	w.warn("http", msg)
	return len(p), nil
}
