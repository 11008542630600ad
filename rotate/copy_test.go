package rotate

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// A partial line is written after the wait, marked as cut, and its rest
// follows as the next line: a prompt shows, and no piece of a line ever
// looks like a whole line.
func TestFile_Copy_PartialLineWrittenAsCutPieceAfterWait(t *testing.T) {
	const wait = 300 * time.Millisecond
	path := filepath.Join(t.TempDir(), "p.log")
	f := openT(t, path, Options{partialWait: wait})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- f.Copy(pr, Source{Component: "p", Stream: StreamOut}) }()
	start := time.Now()
	pw.Write([]byte("Password: "))
	waitFor(t, 5*time.Second, "partial line on disk", func() bool {
		b, _ := os.ReadFile(path)
		return len(b) > 0
	})
	if d := time.Since(start); d < wait {
		t.Errorf("partial line written after %v, before the wait %v", d, wait)
	}
	pw.Write([]byte("hunter2\nok\nlast without newline"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got, want := string(readLog(t, path)), "Password: "+CutMarker+"\nhunter2\nok\nlast without newline\n"; got != want {
		t.Errorf("file %q, want %q", got, want)
	}
}

// A writer that stops in the middle of a line for less than
// PartialLineWait (descheduled on a loaded machine) has its line whole.
func TestFile_Copy_LinePausedMidwayStaysWhole(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m.log")
	f := openT(t, path, Options{})
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- f.Copy(pr, Source{Component: "m", Stream: StreamOut}) }()
	pw.Write([]byte("first half, "))
	// Twice the old 200 ms flush, well under PartialLineWait; the pause is
	// the event under test, so it is a sleep.
	time.Sleep(400 * time.Millisecond)
	pw.Write([]byte("second half\n"))
	pw.Close()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := string(readLog(t, path)); got != "first half, second half\n" {
		t.Errorf("file %q: the line was split", got)
	}
}

