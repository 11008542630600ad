package rotate

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// readSize is Copy's read buffer: a quarter of the 1 MiB pipe the
	// spawner asks for. A writer faster than the copy finds the pipe full
	// and is woken once per read: with 64 KiB reads, sixteen times per MiB.
	// 1 MiB reads measured no better than 256 KiB ones.
	readSize = 256 << 10
	// flushAt is how much framed output Copy collects before writing.
	flushAt = 128 << 10
	// PartialLineWait is how long a partial line (no newline yet) waits
	// for its end before it is written as a cut piece, ending in
	// CutMarker, the rest of the line following as the next line. It is
	// long enough that a writer descheduled in the middle of a line on a
	// loaded machine does not have the line cut (it was 200 ms, and a
	// machine at load average 15 once split a line that way), and short
	// enough that a prompt written without a newline shows.
	PartialLineWait = 5 * time.Second
	// dropBuffers is the number of buffers in flight in "drop" mode.
	dropBuffers = 8
	// carryMax is the longest partial line carried into the next read.
	carryMax = 4 << 10
)

// Stream names used in Source.Stream.
const (
	StreamOut   = "out"
	StreamErr   = "err"
	StreamThorp = "thorp"
)

// Source describes a stream feeding a File; it fills the json fields.
type Source struct {
	Component string
	// Stream is "out", "err" or "thorp".
	Stream string
	// Instance is the component's instance (0 for the first, and for
	// thorp's own lines).
	Instance int
	PID      int
}

// Copy reads r until EOF, frames lines and writes them to f, then returns
// nil (or the read error, wrapped) after writing the last partial line.
//
// In "block" mode (the default) every chunk read is written before the next
// read, so a slow disk slows the writer of r and nothing is dropped. In
// "drop" mode Copy keeps reading and drops whole lines (counted in
// Stats.DroppedBytes) when more than Options.DropBound bytes wait to be
// written. A partial line is written after PartialLineWait without more
// input, marked as cut (CutMarker): it is never taken for a whole line.
// Memory used is bounded by fixed buffers whatever r delivers.
//
// Several Copy calls (e.g. stdout and stderr merged) may run on one File
// concurrently; their lines never interleave.
func (f *File) Copy(r io.Reader, src Source) error {
	c := &copier{f: f}
	c.fr = newFramer(src, flushAt, c.emit)
	if f.opts.Load().Overflow == OverflowDrop {
		c.pipe = newDropPipe(f)
		defer c.pipe.close()
	}
	// A short partial line is carried in front of the next read, so that
	// the common case (reads ending inside a line) stays on the fast path.
	// The read buffer is pooled and held only while data is at hand: an
	// idle component costs no buffer (see pooledReader).
	rd := newPooledReader(r)
	for {
		var idle int
		n, pre, err := rd.read(func(buf []byte) int {
			c.mu.Lock()
			defer c.mu.Unlock()
			idle = c.idleFlushes
			if len(c.part) <= carryMax {
				return copy(buf, c.part)
			}
			return 0
		})
		if n > 0 || pre > 0 {
			c.mu.Lock()
			data := rd.buf[pre : pre+n]
			if pre > 0 && c.idleFlushes == idle { // not written by the idle timer meanwhile
				data = rd.buf[:pre+n]
				c.part = c.part[:0]
			}
			c.chunkLocked(data)
			c.releaseOut()
			c.mu.Unlock()
		}
		if rd.raw == nil || err != nil {
			// A pipe's buffer is kept while data flows and released
			// when a read would wait (see read): a flood takes no buffer
			// from the pool per read, which the GC empties.
			rd.release()
		}
		if err != nil {
			c.finish()
			if errors.Is(err, io.EOF) {
				return nil
			}
			return fmt.Errorf("copy %s %s to %s: %w", src.Component, src.Stream, f.path, err)
		}
	}
}

// readBufs holds Copy's read buffers between reads.
var readBufs = sync.Pool{New: func() any { b := make([]byte, carryMax+readSize); return &b }}

// pooledReader reads r into a pooled buffer. For a pipe (an *os.File or
// anything with a syscall.RawConn) it waits for data without holding a
// buffer, so thousands of idle components cost no read memory.
type pooledReader struct {
	r   io.Reader
	raw syscall.RawConn // nil: a plain io.Reader, read with a held buffer
	bp  *[]byte
	buf []byte
}

func newPooledReader(r io.Reader) *pooledReader {
	cr := &pooledReader{r: r}
	if sc, ok := r.(syscall.Conn); ok {
		if raw, err := sc.SyscallConn(); err == nil && isPollable(raw) {
			cr.raw = raw
		}
	}
	return cr
}

