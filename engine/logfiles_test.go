package engine

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/rotate"
)

// A pipe whose write end outlives the component (a descendant kept it)
// cannot hold thorp's shutdown: drain waits its bound, then closes the read
// end, the copy ends with what it had read written whole, and no copying
// goroutine is left behind.
func TestLogFiles_DrainCutsAPipeHeldOpen(t *testing.T) {
	dir := t.TempDir()
	l := newLogFiles(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f, err := rotate.Open(filepath.Join(dir, "x-out.log"), rotate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close() // the "descendant": never closes it during drain
	l.copy(r, r, f, rotate.Source{Component: "x", Stream: "out"}, l.log)
	if _, err := w.WriteString("last words\n"); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	l.drain(100 * time.Millisecond)
	if took := time.Since(start); took < 100*time.Millisecond || took > 5*time.Second {
		t.Fatalf("drain returned after %s, want its 100ms bound and then promptly", took)
	}
	checkNoEngineGoroutines(t) // a copy that ended may still be returning
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(dir, "x-out.log"))
	if err != nil || !strings.Contains(string(b), "last words\n") {
		t.Fatalf("log = %q, %v; want the line read before the cut", b, err)
	}
}

// Pipes that reach EOF are drained without waiting for the bound.
func TestLogFiles_DrainReturnsAtEOF(t *testing.T) {
	l := newLogFiles(slog.New(slog.NewTextHandler(io.Discard, nil)))
	f, err := rotate.Open(filepath.Join(t.TempDir(), "y-out.log"), rotate.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	l.copy(r, r, f, rotate.Source{Component: "y", Stream: "out"}, l.log)
	w.Close()
	start := time.Now()
	l.drain(time.Minute)
	if took := time.Since(start); took > 10*time.Second {
		t.Fatalf("drain took %s after EOF", took)
	}
}
