package rotate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

func TestFile_Write_SizeRotationExact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-out.log")
	const maxSize = 1000 // not a whole MB: rotation is ours
	f := openT(t, path, Options{MaxSize: maxSize})
	for i := range 200 {
		// Lines of varying length, several per Write.
		fmt.Fprintf(f, "line %d %s\nsecond %d\n", i, strings.Repeat("x", i%50), i)
	}
	lines, files := allLines(t, path)
	if len(lines) != 400 {
		t.Fatalf("got %d lines, want 400", len(lines))
	}
	for i := range 200 {
		if want := fmt.Sprintf("line %d %s", i, strings.Repeat("x", i%50)); lines[2*i] != want {
			t.Fatalf("line %d = %q, want %q", 2*i, lines[2*i], want)
		}
	}
	backups, _ := Backups(path)
	for _, b := range backups {
		st, _ := os.Stat(b)
		if st.Size() > maxSize {
			t.Errorf("%s is %d bytes > max_size %d", filepath.Base(b), st.Size(), maxSize)
		}
	}
	if s := f.Stats(); s.Rotations != int64(len(backups)) || s.Rotations == 0 || s.Lines != 400 || files != len(backups)+1 {
		t.Errorf("stats %+v, %d backups", s, len(backups))
	}
}

func TestFile_Write_LineLongerThanMaxSize(t *testing.T) {
	path := filepath.Join(t.TempDir(), "x.log")
	f := openT(t, path, Options{MaxSize: 10})
	io.WriteString(f, "short\n")
	io.WriteString(f, "a line much longer than ten bytes\nb\n")
	lines, _ := allLines(t, path)
	if want := []string{"short", "a line much longer than ten bytes", "b"}; strings.Join(lines, "|") != strings.Join(want, "|") {
		t.Errorf("lines %q, want %q", lines, want)
	}
}

func TestFile_Tick_CrossMidnightOnce(t *testing.T) {
	path := filepath.Join(t.TempDir(), "api-out.log")
	clk := &fakeClock{}
	clk.Set(time.Date(2024, 3, 9, 23, 59, 58, 0, time.Local))
	f := openT(t, path, Options{Rotate: "daily", Clock: clk.Now})
	io.WriteString(f, "before midnight\n")
	f.Tick()
	if n := f.Stats().Rotations; n != 0 {
		t.Fatalf("rotated %d times before midnight", n)
	}
	clk.Set(time.Date(2024, 3, 10, 0, 0, 1, 0, time.Local))
	f.Tick()
	f.Tick()
	io.WriteString(f, "after midnight\n")
	f.Tick()
	if n := f.Stats().Rotations; n != 1 {
		t.Fatalf("rotated %d times crossing midnight, want 1", n)
	}
	backups, _ := Backups(path)
	if len(backups) != 1 {
		t.Fatalf("backups %v", backups)
	}
	if got := string(readLog(t, backups[0])); got != "before midnight\n" {
		t.Errorf("backup has %q", got)
	}
	if got := string(readLog(t, path)); got != "after midnight\n" {
		t.Errorf("current has %q", got)
	}
	// The next day rotates again, once.
	clk.Set(time.Date(2024, 3, 11, 0, 0, 0, 0, time.Local))
	f.Tick()
	f.Tick()
	if n := f.Stats().Rotations; n != 2 {
		t.Errorf("rotations %d after the second midnight, want 2", n)
	}
}

func TestFile_Tick_Hourly(t *testing.T) {
	path := filepath.Join(t.TempDir(), "h.log")
	clk := &fakeClock{}
	clk.Set(time.Date(2024, 3, 9, 10, 30, 0, 0, time.Local))
	f := openT(t, path, Options{Rotate: "hourly", Clock: clk.Now})
	io.WriteString(f, "a\n")
	clk.Set(time.Date(2024, 3, 9, 10, 59, 59, 0, time.Local))
	f.Tick()
	clk.Set(time.Date(2024, 3, 9, 13, 5, 0, 0, time.Local)) // several hours passed: once
	f.Tick()
	f.Tick()
	if n := f.Stats().Rotations; n != 1 {
		t.Errorf("rotations %d, want 1", n)
	}
}