func TestFile_Copy_LongLineCutIntoMarkedPieces(t *testing.T) {
	path := filepath.Join(t.TempDir(), "l.log")
	f := openT(t, path, Options{MaxLine: 100})
	long := strings.Repeat("0123456789", 25) // 250 bytes
	pr, pw := io.Pipe()
	go func() {
		// One line in one write, one in pieces across reads.
		pw.Write([]byte(long + "\nshort\n"))
		for i := 0; i < len(long); i += 30 {
			pw.Write([]byte(long[i:min(i+30, len(long))]))
		}
		pw.Write([]byte("\n"))
		pw.Close()
	}()
	if err := f.Copy(pr, Source{}); err != nil {
		t.Fatal(err)
	}
	want := []string{long[:100] + CutMarker, long[100:200] + CutMarker, long[200:], "short",
		long[:100] + CutMarker, long[100:200] + CutMarker, long[200:]}
	lines, _ := allLines(t, path)
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("got\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

func TestFile_Copy_JSONFields(t *testing.T) {
	path := filepath.Join(t.TempDir(), "j.log")
	clk := &fakeClock{}
	clk.Set(time.Date(2024, 3, 9, 10, 11, 12, 345_000_000, time.UTC))
	f := openT(t, path, Options{Format: FormatJSON, Clock: clk.Now})
	in := "hello \"world\"\n\ttab\\ and é\n"
	if err := f.Copy(strings.NewReader(in), Source{Component: "api", Stream: StreamErr, Instance: 2, PID: 4242}); err != nil {
		t.Fatal(err)
	}
	lines, _ := allLines(t, path)
	wantMsg := []string{"hello \"world\"", "\ttab\\ and é"}
	if len(lines) != len(wantMsg) {
		t.Fatalf("lines %q", lines)
	}
	for i, l := range lines {
		var v struct {
			Time      string `json:"time"`
			Component string `json:"component"`
			Stream    string `json:"stream"`
			Instance  int    `json:"instance"`
			PID       int    `json:"pid"`
			Msg       string `json:"msg"`
		}
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("%q: %v", l, err)
		}
		if v.Time != "2024-03-09T10:11:12.345Z" || v.Component != "api" || v.Stream != "err" || v.Instance != 2 || v.PID != 4242 || v.Msg != wantMsg[i] {
			t.Errorf("line %d = %+v", i, v)
		}
		if ts, ok := ParseTime(l); !ok || !ts.Equal(clk.Now()) {
			t.Errorf("ParseTime(%q) = %v, %v", l, ts, ok)
		}
	}
}

func TestFile_Copy_Timestamps(t *testing.T) {
	path := filepath.Join(t.TempDir(), "ts.log")
	clk := &fakeClock{}
	clk.Set(time.Date(2024, 3, 9, 10, 11, 12, 5_000_000, time.FixedZone("", 3600)))
	f := openT(t, path, Options{Timestamps: true, Clock: clk.Now})
	f.Copy(strings.NewReader("a\nb"), Source{})
	if got := string(readLog(t, path)); got != "2024-03-09T10:11:12.005+01:00 a\n2024-03-09T10:11:12.005+01:00 b\n" {
		t.Errorf("file %q", got)
	}
}

// chunksReader returns one chunk per Read, as reads from a pipe end where
// the writer's writes did.
type chunksReader struct{ chunks []string }

func (r *chunksReader) Read(p []byte) (int, error) {
	if len(r.chunks) == 0 {
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	if r.chunks[0] = r.chunks[0][n:]; r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	return n, nil
}

// A read holding whole lines, a line longer than max_line and whole lines
// after it: the runs of whole lines go out as read (or stamped) while the
// long line is cut into pieces, and the file has everything in order, the
// pieces between the lines around them, a line ending in the next read
// whole.
func TestFile_Copy_LongLineInsideAReadKeepsOrder(t *testing.T) {
	long := strings.Repeat("x", 150)
	in := []string{"one\ntwo\n" + long + "\nthree\nfour\npar", "tial\nfive\n"}
	want := []string{"one", "two", strings.Repeat("x", 64) + CutMarker, strings.Repeat("x", 64) + CutMarker,
		strings.Repeat("x", 22), "three", "four", "partial", "five"}
	for _, ts := range []bool{false, true} {
		t.Run(fmt.Sprintf("timestamps=%v", ts), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "l.log")
			f := openT(t, path, Options{MaxLine: 64, Timestamps: ts})
			if err := f.Copy(&chunksReader{chunks: slices.Clone(in)}, Source{Component: "l", Stream: StreamOut}); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(readLog(t, path)), "\n"), "\n")
			if ts {
				for i, l := range got {
					if _, ok := ParseTime(l); !ok {
						t.Fatalf("line %d %q has no timestamp", i, l)
					}
					got[i] = l[strings.IndexByte(l, ' ')+1:]
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("lines\n%q\nwant\n%q", got, want)
			}
			if st := f.Stats(); st.Lines != int64(len(want)) {
				t.Errorf("Stats.Lines = %d, want %d", st.Lines, len(want))
			}
		})
	}
}

// A partial line too long to be carried in front of the next read
// (carryMax) is completed by the first line of that read; the whole lines
// after it follow in order.
func TestFile_Copy_LongPartialThenWholeLines(t *testing.T) {
	head := strings.Repeat("y", carryMax+1000)
	in := []string{"zero\n" + head, "yy\nsix\nseven\n" + strings.Repeat("z", 70) + "\neight\n"}
	for _, ts := range []bool{false, true} {
		t.Run(fmt.Sprintf("timestamps=%v", ts), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "p.log")
			f := openT(t, path, Options{MaxLine: 8 << 10, Timestamps: ts})
			if err := f.Copy(&chunksReader{chunks: slices.Clone(in)}, Source{Component: "p", Stream: StreamOut}); err != nil {
				t.Fatal(err)
			}
			got := strings.Split(strings.TrimSuffix(string(readLog(t, path)), "\n"), "\n")
			if ts {
				for i, l := range got {
					got[i] = l[strings.IndexByte(l, ' ')+1:]
				}
			}
			want := []string{"zero", head + "yy", "six", "seven", strings.Repeat("z", 70), "eight"}
			if !slices.Equal(got, want) {
				t.Errorf("lines\n%.200q\nwant\n%.200q", got, want)
			}
		})
	}
}

