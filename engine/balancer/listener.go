package balancer

import (
	"net"
	"sync/atomic"
	"time"
)

// listener is the Balancer's view of the caller's listener: closing it
// only stops Accept (by a deadline in the past), so the listener stays
// bound and another Balancer may accept on it once reset has run.
type listener struct {
	net.Listener
	stopped atomic.Bool
}

// deadliner is implemented by *net.TCPListener and *net.UnixListener.
type deadliner interface{ SetDeadline(time.Time) error }

// Accept waits for the next client; after Close it returns net.ErrClosed
// (closing a client accepted in the same instant).
func (l *listener) Accept() (net.Conn, error) {
	if l.stopped.Load() {
		return nil, net.ErrClosed
	}
	c, err := l.Listener.Accept()
	if l.stopped.Load() {
		if c != nil {
			c.Close()
		}
		return nil, net.ErrClosed
	}
	return c, err
}

// Close stops Accept without closing the listener (http.Server.Serve
// closes its listener when it returns). A listener without deadlines is
// closed: nothing else interrupts its Accept.
func (l *listener) Close() error {
	if l.stopped.Swap(true) {
		return nil
	}
	if d, ok := l.Listener.(deadliner); ok {
		return d.SetDeadline(time.Unix(1, 0))
	}
	return l.Listener.Close()
}

// reset clears the deadline Close set, once nothing accepts any more.
func (l *listener) reset() {
	if d, ok := l.Listener.(deadliner); ok && l.stopped.Load() {
		d.SetDeadline(time.Time{})
	}
}
