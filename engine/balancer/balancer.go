// Package balancer is thorp's per-component load balancer: it accepts
// clients on a listener thorp holds and forwards each connection (tcp mode)
// or request (http mode) to the backend in rotation with the fewest active
// connections. Backends are loopback addresses of a component's processes;
// the engine adds one when its process is ready, drains it before a planned
// stop and removes it when it crashes. It knows nothing of processes.
//
// Selection: among the backends in rotation, the one with the fewest open
// connections (tcp) or requests in flight (http); ties go round-robin, so
// idle backends share the traffic. A client that arrives while no backend
// is in rotation waits in a queue, woken by the next Add, for up to
// QueueTimeout; then it is closed (tcp) or answered 503 (http) and counted
// as no_backend.
//
// tcp mode: each client connection gets one backend connection, dialled
// with a short timeout; a refused or timed-out dial is counted and retried
// on another backend in rotation, then queued again until QueueTimeout.
// Bytes are copied with io.Copy in both directions (splice on Linux); the
// end of one direction half-closes the other side, and the connection ends
// when both directions have.
//
// http mode: an http.Server on the listener (no write timeout, so streams
// last) in front of an httputil.ReverseProxy that picks a backend per
// request, keeps the client's Host and sets X-Forwarded-For, -Proto and
// -Host. Each backend has its own keep-alive pool, so client connections
// survive a backend swap and draining closes only the drained backend's
// idle connections. A request without a body is written, and its response
// read, by the goroutine serving the client, over one of the backend's
// idle connections (which hold no goroutine or buffer while idle, are
// checked with a non-blocking peek before use and closed after 4 s); one
// with a body goes through an http.Transport, which writes the body while
// it reads the response. A request whose dial fails is retried on another
// backend (and queued again, like a tcp client); one that reached a
// backend and failed before a response header is retried once on each
// other backend when it has no body and is idempotent (GET, HEAD,
// OPTIONS, TRACE, or an Idempotency-Key header); otherwise the client gets
// 502. No backend within QueueTimeout is 503; a client gone before its
// response is counted as 499 (and reset). A request counts as active
// until its response body is closed; WebSocket and other upgrades pass
// through and count until the upgraded connection ends. A client
// keep-alive connection idle for a second is taken from the server and
// parked (its socket and a small goroutine) until its client sends again,
// then served as before; it is closed after 2 minutes idle (park.go).
//
// Concurrency: every method is safe for concurrent use. The Balancer owns
// the goroutines that accept and serve clients and Close waits for them.
// Close interrupts Accept with a deadline in the past on the listener (a
// *net.TCPListener or *net.UnixListener; any other kind is closed) and
// clears it before returning, so a Balancer taking over a listener is
// created after the previous one is closed.
package balancer

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Modes.
const (
	ModeTCP  = "tcp"
	ModeHTTP = "http"
)

// Error kinds counted in Stats.Errors (thorp_proxy_errors_total{kind}).
const (
	ErrRefused   = "refused"    // a backend refused the connection
	ErrReset     = "reset"      // a client or backend reset mid-stream
	ErrTimeout   = "timeout"    // a dial or i/o timed out
	ErrNoBackend = "no_backend" // no backend was ready within QueueTimeout
)

// ErrorKinds lists every error kind, for pre-creating metrics at 0.
var ErrorKinds = []string{ErrRefused, ErrReset, ErrTimeout, ErrNoBackend}

// error kinds as indexes into Balancer.errs, in ErrorKinds order.
const (
	kindRefused = iota
	kindReset
	kindTimeout
	kindNoBackend
	numKinds
)

// Options configure a Balancer.
type Options struct {
	// Component names the component, for metric labels.
	Component string
	// Mode is ModeTCP (default) or ModeHTTP.
	Mode string
	// QueueTimeout bounds how long a client waits for a backend in
	// rotation before it is turned away (counted as no_backend).
	QueueTimeout time.Duration
	// Log receives the balancer's own warnings, each kind at most once
	// in 10 seconds (with the number suppressed); it should name the
	// component. nil discards them.
	Log *slog.Logger
}