func TestFile_Rotate_RetainDays(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-out.log")
	now := time.Now()
	old := []string{
		"api-out-" + now.AddDate(0, 0, -40).Format(backupLayout) + ".log.gz",
		"api-out-" + now.AddDate(0, 0, -31).Format(backupLayout) + ".log",
	}
	young := []string{
		"api-out-" + now.AddDate(0, 0, -29).Format(backupLayout) + ".log.gz",
		"api-out-" + now.AddDate(0, 0, -2).Format(backupLayout) + ".log.gz",
		"api-error-" + now.AddDate(0, 0, -90).Format(backupLayout) + ".log", // another log
	}
	for _, n := range append(append([]string{}, old...), young...) {
		if err := os.WriteFile(filepath.Join(dir, n), []byte("x\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	f := openT(t, path, Options{RetainDays: 30, Compress: true})
	io.WriteString(f, "now\n")
	if err := f.Rotate(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "old backups removed", func() bool {
		for _, n := range old {
			if exists(filepath.Join(dir, n)) {
				return false
			}
		}
		return true
	})
	for _, n := range young {
		if !exists(filepath.Join(dir, n)) {
			t.Errorf("%s removed, younger than retain_days", n)
		}
	}
	backups := waitCompressed(t, path)
	if len(backups) != 3 {
		t.Errorf("backups %v, want 3", backups)
	}
}

func TestFile_Rotate_RetainFiles(t *testing.T) {
	path := filepath.Join(t.TempDir(), "n.log")
	f := openT(t, path, Options{RetainFiles: 2})
	for i := range 5 {
		fmt.Fprintf(f, "gen %d\n", i)
		if err := f.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 10*time.Second, "two backups kept", func() bool {
		b, _ := Backups(path)
		return len(b) == 2
	})
	b, _ := Backups(path)
	if got := string(readLog(t, b[0])); got != "gen 4\n" {
		t.Errorf("newest backup %q", got)
	}
}

// TestFile_Rotate_ManyWithinAMillisecond: rotations faster than
// lumberjack's millisecond backup names never rename over a backup, keep
// every line in order and the file's mode, and never wait.
func TestFile_Rotate_ManyWithinAMillisecond(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fast.log")
	f := openT(t, path, Options{})
	const n = 200
	start := time.Now()
	for i := range n {
		fmt.Fprintf(f, "gen %d\n", i)
		if i == 0 {
			if err := os.Chmod(path, 0o640); err != nil {
				t.Fatal(err)
			}
		}
		if err := f.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	took := time.Since(start)
	backups, err := Backups(path)
	if err != nil {
		t.Fatal(err)
	}
	if len(backups) != n || f.Stats().Rotations != n {
		t.Fatalf("%d backups, %d rotations; want %d", len(backups), f.Stats().Rotations, n)
	}
	lines, _ := allLines(t, path)
	for i, l := range lines {
		if want := fmt.Sprintf("gen %d", i); l != want {
			t.Fatalf("line %d = %q, want %q (backups out of order or lost)", i, l, want)
		}
	}
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o640 {
		t.Errorf("current file mode %v (%v), want 0640 kept across rotations", st.Mode(), err)
	}
	t.Logf("%d rotations in %s", n, took)
}

// TestFile_Close_EndsItsGoroutines: after Close, a File leaves no timer,
// compressor or copy goroutine behind; only lumberjack v2.2.1's mill stays
// parked, one per File (natefinch/lumberjack#205).
func TestFile_Close_EndsItsGoroutines(t *testing.T) {
	count := func() (all, mills int) {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		for _, g := range strings.Split(string(buf), "\n\n") {
			all++
			if strings.Contains(g, "lumberjack") && strings.Contains(g, "millRun") {
				mills++
			}
		}
		return all, mills
	}
	before, millsBefore := count()
	const files = 10
	for i := range files {
		path := filepath.Join(t.TempDir(), fmt.Sprintf("g%d.log", i))
		f, err := Open(path, Options{Rotate: "hourly", Compress: true, RetainFiles: 2})
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(f, "x\n")
		if err := f.Rotate(); err != nil {
			t.Fatal(err)
		}
		io.WriteString(f, "y\n")
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	var after, mills int
	waitFor(t, 10*time.Second, "goroutines to end", func() bool {
		after, mills = count()
		return after-before <= mills-millsBefore
	})
	if mills-millsBefore > files {
		t.Errorf("%d new lumberjack mills for %d Files", mills-millsBefore, files)
	}
}

func TestFile_Rotate_EmptyIsNoop(t *testing.T) {
	path := filepath.Join(t.TempDir(), "e.log")
	f := openT(t, path, Options{})
	if err := f.Rotate(); err != nil {
		t.Fatal(err)
	}
	if b, _ := Backups(path); len(b) != 0 || f.Stats().Rotations != 0 {
		t.Errorf("empty file rotated: %v", b)
	}
}

func TestFile_Truncate_EmptiesCurrent(t *testing.T) {
	path := filepath.Join(t.TempDir(), "t.log")
	f := openT(t, path, Options{MaxSize: 20})
	io.WriteString(f, "0123456789\n")
	if err := f.Truncate(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "after\n")
	io.WriteString(f, "again\n")
	if got := string(readLog(t, path)); got != "after\nagain\n" {
		t.Errorf("after truncate %q", got)
	}
	if f.Stats().Rotations != 0 {
		t.Error("size accounting not reset by Truncate")
	}
}

func TestFile_Close_Twice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.log")
	f, err := Open(path, Options{Rotate: "daily"})
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "x\n")
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "late\n")
	if s := f.Stats(); s.DroppedBytes != 5 {
		t.Errorf("late write dropped %d bytes, want 5", s.DroppedBytes)
	}
}

func TestFile_Open_AppendsExisting(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.log")
	os.WriteFile(path, []byte("old\n"), 0o644)
	f := openT(t, path, Options{MaxSize: 10})
	io.WriteString(f, "new1\n") // 4+5 = 9 fits
	io.WriteString(f, "new2\n") // rotates first
	b, _ := Backups(path)
	if len(b) != 1 || string(readLog(t, b[0])) != "old\nnew1\n" || string(readLog(t, path)) != "new2\n" {
		t.Errorf("backups %v: %q, current %q", b, readLog(t, b[0]), readLog(t, path))
	}
}

func TestFile_SetOptions_Applies(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.log")
	f := openT(t, path, Options{})
	io.WriteString(f, "plain\n")
	if err := f.SetOptions(Options{Rotate: "monthly"}); err == nil {
		t.Error("invalid options accepted")
	}
	if err := f.SetOptions(Options{Timestamps: true, Compress: true}); err != nil {
		t.Fatal(err)
	}
	io.WriteString(f, "stamped\n")
	lines, _ := allLines(t, path)
	if lines[0] != "plain" || !strings.HasSuffix(lines[1], " stamped") {
		t.Errorf("lines %q", lines)
	}
	if _, ok := ParseTime(lines[1]); !ok {
		t.Errorf("no timestamp in %q", lines[1])
	}
}

func TestFile_Copy_MergedStreamsNoInterleave(t *testing.T) {
	path := filepath.Join(t.TempDir(), "m-out.log")
	f := openT(t, path, Options{MaxSize: 64 << 10})
	const n = 20000
	var wg sync.WaitGroup
	for _, stream := range []string{StreamOut, StreamErr} {
		pr, pw := io.Pipe()
		wg.Add(2)
		go func() {
			defer wg.Done()
			if err := f.Copy(pr, Source{Component: "m", Stream: stream}); err != nil {
				t.Error(err)
			}
		}()
		go func() {
			defer wg.Done()
			defer pw.Close()
			// Odd-sized writes so that lines straddle reads.
			var buf bytes.Buffer
			for i := range n {
				fmt.Fprintf(&buf, "%s-%06d-%s\n", stream, i, strings.Repeat(stream, 10))
				if buf.Len() > 777 {
					pw.Write(buf.Next(777))
				}
			}
			pw.Write(buf.Bytes())
		}()
	}
	wg.Wait()
	lines, _ := allLines(t, path)
	next := map[string]int{}
	for _, l := range lines {
		stream, rest, _ := strings.Cut(l, "-")
		var i int
		if _, err := fmt.Sscanf(rest, "%06d", &i); err != nil || l != fmt.Sprintf("%s-%06d-%s", stream, i, strings.Repeat(stream, 10)) {
			t.Fatalf("mangled line %q", l)
		}
		if i != next[stream] {
			t.Fatalf("%s: got %d, want %d", stream, i, next[stream])
		}
		next[stream]++
	}
	if next[StreamOut] != n || next[StreamErr] != n {
		t.Errorf("counts %v", next)
	}
}