// isPollable reports whether raw's reads go through the runtime poller (a
// non-blocking pipe or socket); a blocking file would tie up a thread.
func isPollable(raw syscall.RawConn) bool {
	nonblock := false
	_ = raw.Control(func(fd uintptr) {
		fl, err := unix.FcntlInt(fd, unix.F_GETFL, 0)
		nonblock = err == nil && fl&unix.O_NONBLOCK != 0
	})
	return nonblock
}

func (cr *pooledReader) acquire() {
	if cr.buf == nil {
		cr.bp = readBufs.Get().(*[]byte)
		cr.buf = *cr.bp
	}
}

// release returns the buffer to the pool.
func (cr *pooledReader) release() {
	if cr.bp != nil {
		readBufs.Put(cr.bp)
		cr.bp, cr.buf = nil, nil
	}
}

// read fills cr.buf: carry copies a carried partial line to its front and
// returns its length (pre); then up to readSize bytes are read after it.
func (cr *pooledReader) read(carry func([]byte) int) (n, pre int, err error) {
	if cr.raw == nil {
		cr.acquire()
		pre = carry(cr.buf)
		n, err = cr.r.Read(cr.buf[pre : pre+readSize])
		return n, pre, err
	}
	var rerr error
	err = cr.raw.Read(func(fd uintptr) bool {
		cr.acquire()
		pre = carry(cr.buf)
		for {
			n, rerr = syscall.Read(int(fd), cr.buf[pre:pre+readSize])
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			cr.release() // wait for data without a buffer
			pre = 0
			return false
		}
		return true
	})
	switch {
	case err != nil:
		return 0, pre, err
	case rerr != nil:
		return 0, pre, rerr
	case n == 0:
		return 0, pre, io.EOF
	}
	return n, pre, nil
}

// Write writes p as thorp's own log lines (for an slog handler): each line
// is framed as for Copy with Source{"thorp", "thorp", own pid}; a last line
// without a newline is completed. It returns len(p), nil: bytes that
// cannot be written are counted as dropped. Safe for concurrent use.
func (f *File) Write(p []byte) (int, error) {
	opts := f.opts.Load()
	if !opts.Timestamps && opts.Format != FormatJSON && fittingLines(p, opts.maxLine()) == len(p) {
		f.writeLines(p)
		return len(p), nil
	}
	fr := newFramer(Source{Component: "thorp", Stream: StreamThorp, PID: os.Getpid()}, flushAt, nil)
	fr.flush = func() {
		f.writeLines(fr.out)
		fr.out = fr.out[:0]
	}
	fr.begin(opts)
	for b := p; len(b) > 0; {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			fr.line(b)
			break
		}
		fr.line(b[:i])
		b = b[i+1:]
	}
	fr.flush()
	return len(p), nil
}

// copier is the state of one Copy; mu guards it against the idle timer.
type copier struct {
	f    *File
	pipe *dropPipe // nil in block mode

	mu       sync.Mutex
	fr       *framer
	part     []byte // pending partial line, at most maxLine+1 bytes
	lastData time.Time
	timer    *time.Timer
	armed    bool
	done     bool
	// idleFlushes counts partial lines written by the timer.
	idleFlushes int
}

// chunkLocked frames one read; c.mu is held. Runs of whole lines go
// through wholeLines; only a line longer than max_line, the line that
// completes a pending partial one and (in json, or plain in drop mode)
// every line are framed one by one.
func (c *copier) chunkLocked(b []byte) {
	c.fr.begin(c.f.opts.Load())
	for len(b) > 0 {
		if len(c.part) == 0 {
			if b = c.wholeLines(b); len(b) == 0 {
				break
			}
		}
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			c.addPartial(b)
			break
		}
		c.takeOut() // the rest is framed line by line
		if len(c.part) > 0 {
			c.addPartial(b[:i])
			c.fr.line(c.part)
			c.part = c.part[:0]
		} else {
			c.fr.line(b[:i])
		}
		b = b[i+1:]
	}
	c.emit()
	if len(c.part) > 0 {
		c.lastData = time.Now()
		if !c.armed {
			c.armed = true
			wait := c.f.opts.Load().partialLineWait()
			if c.timer == nil {
				c.timer = time.AfterFunc(wait, c.onIdle)
			} else {
				c.timer.Reset(wait)
			}
		}
	}
}

// wholeLines takes the run of whole lines at the front of b, each at most
// max_line bytes, and returns the rest of b (from a longer line, or the
// partial line at its end). Plain text in block mode is written as read,
// in one write and without a copy, after what was framed before it; with
// timestamps the lines are framed two appends a line. Otherwise (json, or
// drop mode, which hands its buffers to a writer) it takes nothing.
func (c *copier) wholeLines(b []byte) []byte {
	switch {
	case c.pipe == nil && c.fr.plain():
		k := fittingLines(b, c.fr.maxLine)
		if k > 0 {
			c.emit() // the pieces of a long line before these go first
			c.f.writeLines(b[:k])
		}
		return b[k:]
	case c.fr.opts.Timestamps && !c.fr.json:
		c.takeOut()
		return c.fr.stampedLines(b)
	}
	return b
}

