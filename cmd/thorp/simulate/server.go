package simulate

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Grace periods of Server.Shutdown; variables so tests can shorten them.
var (
	// drainWindow is how long Shutdown keeps accepting from an owned
	// listener's kernel queue after it stopped new handshakes.
	drainWindow = 100 * time.Millisecond
	// idleGrace is how long an idle keep-alive connection may still send a
	// request after shutdown began (or after its last response).
	idleGrace = 100 * time.Millisecond
	// newGrace is the same for an accepted connection that has not sent its
	// first request yet: the client connected to send one, so it gets longer.
	newGrace = time.Second
	// sweepEvery is how often Shutdown looks at the remaining connections.
	sweepEvery = 10 * time.Millisecond
)

// errStopped ends http.Server.Serve once Shutdown has drained the listener.
var errStopped = errors.New("server stopped")

// Server is the HTTP server the leak and http workloads share. Unlike
// http.Server.Shutdown alone, its Shutdown answers every connection the
// process accepted, including those still in the kernel's accept queue and
// those whose first request has not been read yet.
//
// Call Serve once, and Shutdown (from another goroutine) to stop it; both are
// safe for concurrent use, and Shutdown is safe to call more than once.
type Server struct {
	ln  *Listener
	srv *http.Server

	shutting  atomic.Bool
	serving   atomic.Bool
	serveDone chan struct{}
	stopOnce  sync.Once
	stopAt    time.Time // set once, before shutting is stored

	mu    sync.Mutex
	conns map[*trackedConn]connEntry
}

// connEntry is what Server knows of one accepted connection.
type connEntry struct {
	state http.ConnState
	since time.Time
}

// NewServer returns a Server that will serve h on ln. While shutting down,
// every response carries "Connection: close".
func NewServer(ln *Listener, h http.Handler) *Server {
	s := &Server{
		ln:        ln,
		serveDone: make(chan struct{}),
		conns:     make(map[*trackedConn]connEntry),
	}
	s.srv = &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if s.shutting.Load() {
				w.Header().Set("Connection", "close")
			}
			h.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       60 * time.Second,
		ConnState:         s.connState,
	}
	return s
}

// Addr returns the address the server listens on.
func (s *Server) Addr() net.Addr { return s.ln.Addr() }

// Serve accepts and serves connections until Shutdown, then returns nil once
// the listener is drained (Shutdown goes on waiting for the connections).
// Any other error ends it early.
func (s *Server) Serve() error {
	defer close(s.serveDone)
	if !s.serving.CompareAndSwap(false, true) {
		return errors.New("serve called twice")
	}
	if s.shutting.Load() {
		_ = s.ln.Close()
		return nil
	}
	err := s.srv.Serve(&drainListener{Listener: s.ln.Listener, s: s})
	if s.shutting.Load() {
		return nil
	}
	return fmt.Errorf("serve http: %w", err)
}