// Balancer forwards clients from one listener to its backends. Its methods
// are safe for concurrent use. The listener stays the caller's: Close stops
// accepting without closing it, so another Balancer may take it over.
type Balancer struct {
	ln    *listener
	warn  *warner
	queue atomic.Int64 // QueueTimeout in nanoseconds

	mu       sync.Mutex
	backends []*Backend           // in rotation or draining, in Add order
	next     uint                 // round-robin position among equally loaded backends
	added    chan struct{}        // closed (and replaced) by Add: wakes queued clients
	conns    map[*pipe]bool       // tcp mode: open client connections
	parked   map[*clientConn]bool // http mode: parked idle client connections
	closed   bool
	ctx      context.Context // of every client, cancelled by Close
	cancel   context.CancelFunc

	wg       sync.WaitGroup // every goroutine serving clients
	accepted chan struct{}  // closed when the accept loop (or http.Server.Serve) has returned
	closeErr error
	once     sync.Once

	connections atomic.Uint64
	errs        [numKinds]atomic.Uint64

	http *httpProxy // http mode only
}

// Backend is one backend of a Balancer (a process's loopback address).
type Backend struct {
	instance, pid int
	addr          string
	port          int
	b             *Balancer

	// Guarded by b.mu.
	active  int
	state   int      // stateIn, stateDraining, stateGone
	drained []func() // Drain's done callbacks, called when active reaches 0

	conns *backendConns   // http mode: keep-alive connections for requests without a body
	tr    *http.Transport // http mode: the keep-alive pool for requests with a body
}

// backend states.
const (
	stateIn = iota
	stateDraining
	stateGone
)

// BackendStatus is one backend as Backends reports it.
type BackendStatus struct {
	Instance int
	PID      int
	Addr     string // host:port
	Port     int
	Draining bool // out of rotation, waiting for its connections to end
	Active   int  // open connections (tcp) or requests in flight (http)
}

// Stats are a Balancer's counters since it was created.
type Stats struct {
	Connections uint64            // client connections accepted
	Errors      map[string]uint64 // by kind (ErrorKinds), every kind present
	Requests    map[string]uint64 // http mode: responses by status code ("200", "502", …)
}

// New starts a Balancer accepting on ln. It returns at once; Close stops it.
// A Mode other than ModeHTTP is tcp mode.
func New(ln net.Listener, opts Options) *Balancer {
	b := &Balancer{
		ln:       &listener{Listener: ln},
		warn:     newWarner(opts.Log),
		added:    make(chan struct{}),
		conns:    map[*pipe]bool{},
		parked:   map[*clientConn]bool{},
		accepted: make(chan struct{}),
	}
	b.ctx, b.cancel = context.WithCancel(context.Background())
	b.queue.Store(int64(opts.QueueTimeout))
	b.wg.Add(1)
	if opts.Mode == ModeHTTP {
		b.http = newHTTPProxy(b, opts.Component)
		go b.http.serve()
	} else {
		go b.acceptTCP()
	}
	return b
}

// SetQueueTimeout changes how long clients wait for a backend (a reload).
// Clients already waiting keep the timeout they arrived with.
func (b *Balancer) SetQueueTimeout(d time.Duration) { b.queue.Store(int64(d)) }

// Add puts the backend at addr (host:port on loopback), the process pid of
// instance, in rotation: new clients may go to it, clients waiting in the
// queue proceed.
func (b *Balancer) Add(instance, pid int, addr string) *Backend {
	be := &Backend{instance: instance, pid: pid, addr: addr, b: b}
	if _, port, err := net.SplitHostPort(addr); err == nil {
		be.port, _ = strconv.Atoi(port)
	}
	if b.http != nil {
		be.conns = newBackendConns(addr)
		be.tr = b.http.newTransport()
	}
	b.mu.Lock()
	if b.closed {
		be.state = stateGone
		b.mu.Unlock()
		return be
	}
	b.backends = append(b.backends, be)
	close(b.added)
	b.added = make(chan struct{})
	b.mu.Unlock()
	return be
}

// Drain takes be out of rotation and calls done once (on a goroutine the
// Balancer owns, or before Drain returns when be has no open connection)
// when its last connection or request has ended. In http mode the idle
// keep-alive connections to be are closed at once and after each request.
// done must not block. Draining a backend already drained or removed
// calls done at once; draining one that is draining adds done to the
// callbacks of its last connection's end, and so does a Remove after
// the Drain.
func (b *Balancer) Drain(be *Backend, done func()) {
	if be == nil || be.b != b {
		done()
		return
	}
	b.mu.Lock()
	if be.state == stateGone || be.active == 0 {
		b.forget(be)
		b.mu.Unlock()
		be.closeIdle()
		done()
		return
	}
	be.state = stateDraining
	be.drained = append(be.drained, done)
	b.mu.Unlock()
	be.closeIdle()
}

