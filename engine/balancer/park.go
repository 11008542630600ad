package balancer

import (
	"errors"
	"net"
	"net/http"
	"os"
	"runtime"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Parking idle keep-alive client connections (http mode). net/http's
// server keeps a goroutine, its stack (8 KiB once a request has been
// served) and a 4 KiB reader and writer for every client connection,
// idle or not: about 18 KiB per idle keep-alive connection. A connection
// idle for parkAfter is therefore taken from the server and parked: the
// server's idle timeout is parkAfter, and when that read times out with
// nothing read and nothing of a next request in the server's buffer
// (the start of one sent with the previous request: the connection is
// closed then, as net/http closes it), its Close is turned into parking,
// which leaves only the
// socket and a goroutine with a small stack waiting for it to become
// readable. When the client sends its next request the connection is
// handed back to the server (through a second Serve on returnedConns) as
// if it were new, without being counted again; the client sees nothing
// (its bytes were only peeked). A parked connection is closed when the
// client closes it, when it has been idle for idleTimeout in all, and by
// Close.
var (
	parkAfter   = time.Second
	idleTimeout = 2 * time.Minute
)

// Parking frees what the server held only for the garbage collector, and
// an idle thorp allocates too little to start a collection for minutes:
// once parkCollectMin connections have been parked since the last
// collection, the balancer collects (and returns the freed memory to the
// system) parkCollectDelay later, at most once per parkCollectEvery.
const (
	parkCollectMin   = 256
	parkCollectDelay = 200 * time.Millisecond
	parkCollectEvery = 10 * time.Second
)

// clientConn is a client connection of http mode's server.
type clientConn struct {
	net.Conn
	h *httpProxy

	// Set by the server's goroutine for the connection (its ConnState
	// calls and reads).
	idle      bool      // between StateIdle and StateActive
	idleRead  bool      // something was read while idle
	idleSince time.Time // when it last became idle
	bufSize   int       // the server's read buffer: its first read, into the empty buffer

	parkable atomic.Bool // the idle read timed out with nothing read: Close parks
	returned bool        // handed back after parking: not a new client
}

// Read reads for the server, noting a wait for the next request that ran
// out with nothing read. A read into less than the server's whole buffer
// means that the server holds bytes already read (the start of the next
// request, sent with the previous one): parking would lose them.
func (c *clientConn) Read(p []byte) (int, error) {
	if c.bufSize == 0 {
		c.bufSize = len(p)
	}
	n, err := c.Conn.Read(p)
	if c.idle {
		c.idleRead = c.idleRead || n > 0
		if err != nil && !c.idleRead && len(p) >= c.bufSize && errors.Is(err, os.ErrDeadlineExceeded) {
			c.parkable.Store(true)
		}
	}
	return n, err
}

// Close parks the connection when the server lets go of it for being
// idle, and closes it otherwise.
func (c *clientConn) Close() error {
	if c.parkable.Swap(false) && c.h.park(c) {
		return nil
	}
	return c.Conn.Close()
}

// CloseWrite half-closes the connection (the server's lingering close).
func (c *clientConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return c.Conn.Close()
}

// connState follows a client connection's state for parking.
func (c *clientConn) connState(state http.ConnState) {
	switch state {
	case http.StateActive:
		c.idle = false
	case http.StateIdle:
		c.idle, c.idleRead, c.idleSince = true, false, time.Now()
	}
}

// clientListener hands the server its connections as clientConns.
type clientListener struct {
	*listener
	h *httpProxy
}

func (l clientListener) Accept() (net.Conn, error) {
	c, err := l.listener.Accept()
	if err != nil {
		return nil, err
	}
	return &clientConn{Conn: c, h: l.h}, nil
}

// returnedConns is the listener of the server's second Serve: the parked
// connections whose clients sent their next request.
type returnedConns struct {
	conns chan *clientConn
	done  chan struct{}
	once  sync.Once
	addr  net.Addr
}

func newReturnedConns(addr net.Addr) *returnedConns {
	return &returnedConns{conns: make(chan *clientConn), done: make(chan struct{}), addr: addr}
}

func (l *returnedConns) Accept() (net.Conn, error) {
	select {
	case c := <-l.conns:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

func (l *returnedConns) Close() error {
	l.once.Do(func() { close(l.done) })
	return nil
}

func (l *returnedConns) Addr() net.Addr { return l.addr }

// park takes c from the server until its client sends again; false when
// it cannot be parked (the Balancer is closing), and c is closed.
func (h *httpProxy) park(c *clientConn) bool {
	sc, ok := c.Conn.(syscall.Conn)
	if !ok {
		return false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	b := h.b
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return false
	}
	b.parked[c] = true
	b.wg.Add(1)
	b.mu.Unlock()
	go h.waitParked(c, raw)
	h.countParked()
	return true
}

// waitParked waits until the client of the parked c sends its next
// request and hands c back to the server, or closes c.
func (h *httpProxy) waitParked(c *clientConn, raw syscall.RawConn) {
	b := h.b
	defer b.wg.Done()
	ready := c.SetReadDeadline(c.idleSince.Add(idleTimeout)) == nil && readable(raw) &&
		c.SetReadDeadline(time.Time{}) == nil
	b.mu.Lock()
	delete(b.parked, c)
	b.mu.Unlock()
	if !ready {
		c.Conn.Close()
		return
	}
	c.returned, c.idle = true, false
	select {
	case h.returned.conns <- c:
	case <-b.ctx.Done():
		c.Conn.Close()
	}
}

// readable waits until the connection has bytes to read; false when the
// client closed it, on an error and at the read deadline.
func readable(raw syscall.RawConn) bool {
	var buf [1]byte
	ok := false
	err := raw.Read(func(fd uintptr) bool {
		n, errno := peekFD(fd, &buf)
		if errno == unix.EAGAIN {
			return false
		}
		ok = errno == 0 && n > 0
		return true
	})
	return err == nil && ok
}

// peekFD peeks at the socket fd without blocking: the number of bytes
// peeked (0 at the end of the stream) or the errno (EAGAIN: nothing to
// read yet). It calls recvfrom itself: unix.Recvfrom allocates once per
// call, and usable peeks before every request on a pooled connection.
func peekFD(fd uintptr, buf *[1]byte) (uintptr, syscall.Errno) {
	n, _, errno := unix.Syscall6(unix.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&buf[0])), 1, unix.MSG_PEEK|unix.MSG_DONTWAIT, 0, 0)
	return n, errno
}

// countParked counts a parked connection and schedules the collection
// that frees what the server held for the parked connections.
func (h *httpProxy) countParked() {
	if h.sinceCollect.Add(1) != parkCollectMin {
		return
	}
	h.collectMu.Lock()
	defer h.collectMu.Unlock()
	if h.collectClosed {
		return
	}
	delay := max(parkCollectDelay, time.Until(h.lastCollect.Add(parkCollectEvery)))
	// The collection is one of the Balancer's goroutines: Close waits for
	// it when stopCollect is too late to stop it. The Add is safe while
	// Close waits: the server's goroutine parking a connection is counted.
	h.b.wg.Add(1)
	h.collect = time.AfterFunc(delay, func() {
		defer h.b.wg.Done()
		h.collectMu.Lock()
		h.lastCollect = time.Now()
		h.collectMu.Unlock()
		h.sinceCollect.Store(0)
		// Two: the server's buffers went back to a sync.Pool, which
		// one collection only moves to its victim cache.
		runtime.GC()
		debug.FreeOSMemory()
	})
}

// stopCollect cancels a scheduled collection (Close, which waits for
// one already started).
func (h *httpProxy) stopCollect() {
	h.collectMu.Lock()
	h.collectClosed = true
	if h.collect != nil && h.collect.Stop() {
		h.b.wg.Done()
	}
	h.collectMu.Unlock()
}