// Shutdown stops the server without losing a request it accepted:
//
//  1. Responses from now on carry "Connection: close".
//  2. An owned listener gets a socket filter that drops new SYNs, so no new
//     connection completes (clients retry, then find the port closed), and
//     for drainWindow Shutdown goes on accepting what the kernel had already
//     queued: handshakes completed before the filter. Then it closes the
//     listener. An inherited listener is closed at once: the parent's copy
//     keeps its queue for the next instance.
//  3. It waits for every accepted connection to finish its request. One that
//     has not sent a request (new or keep-alive idle) is closed after a short
//     grace, and only when no bytes are waiting in its receive buffer.
//
// Shutdown returns nil when every connection is closed, or ctx's error after
// closing whatever remains when ctx ends first.
func (s *Server) Shutdown(ctx context.Context) error {
	s.stopOnce.Do(func() {
		s.stopAt = time.Now()
		s.shutting.Store(true)
		if !s.serving.Load() {
			_ = s.ln.Close()
			return
		}
		dl, ok := s.ln.Listener.(interface{ SetDeadline(time.Time) error })
		if s.ln.Inherited || !ok {
			_ = s.ln.Close()
			return
		}
		_ = dropNewSYNs(s.ln.Listener) // best effort: without it the window is just racier
		_ = dl.SetDeadline(time.Now().Add(drainWindow))
	})
	if s.serving.Load() {
		select {
		case <-s.serveDone:
		case <-ctx.Done():
			_ = s.srv.Close()
			return fmt.Errorf("shutdown: %w", ctx.Err())
		}
	}
	t := time.NewTicker(sweepEvery)
	defer t.Stop()
	for {
		if s.sweep(time.Now()) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			_ = s.srv.Close()
			return fmt.Errorf("shutdown: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// sweep closes connections that sent nothing within their grace and returns
// how many connections remain open.
func (s *Server) sweep(now time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	for c, e := range s.conns {
		var grace time.Duration
		switch e.state {
		case http.StateNew:
			grace = newGrace
		case http.StateIdle:
			grace = idleGrace
		default:
			continue
		}
		quiet := e.since
		if s.stopAt.After(quiet) {
			quiet = s.stopAt
		}
		if last := c.lastRead(); last.After(quiet) {
			quiet = last
		}
		if now.Sub(quiet) < grace || c.pending() {
			continue
		}
		_ = c.Close()
		delete(s.conns, c) // its StateClosed callback finds nothing
	}
	return len(s.conns)
}

func (s *Server) connState(nc net.Conn, st http.ConnState) {
	c, ok := nc.(*trackedConn)
	if !ok {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch st {
	case http.StateClosed, http.StateHijacked:
		delete(s.conns, c)
	default:
		s.conns[c] = connEntry{state: st, since: time.Now()}
	}
}

// drainListener wraps accepted connections for tracking and ends Serve at
// the first accept error once shutdown began (the drain deadline or close).
type drainListener struct {
	net.Listener
	s *Server
}

func (l *drainListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		if l.s.shutting.Load() {
			return nil, errStopped
		}
		return nil, err
	}
	return &trackedConn{Conn: c}, nil
}

// trackedConn remembers when it last read bytes, so Shutdown never closes a
// connection whose request is being read.
type trackedConn struct {
	net.Conn
	lastReadNano atomic.Int64
}

func (c *trackedConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.lastReadNano.Store(time.Now().UnixNano())
	}
	return n, err
}

func (c *trackedConn) lastRead() time.Time {
	n := c.lastReadNano.Load()
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n)
}

// pending reports whether bytes wait in the socket's receive buffer.
func (c *trackedConn) pending() bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	n := 0
	_ = raw.Control(func(fd uintptr) {
		n, _ = unix.IoctlGetInt(int(fd), unix.SIOCINQ)
	})
	return n > 0
}

// dropNewSYNs attaches a classic BPF filter to a listening TCP socket that
// drops segments with SYN set and ACK clear: new connection attempts. The
// final ACKs of handshakes already under way still pass, so they complete
// into the accept queue. The filter sees the TCP header at offset 0; byte 13
// holds the flags.
func dropNewSYNs(ln net.Listener) error {
	sc, ok := ln.(syscall.Conn)
	if !ok {
		return errors.New("listener has no file descriptor")
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return fmt.Errorf("drop new syns: %w", err)
	}
	const (
		ldAbsB  = 0x30 // BPF_LD | BPF_B | BPF_ABS
		aluAndK = 0x54 // BPF_ALU | BPF_AND | BPF_K
		jmpJeqK = 0x15 // BPF_JMP | BPF_JEQ | BPF_K
		retK    = 0x06 // BPF_RET | BPF_K
		synAck  = 0x12
		syn     = 0x02
	)
	prog := []unix.SockFilter{
		{Code: ldAbsB, K: 13},
		{Code: aluAndK, K: synAck},
		{Code: jmpJeqK, Jt: 0, Jf: 1, K: syn},
		{Code: retK, K: 0},          // drop
		{Code: retK, K: 0xffffffff}, // keep the whole segment
	}
	fprog := unix.SockFprog{Len: uint16(len(prog)), Filter: &prog[0]}
	var serr error
	if err := raw.Control(func(fd uintptr) {
		serr = unix.SetsockoptSockFprog(int(fd), unix.SOL_SOCKET, unix.SO_ATTACH_FILTER, &fprog)
	}); err != nil {
		return fmt.Errorf("drop new syns: %w", err)
	}
	if serr != nil {
		return fmt.Errorf("drop new syns: %w", serr)
	}
	return nil
}
