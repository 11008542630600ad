package engine

import (
	"fmt"
	"reflect"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/fswatch"
	"github.com/thorp-dev/thorp/policies"
)

// watchMsg: the component's watcher saw n paths change in one delay
// window, the first being path (or, with warn set, something it cannot follow).
type watchMsg struct {
	gen  int
	path string
	n    int
	warn string
}

func (watchMsg) isMessage() {}

// setWatch makes c's watcher match its config: kept when the watch key
// and cwd are unchanged, else the old one is closed (its goroutine waited
// for) and a new one started. A watch that cannot start (a path gone
// since thorp check, too many directories) is a warning event; the
// component runs unwatched until the next reload. Loop only.
func (c *component) setWatch() {
	key := watchKey{watch: c.cfg.Watch, cwd: c.cfg.Cwd}
	if reflect.DeepEqual(key, c.watching) {
		return
	}
	c.closeWatch()
	c.watching = key
	w := c.cfg.Watch
	if w == nil {
		return
	}
	c.watchGen++
	gen := c.watchGen
	fw, err := fswatch.New(fswatch.Options{
		Paths: w.Paths, Ignore: w.Ignore, Base: c.cfg.Cwd, Delay: w.Delay, MaxDirs: config.MaxWatchDirs,
		Changed: func(first string, n int) { c.in.post(watchMsg{gen: gen, path: first, n: n}) },
		Warn:    func(msg string) { c.in.post(watchMsg{gen: gen, warn: msg}) },
	})
	if err != nil {
		c.watching = watchKey{} // the next config request tries again
		c.event(c.insts[0], Event{Type: EventWarning, Message: err.Error() + "; the component runs without watching (fix it and reload-config)"})
		return
	}
	c.watcher = fw
}

// closeWatch stops c's watcher, if any, and waits for its goroutine.
func (c *component) closeWatch() {
	if c.watcher != nil {
		_ = c.watcher.Close()
		c.watcher = nil
	}
	c.watching = watchKey{}
}

// onWatch restarts, with reason watch, every instance meant to be up (a
// stopped component stays stopped; one waiting for its dependencies
// keeps waiting).
func (c *component) onWatch(m watchMsg) {
	if m.warn != "" {
		c.event(c.insts[0], Event{Type: EventWarning, Message: m.warn})
		return
	}
	var insts []*instance
	for _, in := range c.active() {
		if in.wantUp && !in.waiting {
			insts = append(insts, in)
		}
	}
	if len(insts) == 0 {
		return
	}
	why := m.path + " changed"
	if m.n > 1 {
		why = fmt.Sprintf("%s and %d more changed", m.path, m.n-1)
	}
	c.restartAll(insts, policies.ReasonWatch, why)
}