// A plain read ending inside a line frames nothing: its whole lines go
// out as read and the rest waits as the partial line, so it takes no
// framing buffer (a flooding stream, whose reads end inside lines, holds
// none). A partial line longer than max_line is cut, which frames.
func TestCopier_PlainReadEndingInALineTakesNoFramingBuffer(t *testing.T) {
	path := filepath.Join(t.TempDir(), "p.log")
	f := openT(t, path, Options{MaxLine: 64})
	c := &copier{f: f}
	c.fr = newFramer(Source{Component: "p", Stream: StreamOut}, flushAt, c.emit)
	c.mu.Lock()
	c.chunkLocked([]byte("one\ntwo\npar"))
	held := c.fr.out != nil
	c.chunkLocked([]byte(strings.Repeat("y", 70)))
	cut := c.fr.out != nil
	c.releaseOut()
	c.mu.Unlock()
	c.finish()
	if held {
		t.Error("a read of whole lines and a partial one took a framing buffer")
	}
	if !cut {
		t.Error("a partial line cut at max_line was framed without a framing buffer")
	}
	want := "one\ntwo\npar" + strings.Repeat("y", 61) + CutMarker + "\n" + strings.Repeat("y", 9) + "\n"
	if got := string(readLog(t, path)); got != want {
		t.Errorf("log %q, want %q", got, want)
	}
}

// TestFile_Copy_ChildMillionLines feeds numbered lines from a real child
// (this test binary re-executed) through Copy with size rotation at 1 MB
// and compression: every line arrives once, whole, in order.
func TestFile_Copy_ChildMillionLines(t *testing.T) {
	n := 1_000_000
	if raceEnabled || testing.Short() {
		n = 200_000
	}
	path := filepath.Join(t.TempDir(), "seq-out.log")
	f := openT(t, path, Options{MaxSize: 1_000_000, Compress: true, Rotate: "daily"})
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), fmt.Sprintf("ROTATE_TEST_CHILD=seq:%d", n))
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := f.Copy(out, Source{Component: "seq", Stream: StreamOut, PID: cmd.Process.Pid}); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	copied := time.Since(start)
	backups := waitCompressed(t, path)
	t.Logf("%d lines: copied in %v, %d backups compressed after %v", n, copied, len(backups), time.Since(start))

	names := append([]string{}, backups...)
	for i, j := 0, len(names)-1; i < j; i, j = i+1, j-1 {
		names[i], names[j] = names[j], names[i]
	}
	names = append(names, path)
	next := 0
	for _, name := range names {
		b := readLog(t, name)
		if int64(len(b)) > 1_000_000 {
			t.Errorf("%s has %d bytes > max_size", filepath.Base(name), len(b))
		}
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				t.Fatalf("%s ends inside a line", filepath.Base(name))
			}
			if want := seqLine(next); !bytes.Equal(b[:i+1], want) {
				t.Fatalf("%s: line %q, want %q", filepath.Base(name), b[:i+1], want)
			}
			next++
			b = b[i+1:]
		}
	}
	if next != n {
		t.Errorf("%d lines found, want %d", next, n)
	}
	if s := f.Stats(); s.Lines != int64(n) || s.DroppedBytes != 0 || s.Rotations != int64(len(backups)) {
		t.Errorf("stats %+v, %d backups", s, len(backups))
	}
}

// floodReader produces size bytes fast: 100-byte lines (one line repeated
// in each read), with now and then
// a 1 MiB run without a newline (cut at max_line).
type floodReader struct {
	left int64
	n    int
}

func (r *floodReader) Read(p []byte) (int, error) {
	if r.left <= 0 {
		return 0, io.EOF
	}
	r.n++
	k := 0
	if r.n%500 == 0 {
		for k < len(p) {
			p[k] = 'z'
			k++
		}
	} else {
		// One line repeated: a line allocated per line would be garbage
		// that a loaded machine's GC leaves in HeapInuse, which
		// TestFile_Copy_MemoryBounded measures.
		line := seqLine(r.n)
		for k+100 <= len(p) {
			k += copy(p[k:], line)
		}
	}
	k = int(min(int64(k), r.left))
	r.left -= int64(k)
	return k, nil
}

