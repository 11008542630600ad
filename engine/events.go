package engine

import (
	"sync"
	"time"

	"github.com/thorp-dev/thorp/policies"
)

// State is a component's (or one instance's) lifecycle state.
type State string

// The states of DESIGN.md.
const (
	StateStarting State = "starting"
	StateRunning  State = "running"
	StateStopping State = "stopping"
	StateStopped  State = "stopped"
	StateBackoff  State = "backoff"
	StateErrored  State = "errored"
)

// Event types published by the engine.
const (
	EventSpawn    = "spawn"    // a process was started
	EventRunning  = "running"  // it became ready
	EventExit     = "exit"     // a main process exited
	EventStopping = "stopping" // the stop signal was sent
	EventKill     = "kill"     // kill_timeout passed; SIGKILL sent to the group
	EventStopped  = "stopped"  // the instance's whole process group is gone and it stays down
	EventRestart  = "restart"  // a restart was decided (Reason says why)
	EventOverlap  = "overlap"  // an overlap restart started the new process next to the old one
	EventDraining = "draining" // a replaced process left the balancer's rotation; its connections finish
	EventBackoff  = "backoff"  // waiting out a restart delay
	EventErrored  = "errored"  // too many short runs in a row
	EventSignal   = "signal"   // an operator sent a signal
	EventFailed   = "failed"   // a spawn failed (command not found, exec error)
	EventAlert    = "alert"    // a policy asked to alert an operator
	EventWarning  = "warning"  // something an operator should know that did not change state
	EventReset    = "reset"    // an operator reset the restart counters
	EventScale    = "scale"    // an operator changed the instance count (thorp scale)
)

// Event is one thing that happened to a component. Events are values; they
// are safe to share.
type Event struct {
	Seq       uint64          `json:"seq"`
	Time      time.Time       `json:"time"`
	Component string          `json:"component"`
	Instance  int             `json:"instance"`
	Type      string          `json:"type"`
	State     State           `json:"state,omitempty"`
	Reason    policies.Reason `json:"reason,omitempty"`
	PID       int             `json:"pid,omitempty"`
	Code      *int            `json:"code,omitempty"`
	Signal    string          `json:"signal,omitempty"`
	Message   string          `json:"message,omitempty"`
	// Alert is the kind of an EventAlert: "errored", "health", "memory",
	// "restarts" (settings.alerts rules, a memory_policy's "alert") or
	// "lua" (thorp.alert from a hook or plugin).
	Alert string `json:"alert,omitempty"`
	// Fields are an alert's extra fields (thorp.alert(msg, fields), a
	// rule's figures); nil for other events.
	Fields map[string]string `json:"fields,omitempty"`
}

// eventLog is a bounded ring of recent events plus a broadcast of changes.
// It is safe for concurrent use.
type eventLog struct {
	mu sync.Mutex
	// ring grows up to size as events come (most supervisors keep far
	// fewer than size), then wraps.
	ring    []Event
	size    int
	next    int
	full    bool
	seq     uint64
	changed chan struct{} // closed and replaced on every append
	sink    func(Event)   // called outside mu for every event; may be nil
}

func newEventLog(size int, sink func(Event)) *eventLog {
	return &eventLog{size: max(size, 1), changed: make(chan struct{}), sink: sink}
}

// put stores ev at the ring's next slot, growing the ring while it is
// shorter than size; l.mu is held.
func (l *eventLog) put(ev Event) {
	if len(l.ring) < l.size {
		if len(l.ring) == cap(l.ring) {
			grown := make([]Event, len(l.ring), min(max(2*cap(l.ring), 16), l.size))
			copy(grown, l.ring)
			l.ring = grown
		}
		l.ring = append(l.ring, ev)
		l.next = len(l.ring) % l.size
	} else {
		l.ring[l.next] = ev
		l.next = (l.next + 1) % l.size
	}
	if l.next == 0 {
		l.full = true
	}
}

// add stamps ev with a sequence number and stores it.
func (l *eventLog) add(ev Event) {
	l.mu.Lock()
	l.seq++
	ev.Seq = l.seq
	l.put(ev)
	close(l.changed)
	l.changed = make(chan struct{})
	l.mu.Unlock()
	if l.sink != nil {
		l.sink(ev)
	}
}

// since returns the stored events with Seq > seq (and, when component is not
// "", for that component only), oldest first.
func (l *eventLog) since(seq uint64, component string, after time.Time) []Event {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []Event
	n := l.next
	if l.full {
		n = len(l.ring)
	}
	start := 0
	if l.full {
		start = l.next
	}
	for i := 0; i < n; i++ {
		ev := l.ring[(start+i)%len(l.ring)]
		if ev.Seq <= seq || (component != "" && ev.Component != component) || ev.Time.Before(after) {
			continue
		}
		out = append(out, ev)
	}
	return out
}

// wait returns a channel closed at the next append.
func (l *eventLog) wait() <-chan struct{} {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.changed
}

// last returns the sequence number of the newest event.
func (l *eventLog) last() uint64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.seq
}

// restore puts saved events back (oldest first) before any new one, keeping
// their sequence order.
func (l *eventLog) restore(evs []Event) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ev := range evs {
		l.seq++
		ev.Seq = l.seq
		l.put(ev)
	}
}
