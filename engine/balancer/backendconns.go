package balancer

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// backendConns is one backend's keep-alive connections in http mode and
// the exchange of a request without a body over one of them: the request
// is written and its response read on the goroutine serving the client,
// so a request costs no hand-off between goroutines and an idle
// connection holds no goroutine and no buffer, only its socket (an
// http.Transport keeps a reader and a writer goroutine, with their
// buffers, per connection). A connection goes back to the pool when its
// response body has been read to the end; it is closed instead when the
// body is not read to the end, when either side said Connection: close,
// when the request's context ends first, or once the pool is retired
// (the backend left rotation). Idle connections are closed after
// backendIdle. Requests with a body go through the backend's
// http.Transport (see httpProxy.RoundTrip).
type backendConns struct {
	addr string

	mu      sync.Mutex
	idle    []*backendConn // least recently used first
	retired bool
	expiry  *time.Timer // closes connections idle for backendIdle; nil until the first is idle
	armed   bool        // expiry is set to fire
}

// backendConn is one connection to a backend.
type backendConn struct {
	net.Conn
	raw       syscall.RawConn
	peek      func(fd uintptr) bool // for usable
	alive     bool                  // peek's answer
	idleSince time.Time

	// While a response header is read, how much more of it may come: a
	// backend that never ends its header fails the exchange instead of
	// growing thorp's memory (http.Transport's MaxResponseHeaderBytes).
	inHeader   bool
	headerLeft int64
}

// maxResponseHeader bounds a response's header (and the informational
// responses before it), as http.Transport's default does.
const maxResponseHeader = 10 << 20

var errHeaderTooLarge = errors.New("backend response header too large")

// Read reads from the connection, within headerLeft while a header is read.
func (c *backendConn) Read(p []byte) (int, error) {
	if !c.inHeader {
		return c.Conn.Read(p)
	}
	if c.headerLeft <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > c.headerLeft {
		p = p[:c.headerLeft]
	}
	n, err := c.Conn.Read(p)
	c.headerLeft -= int64(n)
	return n, err
}

func newBackendConns(addr string) *backendConns {
	return &backendConns{addr: addr}
}

// Buffers of the exchanges, lent for the time of one: an idle connection
// keeps none.
var (
	connReaders = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	connWriters = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// max1xx bounds the informational responses read before the final one.
const max1xx = 5

// roundTrip sends req, which has no body, on an idle connection (or a new
// one) and returns its response. A reused connection that fails before
// any response (the backend closed it as it was taken) is replaced by a
// new one when req may be sent twice; a dial error is a *net.OpError
// whose Op is "dial".
func (p *backendConns) roundTrip(req *http.Request) (*http.Response, error) {
	if c := p.get(); c != nil {
		res, started, err := p.exchange(c, req)
		if err == nil || started || !replayable(req) || req.Context().Err() != nil {
			return res, err
		}
	}
	c, err := p.dial(req.Context())
	if err != nil {
		return nil, err
	}
	res, _, err := p.exchange(c, req)
	return res, err
}

// dial opens a new connection to the backend.
func (p *backendConns) dial(ctx context.Context) (*backendConn, error) {
	conn, err := dialBackend(ctx, "tcp", p.addr)
	if err != nil {
		return nil, err
	}
	c := &backendConn{Conn: conn}
	if sc, ok := conn.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil {
			c.raw, c.peek = raw, c.peekFunc()
		}
	}
	return c, nil
}

// exchange writes req on c and reads the response header. started reports
// whether any of the response had come when it failed. The response's
// body owns c from then on: reading it to the end returns c to the pool.
func (p *backendConns) exchange(c *backendConn, req *http.Request) (res *http.Response, started bool, err error) {
	ctx := req.Context()
	stop := context.AfterFunc(ctx, func() { c.Close() })
	var br *bufio.Reader
	fail := func(err error) (*http.Response, bool, error) {
		if br != nil {
			putReader(br)
		}
		stop()
		c.Close()
		if ctx.Err() != nil {
			err = ctx.Err() // the connection was closed for the cancellation
		}
		return nil, started, err
	}

	bw := connWriters.Get().(*bufio.Writer)
	bw.Reset(c)
	err = req.Write(bw)
	if err == nil {
		err = bw.Flush()
	}
	bw.Reset(nil)
	connWriters.Put(bw)
	if err != nil {
		return fail(err)
	}

	br = connReaders.Get().(*bufio.Reader)
	br.Reset(c)
	if _, err := br.Peek(1); err != nil {
		return fail(err)
	}
	started = true
	c.inHeader, c.headerLeft = true, maxResponseHeader
	for n := 0; ; n++ {
		res, err = http.ReadResponse(br, req)
		if err != nil {
			return fail(err)
		}
		if res.StatusCode < 100 || res.StatusCode > 199 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n == max1xx {
			return fail(errors.New("too many 1xx informational responses"))
		}
		if trace := httptrace.ContextClientTrace(ctx); trace != nil && trace.Got1xxResponse != nil {
			if err := trace.Got1xxResponse(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
				return fail(err)
			}
		}
	}

	c.inHeader = false
	if res.StatusCode == http.StatusSwitchingProtocols {
		// The connection is the upgraded stream's; what the reader holds
		// beyond the response header is its first bytes.
		res.Body = &upgradedConn{Reader: br, c: c, stop: stop}
		return res, true, nil
	}
	rb := &responseBody{ReadCloser: res.Body, p: p, c: c, br: br, stop: stop, ctx: ctx, keep: !res.Close && !req.Close}
	if res.Body == http.NoBody {
		rb.finish(true)
		return res, true, nil
	}
	res.Body = rb
	return res, true, nil
}

