// Package balancer is thorp's per-component load balancer: it accepts
// clients on a listener thorp holds and forwards each connection (tcp mode)
// or request (http mode) to the backend in rotation with the fewest active
// connections. Backends are loopback addresses of a component's processes;
// the engine adds one when its process is ready, drains it before a planned
// stop and removes it when it crashes. It knows nothing of processes.
package balancer

import (
	"io"
	"log/slog"
	"net"
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

// Options configure a Balancer.
type Options struct {
	// Component names the component, for logs and metric labels.
	Component string
	// Mode is ModeTCP (default) or ModeHTTP.
	Mode string
	// QueueTimeout bounds how long a client waits for a backend in
	// rotation before it is turned away (counted as no_backend).
	QueueTimeout time.Duration
	// Log receives the balancer's own warnings; nil discards them.
	Log *slog.Logger
}

// Balancer forwards clients from one listener to its backends. Its methods
// are safe for concurrent use. The listener stays the caller's: Close stops
// accepting without closing it, so another Balancer may take it over.
type Balancer struct{}

// Backend is one backend of a Balancer (a process's loopback address).
type Backend struct{}

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
func New(ln net.Listener, opts Options) *Balancer { panic("TODO") }

// SetQueueTimeout changes how long clients wait for a backend (a reload).
func (b *Balancer) SetQueueTimeout(d time.Duration) { panic("TODO") }

// Add puts the backend at addr (host:port on loopback), the process pid of
// instance, in rotation: new clients may go to it, clients waiting in the
// queue proceed.
func (b *Balancer) Add(instance, pid int, addr string) *Backend { panic("TODO") }

// Drain takes be out of rotation and calls done once (on a goroutine the
// Balancer owns, or before Drain returns when be has no open connection)
// when its last connection or request has ended. In http mode the idle
// keep-alive connections to be are closed at once and after each request.
// done must not block. Draining a backend already drained or removed
// calls done at once.
func (b *Balancer) Drain(be *Backend, done func()) { panic("TODO") }

// Remove takes be out of rotation at once (its process crashed or is being
// stopped); connections it still has are left to end on their own.
func (b *Balancer) Remove(be *Backend) { panic("TODO") }

// Backends reports every backend in rotation or draining, by instance.
func (b *Balancer) Backends() []BackendStatus { panic("TODO") }

// Stats returns the counters.
func (b *Balancer) Stats() Stats { panic("TODO") }

// WriteMetrics writes the http-mode request-duration histogram
// (thorp_proxy_request_duration_seconds{component}) in the Prometheus text
// format, without # HELP and # TYPE lines; nothing in tcp mode.
func (b *Balancer) WriteMetrics(w io.Writer) { panic("TODO") }

// Close stops accepting, closes every client and backend connection, waits
// for the Balancer's goroutines and leaves the listener open and usable.
func (b *Balancer) Close() error { panic("TODO") }
