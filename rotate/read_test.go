package rotate

import (
	"compress/gzip"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

func writeGz(t *testing.T, name, content string) {
	t.Helper()
	fh, err := os.Create(name)
	if err != nil {
		t.Fatal(err)
	}
	zw := gzip.NewWriter(fh)
	io.WriteString(zw, content)
	zw.Close()
	fh.Close()
}

func TestTail_FallsBackIntoBackups(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "api-out.log")
	t0 := time.Date(2024, 3, 9, 10, 0, 0, 0, time.Local)
	writeGz(t, filepath.Join(dir, "api-out-"+t0.Format(backupLayout)+".log.gz"), "a1\na2\na3\n")
	os.WriteFile(filepath.Join(dir, "api-out-"+t0.Add(time.Hour).Format(backupLayout)+".log"), []byte("b1\nb2\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "api-error-"+t0.Add(2*time.Hour).Format(backupLayout)+".log"), []byte("err\n"), 0o644)
	os.WriteFile(path, []byte("c1\nc2\n"), 0o644)
	tests := []struct {
		n    int
		want string
	}{
		{1, "c2"}, {2, "c1 c2"}, {3, "b2 c1 c2"}, {5, "a3 b1 b2 c1 c2"}, {100, "a1 a2 a3 b1 b2 c1 c2"}, {0, ""},
	}
	for _, tt := range tests {
		got, err := Tail(path, tt.n)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Join(got, " ") != tt.want {
			t.Errorf("Tail(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func TestTail_LargeFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.log")
	var b strings.Builder
	for i := range 50000 {
		fmt.Fprintf(&b, "line %d\n", i)
	}
	os.WriteFile(path, []byte(b.String()), 0o644)
	got, err := Tail(path, 3)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got, ",") != "line 49997,line 49998,line 49999" {
		t.Errorf("Tail = %q", got)
	}
	if got, _ := Tail(filepath.Join(t.TempDir(), "missing.log"), 3); len(got) != 0 {
		t.Errorf("missing file: %q", got)
	}
}

// collector gathers Follow's lines.
type collector struct {
	mu    sync.Mutex
	lines []string
}

func (c *collector) add(l string) {
	c.mu.Lock()
	c.lines = append(c.lines, l)
	c.mu.Unlock()
}

func (c *collector) get() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string{}, c.lines...)
}

func TestFollow_AcrossRotationAndTruncation(t *testing.T) {
	path := filepath.Join(t.TempDir(), "f.log")
	f := openT(t, path, Options{})
	io.WriteString(f, "old\n")
	ctx, cancel := context.WithCancel(context.Background())
	var c collector
	done := make(chan error, 1)
	go func() { done <- Follow(ctx, path, int64(len("old\n")), c.add) }()
	var want []string
	expect := func(what string, lines ...string) {
		t.Helper()
		want = append(want, lines...)
		waitFor(t, 5*time.Second, what, func() bool { return strings.Join(c.get(), ",") == strings.Join(want, ",") })
	}
	io.WriteString(f, "first\n")
	expect("lines from the offset", "first")
	io.WriteString(f, "a\n")
	f.Rotate()
	io.WriteString(f, "b\n")
	expect("lines across a rotation", "a", "b")
	f.Truncate()
	io.WriteString(f, "c\n")
	expect("lines after truncation", "c")
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestFollow_FromOffsetAndLateFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "late.log")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var c collector
	go Follow(ctx, path, 0, c.add)
	f := openT(t, path, Options{})
	io.WriteString(f, "x\ny\n")
	waitFor(t, 5*time.Second, "lines of a file created later", func() bool { return strings.Join(c.get(), ",") == "x,y" })
}

func TestParseTime_Table(t *testing.T) {
	want := time.Date(2024, 3, 9, 10, 11, 12, 345_000_000, time.UTC)
	tests := []struct {
		line string
		ok   bool
	}{
		{"2024-03-09T10:11:12.345Z hello", true},
		{"2024-03-09T11:11:12.345+01:00 hello", true},
		{`{"time":"2024-03-09T10:11:12.345Z","component":"a","msg":"x"}`, true},
		{"hello world", false},
		{"", false},
		{"2024-03-09 no", false},
		{`{"msg":"no time"}`, false},
		{`{broken`, false},
		{`time=2024-03-09T11:11:12.345+01:00 level=INFO msg=started`, true},
		{`time=yesterday level=INFO`, false},
	}
	for _, tt := range tests {
		got, ok := ParseTime(tt.line)
		if ok != tt.ok || ok && !got.Equal(want) {
			t.Errorf("ParseTime(%q) = %v, %v", tt.line, got, ok)
		}
	}
}
