package logtee

import (
	"bytes"
	"io"
	"strconv"
	"sync"

	"github.com/thorp-dev/thorp/rotate"
)

// Format is how a Tee frames each line, from the component's log settings.
type Format struct {
	// Timestamps prefixes the line (after the name) with the time it was
	// read, as rotate.TimeLayout.
	Timestamps bool
	// JSON writes each line as the log files' JSON object instead (time,
	// component, stream, instance, pid, msg).
	JSON bool
	// MaxLine cuts longer lines into pieces of at most this many bytes;
	// 0 means 64 KiB.
	MaxLine int
}

// defaultMaxLine is Format.MaxLine's default.
const defaultMaxLine = 64 << 10

// Tee returns a reader that reads r and hands every line it passes
// through to the Sink, framed as f says: "NAME.INSTANCE | line" (with
// the time after "| " when f.Timestamps), on stdout for src.Stream "out"
// and on stderr otherwise. What it reads is returned unchanged. A last
// line without a newline is handed over at EOF or any read error. The
// reader is for one goroutine, like any io.Reader.
func (s *Sink) Tee(r io.Reader, src rotate.Source, f Format) io.Reader {
	st := s.err
	if src.Stream == rotate.StreamOut {
		st = s.out
	}
	if f.MaxLine <= 0 {
		f.MaxLine = defaultMaxLine
	}
	prefix := src.Component + "." + strconv.Itoa(src.Instance) + " | "
	return &teeReader{r: r, lines: lineSplitter{sink: s, st: st, src: src, f: f, prefix: []byte(prefix)}}
}

// Writer returns an io.Writer for thorp's own log: each line written to
// it goes to stderr as "thorp | line". It never blocks and never fails
// (a line that does not fit is dropped and counted). Safe for concurrent
// use (lines of concurrent writes may interleave only when a write holds
// a partial line).
func (s *Sink) Writer() io.Writer {
	return &lockedWriter{lines: lineSplitter{sink: s, st: s.err, f: Format{MaxLine: defaultMaxLine}, prefix: []byte("thorp | ")}}
}

// teeReader passes reads through and splits what they return into lines.
type teeReader struct {
	r     io.Reader
	lines lineSplitter
}

func (t *teeReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.lines.feed(p[:n])
	if err != nil {
		t.lines.end()
	}
	return n, err
}

// lockedWriter splits what is written to it into lines under a lock.
type lockedWriter struct {
	mu    sync.Mutex
	lines lineSplitter
}

func (w *lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.lines.feed(p)
	return len(p), nil
}

// lineSplitter cuts a byte stream into lines and hands each, framed, to
// its stream. It is for one goroutine at a time.
type lineSplitter struct {
	sink   *Sink
	st     *stream
	src    rotate.Source
	f      Format
	prefix []byte
	part   []byte // the current line so far
	out    []byte // the framed line, reused
}

// feed takes the next bytes of the stream.
func (l *lineSplitter) feed(b []byte) {
	for len(b) > 0 {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			l.part = append(l.part, b...)
			for len(l.part) > l.f.MaxLine {
				k := rotate.CutPoint(l.part, l.f.MaxLine)
				l.emit(l.part[:k])
				l.part = append(l.part[:0], l.part[k:]...)
			}
			return
		}
		line := b[:i]
		if len(l.part) > 0 {
			l.part = append(l.part, line...)
			line = l.part
		}
		for len(line) > l.f.MaxLine {
			k := rotate.CutPoint(line, l.f.MaxLine)
			l.emit(line[:k])
			line = line[k:]
		}
		l.emit(line)
		l.part = l.part[:0]
		b = b[i+1:]
	}
}

// end hands over a last line without a newline.
func (l *lineSplitter) end() {
	if len(l.part) > 0 {
		l.emit(l.part)
		l.part = l.part[:0]
	}
}

// emit frames line and queues it.
func (l *lineSplitter) emit(line []byte) {
	l.out = l.out[:0]
	if l.f.JSON {
		l.out = rotate.AppendJSONLine(l.out, l.sink.now(), l.src, line)
	} else {
		l.out = append(l.out, l.prefix...)
		if l.f.Timestamps {
			l.out = l.sink.now().AppendFormat(l.out, rotate.TimeLayout)
			l.out = append(l.out, ' ')
		}
		l.out = append(append(l.out, line...), '\n')
	}
	l.st.add(l.out)
}
