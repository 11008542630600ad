// Package logtee copies components' log lines to thorp run's own stdout
// and stderr (settings.logs.stdout), where a container's log driver reads
// them, besides their log files.
//
// A Sink has one writer goroutine per stream, started by New and stopped
// and waited for by Close. Lines reach it from the log copiers' reads
// (Tee) and from thorp's own log (Writer) and wait in a bounded buffer per
// stream; a line that does not fit is dropped whole and counted, so a
// slow or stuck reader of thorp's stdout never slows a component, its log
// file or supervision. When room comes back a marker line says how many
// were dropped. A stream whose write fails (its reader is gone) drops
// everything after. Every method is safe for concurrent use.
package logtee

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// DefaultBuffer is how many bytes wait for each stream at most unless
// Options.Buffer says otherwise.
const DefaultBuffer = 1 << 20

// flushTimeout bounds how long Close waits for a stream to take what is
// still pending, when its writes can be bounded (a pipe).
const flushTimeout = time.Second

// Options configure a Sink.
type Options struct {
	// Buffer bounds the bytes waiting for each stream; 0 means
	// DefaultBuffer.
	Buffer int
	// Now is the time of timestamped lines; nil means time.Now.
	Now func() time.Time
}

// Sink writes lines to two streams (thorp's stdout and stderr). Create it
// with New and stop it with Close.
type Sink struct {
	out, err  *stream
	now       func() time.Time
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// New starts a Sink writing to stdout and stderr. A pipe is reopened in
// non-blocking mode (a file description of its own, so nothing else that
// shares the pipe sees the change), so that Close can bound the last
// writes; anything else is written as it is.
func New(stdout, stderr io.Writer, opts Options) *Sink {
	if opts.Buffer <= 0 {
		opts.Buffer = DefaultBuffer
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Sink{now: opts.Now, out: newStream("stdout", stdout, opts.Buffer), err: newStream("stderr", stderr, opts.Buffer)}
	s.wg.Add(2)
	go s.out.run(&s.wg)
	go s.err.run(&s.wg)
	return s
}

// Close writes what is pending (bounded by a second for a pipe), stops
// both writers and waits for them. Lines that arrive later are dropped.
// Safe to call twice.
func (s *Sink) Close() error {
	s.closeOnce.Do(func() {
		s.out.close()
		s.err.close()
		s.wg.Wait()
	})
	return nil
}

// Dropped returns how many lines were dropped on each stream so far.
func (s *Sink) Dropped() (stdout, stderr uint64) {
	return s.out.droppedTotal.Load(), s.err.droppedTotal.Load()
}

// WriteMetrics writes the Sink's metric family in the Prometheus text
// format.
func (s *Sink) WriteMetrics(w io.Writer) {
	const fam = "thorp_log_stdout_dropped_lines_total"
	fmt.Fprintf(w, "# HELP %s Lines not copied to thorp's own stdout or stderr (logs.stdout) because that stream was slower than the components' output or closed, by stream.\n# TYPE %s counter\n", fam, fam)
	out, errs := s.Dropped()
	fmt.Fprintf(w, "%s{stream=\"stdout\"} %d\n%s{stream=\"stderr\"} %d\n", fam, out, fam, errs)
}

// stream is one of the Sink's outputs and the lines waiting for it.
type stream struct {
	name     string
	w        io.Writer
	deadline func(time.Time) error // bounds a write; nil when it cannot be bounded
	release  func()                // closes what newStream opened; nil for none
	max      int

	mu      sync.Mutex
	pending []byte
	spare   []byte
	dropped uint64 // lines dropped since the last marker
	closed  bool
	broken  bool // a write failed: its reader is gone
	wake    chan struct{}
	done    chan struct{}

	droppedTotal atomic.Uint64
}

func newStream(name string, w io.Writer, max int) *stream {
	st := &stream{name: name, w: w, max: max, wake: make(chan struct{}, 1), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok {
		if nb := reopenPipe(f); nb != nil {
			st.w, st.deadline, st.release = nb, nb.SetWriteDeadline, func() { _ = nb.Close() }
		}
	}
	return st
}

// reopenPipe opens the pipe f writes to again, non-blocking, so that its
// writes go through the runtime's poller and take a deadline; nil when f
// is not a pipe or cannot be reopened.
func reopenPipe(f *os.File) *os.File {
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFIFO {
		return nil
	}
	nb, err := os.OpenFile("/proc/self/fd/"+strconv.Itoa(int(f.Fd())), os.O_WRONLY|unix.O_NONBLOCK|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	return nb
}

// add queues line (ending in a newline) unless it does not fit, in which
// case it is counted as dropped. It never blocks on the writer.
func (st *stream) add(line []byte) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.closed || st.broken || len(st.pending)+len(line) > st.max {
		st.dropped++
		st.droppedTotal.Add(1)
		return
	}
	if st.dropped > 0 {
		marker := fmt.Appendf(nil, "thorp | %d lines dropped: thorp's %s was slower than the components' output (they are in the log files)\n", st.dropped, st.name)
		if len(st.pending)+len(marker)+len(line) > st.max {
			st.dropped++
			st.droppedTotal.Add(1)
			return
		}
		st.pending = append(st.pending, marker...)
		st.dropped = 0
	}
	st.pending = append(st.pending, line...)
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

// run writes what is pending whenever lines arrive, until close; then
// once more, bounded.
func (st *stream) run(wg *sync.WaitGroup) {
	defer wg.Done()
	defer func() {
		if st.release != nil {
			st.release()
		}
	}()
	for {
		select {
		case <-st.wake:
			st.flush()
		case <-st.done:
			st.flush() // bounded by the deadline close set
			return
		}
	}
}

// flush writes the pending bytes; lines a failed write did not take are
// counted as dropped, and so is everything after.
func (st *stream) flush() {
	st.mu.Lock()
	buf := st.pending
	if len(buf) == 0 {
		st.mu.Unlock()
		return
	}
	st.pending, st.spare = st.spare[:0], nil // spare is buf's again after the write
	st.mu.Unlock()
	n, err := st.w.Write(buf)
	st.mu.Lock()
	defer st.mu.Unlock()
	if err != nil {
		lost := uint64(countLines(buf[n:]))
		st.droppedTotal.Add(lost)
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			st.broken = true
		}
	}
	st.spare = buf[:0]
}

// close stops the stream taking lines, bounds its writes from now on
// (a write under way included) and tells its writer to finish.
func (st *stream) close() {
	st.mu.Lock()
	st.closed = true
	st.mu.Unlock()
	if st.deadline != nil {
		_ = st.deadline(time.Now().Add(flushTimeout))
	}
	close(st.done)
}

// countLines counts the lines in b, a partial last one included.
func countLines(b []byte) int {
	n := 0
	for i, c := range b {
		if c == '\n' || i == len(b)-1 {
			n++
		}
	}
	return n
}