// TestFile_Copy_MemoryBounded pushes 1 GB (100 MB under -race) through Copy
// and samples the Go heap: fixed buffers, no queue growing with input.
func TestFile_Copy_MemoryBounded(t *testing.T) {
	if testing.Short() {
		t.Skip("pushes 1 GB through Copy")
	}
	total := int64(1 << 30)
	if raceEnabled {
		total = 100 << 20
	}
	for _, mode := range []string{OverflowBlock, OverflowDrop} {
		t.Run(mode, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "flood.log")
			f := openT(t, path, Options{MaxSize: 50 << 20, RetainFiles: 1, Timestamps: true, Overflow: mode})
			runtime.GC()
			var peak atomic.Uint64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Add(1)
			go func() {
				defer wg.Done()
				tick := time.NewTicker(20 * time.Millisecond)
				defer tick.Stop()
				var ms runtime.MemStats
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						runtime.ReadMemStats(&ms)
						if ms.HeapInuse > peak.Load() {
							peak.Store(ms.HeapInuse)
						}
					}
				}
			}()
			if err := f.Copy(&floodReader{left: total}, Source{Component: "flood"}); err != nil {
				t.Fatal(err)
			}
			close(stop)
			wg.Wait()
			s := f.Stats()
			t.Logf("%d MB in, %d MB written, %d MB dropped, peak HeapInuse %.1f MB",
				total>>20, s.Bytes>>20, s.DroppedBytes>>20, float64(peak.Load())/(1<<20))
			if peak.Load() > 30<<20 {
				t.Errorf("peak HeapInuse %d MB > 30 MB", peak.Load()>>20)
			}
			if mode == OverflowBlock && s.DroppedBytes != 0 {
				t.Errorf("block mode dropped %d bytes", s.DroppedBytes)
			}
		})
	}
}

// TestFile_Copy_DropModeKeepsReading holds the File busy (a stuck disk):
// in drop mode Copy keeps draining the pipe and counts what it drops.
func TestFile_Copy_DropModeKeepsReading(t *testing.T) {
	path := filepath.Join(t.TempDir(), "d.log")
	f := openT(t, path, Options{Overflow: OverflowDrop, DropBound: 64 << 10})
	const n = 100_000 // 10 MB, far more than the bound
	f.mu.Lock()       // the writer blocks as on a stuck disk
	pr, pw := io.Pipe()
	done := make(chan error, 1)
	go func() { done <- f.Copy(pr, Source{}) }()
	w := bufio.NewWriter(pw)
	for i := range n {
		w.Write(seqLine(i)) // would block forever if Copy stopped reading
	}
	w.Flush()
	pw.Close()
	f.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	s := f.Stats()
	if s.DroppedBytes == 0 || s.Bytes+s.DroppedBytes != n*100 {
		t.Errorf("stats %+v: written+dropped != %d", s, n*100)
	}
	// What was written is whole lines in order.
	lines, _ := allLines(t, path)
	last := -1
	for _, l := range lines {
		var i int
		if _, err := fmt.Sscanf(l, "seq=%09d", &i); err != nil || l+"\n" != string(seqLine(i)) || i <= last {
			t.Fatalf("bad line %q after %d", l, last)
		}
		last = i
	}
}

// TestFile_Copy_BlockModeBackPressure holds the File busy: in block mode
// Copy stops reading, so the writer of the pipe is held back.
func TestFile_Copy_BlockModeBackPressure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "b.log")
	f := openT(t, path, Options{})
	f.mu.Lock()
	pr, pw := io.Pipe()
	var written atomic.Int64
	done := make(chan error, 1)
	go func() { done <- f.Copy(pr, Source{}) }()
	go func() {
		for i := range 100_000 {
			pw.Write(seqLine(i))
			written.Add(100)
		}
		pw.Close()
	}()
	waitFor(t, 5*time.Second, "first chunk read", func() bool { return written.Load() > 0 })
	time.Sleep(200 * time.Millisecond) // a negative check needs a bounded wait
	if w := written.Load(); w > 2*readSize {
		t.Errorf("%d bytes accepted while the file was stuck", w)
	}
	f.mu.Unlock()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if s := f.Stats(); s.Lines != 100_000 || s.DroppedBytes != 0 {
		t.Errorf("stats %+v", s)
	}
}
