package rotate

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestMain lets the test binary act as a chatty child:
// ROTATE_TEST_CHILD=seq:N prints N numbered lines of about 100 bytes.
// Each write(2) holds whole lines and at most PIPE_BUF bytes, so it is
// atomic: the pipe never holds part of a line, and a child that the
// machine's load stalls between writes never has a partial line written
// as a cut piece after PartialLineWait (the documented behaviour for
// prompts, which TestFile_Copy_PartialLineWrittenAsCutPieceAfterWait tests;
// the tests with a child are
// about rotation and compression keeping every line whole; lines crossing
// reads are the in-process floodReader tests').
func TestMain(m *testing.M) {
	if v, ok := strings.CutPrefix(os.Getenv("ROTATE_TEST_CHILD"), "seq:"); ok {
		n, _ := strconv.Atoi(v)
		const pipeBuf = 4096
		w := bufio.NewWriterSize(os.Stdout, pipeBuf)
		for i := range n {
			line := seqLine(i)
			if w.Available() < len(line) {
				w.Flush()
			}
			w.Write(line)
		}
		w.Flush()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// seqLine is line i of the test streams: 100 bytes with its newline.
func seqLine(i int) []byte {
	b := fmt.Appendf(nil, "seq=%09d ", i)
	for len(b) < 99 {
		b = append(b, byte('a'+len(b)%26))
	}
	return append(b, '\n')
}

// fakeClock is an injected clock that tests move by hand.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func openT(t *testing.T, path string, opts Options) *File {
	t.Helper()
	f, err := Open(path, opts)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { f.Close() })
	return f
}

// readLog returns the content of a plain or gzipped file.
func readLog(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatalf("read %s: %v", name, err)
	}
	if strings.HasSuffix(name, ".gz") {
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatalf("gunzip %s: %v", name, err)
		}
		if b, err = io.ReadAll(zr); err != nil {
			t.Fatalf("gunzip %s: %v", name, err)
		}
	}
	return b
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitCompressed waits until lumberjack's mill has gzipped every backup.
func waitCompressed(t testing.TB, path string) []string {
	t.Helper()
	var backups []string
	waitFor(t, 60*time.Second, "backups compressed", func() bool {
		var err error
		backups, err = Backups(path)
		if err != nil {
			t.Fatal(err)
		}
		for _, b := range backups {
			if !strings.HasSuffix(b, ".gz") {
				return false
			}
		}
		// No half-written .gz: the plain source is removed last.
		return true
	})
	return backups
}

// allLines returns the lines of every backup (oldest first) then the current file.
func allLines(t *testing.T, path string) (lines []string, files int) {
	t.Helper()
	backups, err := Backups(path)
	if err != nil {
		t.Fatal(err)
	}
	names := append([]string{}, backups...)
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	if _, err := os.Stat(path); err == nil {
		names = append(names, path)
	}
	for _, n := range names {
		b := readLog(t, n)
		if len(b) > 0 && b[len(b)-1] != '\n' {
			t.Errorf("%s does not end with a newline", filepath.Base(n))
		}
		s := strings.TrimSuffix(string(b), "\n")
		if s != "" {
			lines = append(lines, strings.Split(s, "\n")...)
		}
	}
	return lines, len(names)
}
