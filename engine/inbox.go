package engine

import (
	"context"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
	"github.com/thorp-dev/thorp/rotate"
)

// inbox is the one way into a component's loop: every other goroutine
// (callers of the Supervisor, the reaper, the sampler, a process's probe,
// health and policy goroutines) posts a typed message and the loop alone
// reads them, in order. Posting never blocks, so the reaper and the
// sampler are never held up by a busy loop; samples coalesce (a newer
// delivery replaces an unread one), everything else queues.
//
// mu is the component's only lock apart from the snapshot's atomic
// pointer: it guards nothing but the queue itself.
type inbox struct {
	mu      sync.Mutex
	msgs    []message
	samples []usageSample
	wake    chan struct{} // capacity 1: "there is something to read"
}

func newInbox() *inbox { return &inbox{wake: make(chan struct{}, 1)} }

// post queues m for the loop. Safe from any goroutine; never blocks.
func (b *inbox) post(m message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	b.poke()
}

// postSamples hands the loop the newest samples, replacing unread ones.
func (b *inbox) postSamples(s []usageSample) {
	b.mu.Lock()
	b.samples = s
	b.mu.Unlock()
	b.poke()
}

func (b *inbox) poke() {
	select {
	case b.wake <- struct{}{}:
	default:
	}
}

// take returns and forgets everything queued.
func (b *inbox) take() ([]message, []usageSample) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, s := b.msgs, b.samples
	b.msgs, b.samples = nil, nil
	return m, s
}

// message is what the loop reads from its inbox: exactly one of request,
// exitMsg, readyMsg, pingMsg, healthMsg, policyMsg and drainedMsg. Every message but a
// request names the process it is about; the loop drops it when that
// process is no longer its instance's (see component.current).
type message interface{ isMessage() }

// operation is what a request asks of a component.
type operation int

// The operations of a request.
const (
	opStart   operation = iota + 1 // start every instance the config asks for
	opStop                         // stop every instance
	opRestart                      // restart the instances (reason says why)
	opSignal                       // send sig to every process group
	opConfig                       // take a new config (and log files, sockets)
	opReset                        // zero the restart counters and the last restart reason
	opScale                        // run instances processes until the config's count changes
	opHistory                      // copy out the history (window, history)
)

func (o operation) String() string {
	switch o {
	case opStart:
		return "start"
	case opStop:
		return "stop"
	case opRestart:
		return "restart"
	case opSignal:
		return "signal"
	case opConfig:
		return "config"
	case opReset:
		return "reset"
	case opScale:
		return "scale"
	case opHistory:
		return "history"
	}
	return "operation(" + strconv.Itoa(int(o)) + ")"
}

// request is a caller's order (Supervisor.Start, Stop, …). The loop
// answers on reply (capacity 1, so the loop never blocks): at once, or,
// with wait, when every instance it covers has settled (see pending).
type request struct {
	op     operation
	reason policies.Reason // opRestart
	why    string          // opRestart: the requester's detail, "" for none
	sig    syscall.Signal  // opSignal
	count  int             // opScale: the instance count
	// opHistory: the window to copy out, and where to (the caller reads
	// it after the reply).
	window  time.Duration
	history *History
	cfg     *config.Component
	out     *rotate.File // opConfig: the log files for the new config (instance 0's)
	errLog  *rotate.File
	// opConfig: with rebind, the held sockets for the new config (bound
	// or shared by the reload's prepare), replacing the component's.
	rebind  bool
	sockets []*heldSocket
	// opConfig: with reproxy, the proxy listener for the new config
	// (nil: no proxy any more), replacing the component's.
	reproxy   bool
	proxySock *heldSocket
	ctx       context.Context // the caller's: a request whose caller gave up is not applied
	reply     chan error
	wait      bool
}

// exitMsg: the reaper reaped p's main process.
type exitMsg struct {
	p  *process
	st exitStatus
}

// readyMsg: p's readiness probe succeeded.
type readyMsg struct{ p *process }

// pingMsg: p sent WATCHDOG=1 at at.
type pingMsg struct {
	p  *process
	at time.Time
}

// healthMsg: one health check of p; err is nil when it passed.
type healthMsg struct {
	p   *process
	err error
}

// policyMsg: the Lua memory_policy's answer for sample s of p.
type policyMsg struct {
	p   *process
	s   usageSample
	fn  config.Func
	res any
	err error
}

func (request) isMessage()   {}
func (exitMsg) isMessage()   {}
func (readyMsg) isMessage()  {}
func (pingMsg) isMessage()   {}
func (healthMsg) isMessage() {}
func (policyMsg) isMessage() {}

// pending is a caller waiting for the instances a request covered to
// settle (reach the wanted state, or fail to). The loop resolves it:
// settle is called once per instance, and the last call answers.
type pending struct {
	want  State // StateRunning or StateStopped
	left  int   // instances not settled yet
	err   error // the first failure
	reply chan error
}

// settle records one instance's outcome; the last one answers the caller.
func (w *pending) settle(err error) {
	if w.left <= 0 {
		return
	}
	if err != nil && w.err == nil {
		w.err = err
	}
	w.left--
	if w.left == 0 {
		w.reply <- w.err
	}
}
