package logtee

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/rotate"
)

// lockedBuffer is a bytes.Buffer a writer goroutine and a test share.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

var at = time.Date(2026, 11, 27, 23, 1, 21, 123e6, time.UTC)

func fixedNow() time.Time { return at }

// teeAll reads everything of input through a Tee of src and returns what
// the reader passed on.
func teeAll(t *testing.T, s *Sink, input string, src rotate.Source, f Format) string {
	t.Helper()
	got, err := io.ReadAll(s.Tee(strings.NewReader(input), src, f))
	if err != nil {
		t.Fatal(err)
	}
	return string(got)
}

func TestSink_Tee_FramesLinesOnTheirStream(t *testing.T) {
	var out, errs lockedBuffer
	s := New(&out, &errs, Options{Now: fixedNow})
	api := rotate.Source{Component: "api", Stream: rotate.StreamOut, Instance: 1, PID: 42}
	in := "hello\nworld\r\nno newline"
	if got := teeAll(t, s, in, api, Format{}); got != in {
		t.Fatalf("the reader passed on %q, want %q", got, in)
	}
	db := rotate.Source{Component: "db", Stream: rotate.StreamErr, Instance: 0, PID: 7}
	teeAll(t, s, "oops\n", db, Format{Timestamps: true})
	teeAll(t, s, "12345678901\n", db, Format{MaxLine: 4})
	teeAll(t, s, "a \"quoted\" line\n", db, Format{JSON: true})
	if _, err := s.Writer().Write([]byte("time=x level=INFO msg=started\n")); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if want := "api.1 | hello\napi.1 | world\r\napi.1 | no newline\n"; out.String() != want {
		t.Errorf("stdout:\n%q\nwant\n%q", out.String(), want)
	}
	lines := strings.Split(strings.TrimSuffix(errs.String(), "\n"), "\n")
	want := []string{
		"db.0 | 2026-11-27T23:01:21.123Z oops",
		"db.0 | 1234", "db.0 | 5678", "db.0 | 901",
		`{"time":"2026-11-27T23:01:21.123Z","component":"db","stream":"err","instance":0,"pid":7,"msg":"a \"quoted\" line"}`,
		"thorp | time=x level=INFO msg=started",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("stderr:\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	var obj map[string]any
	if err := json.Unmarshal([]byte(lines[4]), &obj); err != nil {
		t.Errorf("the JSON line does not parse: %v", err)
	}
}

// TestSink_SlowPipe_DropsAndCountsWithoutBlocking: with thorp's stdout a
// pipe nobody reads, reading a component's output through the Tee never
// waits: lines that do not fit are dropped and counted, Close returns
// within its bound, and once the reader drains the pipe a marker says how
// many lines were dropped.
func TestSink_SlowPipe_DropsAndCountsWithoutBlocking(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	s := New(w, io.Discard, Options{Buffer: 4096})
	src := rotate.Source{Component: "api", Stream: rotate.StreamOut}
	line := strings.Repeat("x", 99) + "\n"
	const n = 20000 // 2 MB: well past the pipe's 64 KiB and the 4 KiB buffer
	began := time.Now()
	if got := teeAll(t, s, strings.Repeat(line, n), src, Format{}); len(got) != n*len(line) {
		t.Fatalf("the reader passed on %d bytes, want %d", len(got), n*len(line))
	}
	if took := time.Since(began); took > 5*time.Second {
		t.Fatalf("reading 2 MB through the Tee took %s with a stuck stdout", took)
	}
	dropped, _ := s.Dropped()
	if dropped == 0 || dropped >= n {
		t.Fatalf("dropped %d of %d lines, want some but not all (the pipe and the buffer hold some)", dropped, n)
	}
	var metrics bytes.Buffer
	s.WriteMetrics(&metrics)
	if !strings.Contains(metrics.String(), "thorp_log_stdout_dropped_lines_total{stream=\"stdout\"} ") {
		t.Fatalf("metrics:\n%s", metrics.String())
	}
	// Drain the pipe, then send one more line: the marker comes first.
	got := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "thorp | ") {
				got <- sc.Text()
				return
			}
		}
		got <- ""
	}()
	deadline := time.After(10 * time.Second)
	for sent := false; !sent; {
		teeAll(t, s, "after\n", src, Format{})
		select {
		case m := <-got:
			if !strings.Contains(m, "lines dropped: thorp's stdout was slower") {
				t.Fatalf("marker %q", m)
			}
			sent = true
		case <-time.After(50 * time.Millisecond):
		case <-deadline:
			t.Fatal("no marker of the dropped lines within 10s of draining the pipe")
		}
	}
	began = time.Now()
	s.Close()
	if took := time.Since(began); took > 3*time.Second {
		t.Fatalf("Close took %s", took)
	}
}

// TestSink_Close_BoundedWhenStdoutIsStuck: what is pending when the Sink
// closes is written for at most flushTimeout to a pipe nobody reads.
func TestSink_Close_BoundedWhenStdoutIsStuck(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	s := New(w, io.Discard, Options{})
	teeAll(t, s, strings.Repeat(strings.Repeat("y", 1000)+"\n", 500), rotate.Source{Component: "a", Stream: "out"}, Format{})
	began := time.Now()
	s.Close()
	if took := time.Since(began); took > flushTimeout+2*time.Second {
		t.Fatalf("Close took %s with a stuck stdout, want about %s", took, flushTimeout)
	}
	s.Close() // twice is fine
}

// TestSink_ClosedReader_StopsWriting: a stdout whose reader is gone makes
// the stream drop everything after, without failing the Tee.
func TestSink_ClosedReader_StopsWriting(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	r.Close()
	s := New(w, io.Discard, Options{})
	defer s.Close()
	src := rotate.Source{Component: "a", Stream: "out"}
	teeAll(t, s, "one\n", src, Format{})
	deadline := time.Now().Add(5 * time.Second)
	for {
		if d, _ := s.Dropped(); d >= 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the line written to a pipe without reader was not counted as dropped")
		}
		time.Sleep(5 * time.Millisecond)
	}
	teeAll(t, s, "two\nthree\n", src, Format{})
	if d, _ := s.Dropped(); d != 3 {
		t.Fatalf("dropped %d, want 3", d)
	}
}