// addPartial appends b to the pending partial line, cutting off marked
// pieces so that it never holds more than maxLine+1 bytes.
func (c *copier) addPartial(b []byte) {
	max := c.fr.maxLine
	for len(b) > 0 {
		n := min(len(b), max+1-len(c.part))
		c.part = append(c.part, b[:n]...)
		b = b[n:]
		if len(c.part) > max {
			k := CutPoint(c.part, max)
			c.takeOut()
			c.fr.piece(c.part[:k], true)
			c.part = c.part[:copy(c.part, c.part[k:])]
		}
	}
}

// onIdle writes a partial line that has waited PartialLineWait as a cut
// piece: what follows it is the rest of the same line.
func (c *copier) onIdle() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.armed = false
	if c.done || len(c.part) == 0 {
		return
	}
	opts := c.f.opts.Load()
	if wait := opts.partialLineWait() - time.Since(c.lastData); wait > 0 {
		c.armed = true
		c.timer.Reset(wait)
		return
	}
	c.fr.begin(opts)
	c.takeOut()
	c.fr.piece(c.part, true) // at most maxLine bytes: addPartial cuts longer
	c.part = c.part[:0]
	c.idleFlushes++
	c.emit()
	c.releaseOut()
}

// finish writes the last partial line and stops the timer.
func (c *copier) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.done = true
	if c.timer != nil {
		c.timer.Stop()
	}
	if len(c.part) > 0 {
		c.fr.begin(c.f.opts.Load())
		c.takeOut()
		c.fr.line(c.part)
		c.part = c.part[:0]
	}
	c.emit()
	c.releaseOut()
}

// outBufs holds framing buffers between chunks (block mode).
var outBufs = sync.Pool{New: func() any { b := make([]byte, 0, flushAt+DefaultMaxLine); return &b }}

// takeOut gives the framer a pooled output buffer when it has none, before
// it frames (plain lines written as read need none); c.mu is held.
func (c *copier) takeOut() {
	if c.pipe == nil && c.fr.out == nil {
		c.fr.out = (*outBufs.Get().(*[]byte))[:0]
	}
}

// releaseOut returns the framer's emptied buffer to the pool, so an idle
// stream holds none; c.mu is held.
func (c *copier) releaseOut() {
	if c.pipe == nil && c.fr.out != nil && len(c.fr.out) == 0 {
		b := c.fr.out[:0]
		outBufs.Put(&b)
		c.fr.out = nil
	}
}

// emit hands the framed output to the File (block) or the writer (drop).
func (c *copier) emit() {
	if len(c.fr.out) == 0 {
		return
	}
	if c.pipe == nil {
		c.f.writeLines(c.fr.out)
		c.fr.out = c.fr.out[:0]
		return
	}
	c.fr.out = c.pipe.send(c.fr.out)
}

// dropPipe is "drop" mode: a writer goroutine and a fixed set of buffers.
// When the writer is more than bound bytes behind, new lines are dropped.
type dropPipe struct {
	f      *File
	bound  int64
	queued atomic.Int64
	free   chan []byte
	full   chan []byte
	done   chan struct{}
}

func newDropPipe(f *File) *dropPipe {
	p := &dropPipe{
		f:     f,
		bound: int64(f.opts.Load().dropBound()),
		free:  make(chan []byte, dropBuffers),
		full:  make(chan []byte, dropBuffers),
		done:  make(chan struct{}),
	}
	for range dropBuffers - 1 { // Copy holds one more
		p.free <- nil
	}
	go p.run()
	return p
}

func (p *dropPipe) run() {
	defer close(p.done)
	for b := range p.full {
		p.f.writeLines(b)
		p.queued.Add(-int64(len(b)))
		p.free <- b[:0]
	}
}

// send queues b and returns an empty buffer to frame into next.
func (p *dropPipe) send(b []byte) []byte {
	if q := p.queued.Load(); q == 0 || q+int64(len(b)) <= p.bound {
		select {
		case nb := <-p.free:
			p.queued.Add(int64(len(b)))
			p.full <- b
			return nb
		default:
		}
	}
	p.f.drop(len(b))
	return b[:0]
}

// close waits until every queued buffer is written.
func (p *dropPipe) close() {
	close(p.full)
	<-p.done
}

// drop counts n bytes dropped for overflow and warns (rate-limited). It
// does not take f.mu, which a slow write may hold.
func (f *File) drop(n int) {
	f.dropped.Add(int64(n))
	opts := f.opts.Load()
	msg := f.warnLocked(opts.now(), fmt.Sprintf("log %s: writer behind, dropping lines (overflow = drop; %d bytes dropped in all)",
		f.path, f.dropped.Load()))
	if msg != "" && opts.Warn != nil {
		opts.Warn(msg)
	}
}
