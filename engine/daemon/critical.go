package daemon

import (
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// CriticalError is returned by Run when an instance of a component marked
// critical ended errored: thorp then stopped every component in reverse
// dependency order, as at SIGTERM.
type CriticalError struct {
	Component string
	Instance  int
	// Message is why the instance ended errored.
	Message string
}

// Error says which component ended errored and why.
func (e *CriticalError) Error() string {
	return fmt.Sprintf("critical component %q (instance %d) ended errored: %s", e.Component, e.Instance, e.Message)
}

// criticalWatch notices the first errored event of a critical component.
// Its methods are safe for concurrent use; handle never blocks.
type criticalWatch struct {
	names atomic.Pointer[map[string]bool] // the critical components of the running config
	once  sync.Once
	fired chan struct{} // closed at the first critical errored event
	cause *CriticalError
}

func newCriticalWatch(cfg *config.Config) *criticalWatch {
	w := &criticalWatch{fired: make(chan struct{})}
	w.set(cfg)
	return w
}

// set takes the critical components of cfg (at start and after a reload).
func (w *criticalWatch) set(cfg *config.Config) {
	names := map[string]bool{}
	for _, c := range cfg.Components {
		if c.Critical {
			names[c.Name] = true
		}
	}
	w.names.Store(&names)
}

// handle fires the watch at the first errored event of a critical
// component.
func (w *criticalWatch) handle(ev engine.Event) {
	if ev.Type != engine.EventErrored || !(*w.names.Load())[ev.Component] {
		return
	}
	w.once.Do(func() {
		w.cause = &CriticalError{Component: ev.Component, Instance: ev.Instance, Message: ev.Message}
		close(w.fired)
	})
}

// err is the CriticalError once the watch fired, else nil.
func (w *criticalWatch) err() error {
	select {
	case <-w.fired:
		return w.cause
	default:
		return nil
	}
}