// Remove takes be out of rotation at once (its process crashed or is being
// stopped); connections it still has are left to end on their own.
func (b *Balancer) Remove(be *Backend) {
	if be == nil || be.b != b {
		return
	}
	b.mu.Lock()
	b.forget(be)
	b.mu.Unlock()
	be.closeIdle()
}

// forget marks be gone and drops it from b.backends. b.mu is held.
func (b *Balancer) forget(be *Backend) {
	if be.state == stateGone {
		return
	}
	be.state = stateGone
	if i := slices.Index(b.backends, be); i >= 0 {
		b.backends = slices.Delete(b.backends, i, i+1)
	}
}

// closeIdle closes be's idle keep-alive connections (http mode); be is
// out of rotation, and its connections are closed as their requests end
// from now on.
func (be *Backend) closeIdle() {
	if be.conns != nil {
		be.conns.retire()
		be.tr.CloseIdleConnections()
	}
}

// Backends reports every backend in rotation or draining, by instance.
func (b *Balancer) Backends() []BackendStatus {
	b.mu.Lock()
	out := make([]BackendStatus, 0, len(b.backends))
	for _, be := range b.backends {
		out = append(out, BackendStatus{
			Instance: be.instance, PID: be.pid, Addr: be.addr, Port: be.port,
			Draining: be.state == stateDraining, Active: be.active,
		})
	}
	b.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Instance != out[j].Instance {
			return out[i].Instance < out[j].Instance
		}
		return out[i].PID < out[j].PID
	})
	return out
}

// Stats returns the counters.
func (b *Balancer) Stats() Stats {
	st := Stats{Connections: b.connections.Load(), Errors: make(map[string]uint64, numKinds)}
	for i, kind := range ErrorKinds {
		st.Errors[kind] = b.errs[i].Load()
	}
	if b.http != nil {
		st.Requests = b.http.requests()
	}
	return st
}

// WriteMetrics writes the http-mode request-duration histogram
// (thorp_proxy_request_duration_seconds{component}) in the Prometheus text
// format, without # HELP and # TYPE lines; nothing in tcp mode.
func (b *Balancer) WriteMetrics(w io.Writer) {
	if b.http != nil {
		b.http.set.WritePrometheus(w)
	}
}

// Close stops accepting, closes every client and backend connection, waits
// for the Balancer's goroutines and leaves the listener open and usable.
// It is safe to call twice; Drain callbacks still pending are called as
// their connections end.
func (b *Balancer) Close() error {
	b.once.Do(func() {
		b.mu.Lock()
		b.closed = true
		b.cancel()
		conns := make([]*pipe, 0, len(b.conns))
		for p := range b.conns {
			conns = append(conns, p)
		}
		parked := make([]*clientConn, 0, len(b.parked))
		for c := range b.parked {
			parked = append(parked, c)
		}
		b.mu.Unlock()
		for _, c := range parked {
			c.Conn.Close()
		}

		if b.http != nil {
			b.closeErr = b.http.close()
		} else {
			b.closeErr = b.ln.Close()
		}
		for _, p := range conns {
			p.close()
		}
		<-b.accepted
		b.wg.Wait()
		b.ln.reset()

		b.mu.Lock()
		backends := append([]*Backend(nil), b.backends...)
		b.mu.Unlock()
		for _, be := range backends {
			be.closeIdle()
		}
	})
	return b.closeErr
}

// release ends a connection or request on be: a drained backend whose
// last one this was has its Drain callbacks called; in http mode the idle
// connections of a backend out of rotation are closed.
func (be *Backend) release() {
	b := be.b
	b.mu.Lock()
	be.active--
	var done []func()
	if be.active == 0 && be.drained != nil {
		done = be.drained
		be.drained = nil
		b.forget(be)
	}
	out := be.state != stateIn
	b.mu.Unlock()
	if out {
		be.closeIdle()
	}
	for _, f := range done {
		f()
	}
}

// count adds one to the error counter of kind.
func (b *Balancer) count(kind int) { b.errs[kind].Add(1) }