// putReader returns br to its pool.
func putReader(br *bufio.Reader) {
	br.Reset(nil)
	connReaders.Put(br)
}

// responseBody is a response's body as the connection's owner: at its end
// the connection goes back to the pool, and closed before the end the
// connection is closed. Read and Close are called by one goroutine.
type responseBody struct {
	io.ReadCloser
	p    *backendConns
	c    *backendConn
	br   *bufio.Reader
	stop func() bool
	ctx  context.Context
	keep bool // neither side asked to close the connection
	done bool
}

func (b *responseBody) Read(buf []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(buf)
	switch {
	case err == io.EOF:
		b.finish(true)
	case err != nil:
		if b.ctx.Err() != nil {
			err = b.ctx.Err() // the connection was closed for the cancellation
		}
		b.finish(false)
	}
	return n, err
}

// Close closes the connection unless the body was read to its end.
func (b *responseBody) Close() error {
	if !b.done {
		b.finish(false)
	}
	return nil
}

// finish hands the connection back to the pool when the exchange ended
// cleanly (read to the end, nothing more sent, no close asked, the
// context not cancelled), and closes it otherwise.
func (b *responseBody) finish(clean bool) {
	b.done = true
	clean = b.stop() && clean && b.keep && b.br.Buffered() == 0
	putReader(b.br)
	b.br = nil
	if clean {
		b.p.put(b.c)
	} else {
		b.c.Close()
	}
}

// upgradedConn is the body of a 101 response: the connection itself,
// for ReverseProxy to copy both ways; it never goes back to the pool.
// Close may be called while a Read is blocked.
type upgradedConn struct {
	*bufio.Reader
	c    *backendConn
	stop func() bool
}

func (u *upgradedConn) Write(p []byte) (int, error) { return u.c.Write(p) }

func (u *upgradedConn) Close() error {
	u.stop()
	return u.c.Close()
}

// get returns the most recently used idle connection that the backend
// has not closed, or nil.
func (p *backendConns) get() *backendConn {
	for {
		p.mu.Lock()
		n := len(p.idle)
		if n == 0 {
			p.mu.Unlock()
			return nil
		}
		c := p.idle[n-1]
		p.idle[n-1] = nil
		p.idle = p.idle[:n-1]
		p.mu.Unlock()
		if c.usable() {
			return c
		}
		c.Close()
	}
}

// usable reports whether an idle connection can take a request: the
// backend has neither closed it nor sent anything unasked. It peeks
// without blocking, in place of the reader goroutine an http.Transport
// keeps on every idle connection to notice the same.
func (c *backendConn) usable() bool {
	if c.raw == nil {
		return true
	}
	c.alive = false
	return c.raw.Read(c.peek) == nil && c.alive
}

// peek is c.raw's read function for usable, made once per connection.
func (c *backendConn) peekFunc() func(uintptr) bool {
	var b [1]byte
	return func(fd uintptr) bool {
		_, errno := peekFD(fd, &b)
		c.alive = errno == unix.EAGAIN
		return true
	}
}

// put makes c idle, or closes it when the pool is retired or full.
func (p *backendConns) put(c *backendConn) {
	c.idleSince = time.Now()
	p.mu.Lock()
	if p.retired || len(p.idle) >= maxIdlePerBackend {
		p.mu.Unlock()
		c.Close()
		return
	}
	p.idle = append(p.idle, c)
	if !p.armed {
		p.armed = true
		if p.expiry == nil {
			p.expiry = time.AfterFunc(backendIdle, p.expire)
		} else {
			p.expiry.Reset(backendIdle)
		}
	}
	p.mu.Unlock()
}

// expire closes the connections idle for backendIdle and sets the timer
// for the next.
func (p *backendConns) expire() {
	now := time.Now()
	p.mu.Lock()
	n := 0
	for n < len(p.idle) && now.Sub(p.idle[n].idleSince) >= backendIdle {
		n++
	}
	old := make([]*backendConn, n)
	copy(old, p.idle[:n])
	p.idle = append(p.idle[:0], p.idle[n:]...)
	clear(p.idle[len(p.idle):cap(p.idle)])
	p.armed = len(p.idle) > 0 && !p.retired
	if p.armed {
		p.expiry.Reset(backendIdle - now.Sub(p.idle[0].idleSince))
	}
	p.mu.Unlock()
	for _, c := range old {
		c.Close()
	}
}

// retire closes the idle connections and keeps none from now on: the
// backend is out of rotation.
func (p *backendConns) retire() {
	p.mu.Lock()
	p.retired = true
	idle := p.idle
	p.idle = nil
	if p.expiry != nil {
		p.expiry.Stop()
	}
	p.armed = false
	p.mu.Unlock()
	for _, c := range idle {
		c.Close()
	}
}
