package fswatch

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type change struct {
	first string
	n     int
}

// watch starts a Watcher on paths (relative to dir) that reports to a channel.
func watch(t *testing.T, dir string, delay time.Duration, ignore []string, paths ...string) (*Watcher, chan change) {
	t.Helper()
	ch := make(chan change, 16)
	var abs []string
	for _, p := range paths {
		abs = append(abs, filepath.Join(dir, p))
	}
	w, err := New(Options{Paths: abs, Ignore: ignore, Base: dir, Delay: delay, MaxDirs: 100,
		Changed: func(first string, n int) { ch <- change{first, n} }})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = w.Close() })
	return w, ch
}

func write(t *testing.T, p string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func next(t *testing.T, ch chan change, what string) change {
	t.Helper()
	select {
	case c := <-ch:
		return c
	case <-time.After(10 * time.Second):
		t.Fatalf("no change reported for %s", what)
	}
	return change{}
}

// quiet asserts nothing is reported: it writes a sentinel file that is
// watched and expects the sentinel to be the first change seen.
func quiet(t *testing.T, ch chan change, sentinel string) {
	t.Helper()
	write(t, sentinel)
	if c := next(t, ch, "the sentinel"); c.first != sentinel {
		t.Fatalf("first change %q, want only the sentinel %q", c.first, sentinel)
	}
}

func TestWatcher_RecursiveDebouncedIgnoring(t *testing.T) {
	dir := t.TempDir()
	for _, d := range []string{"src/a/b", "src/node_modules/x", "src/build/tmp", "other"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	_, ch := watch(t, dir, 200*time.Millisecond, []string{"node_modules", "*.log", "src/build/tmp"}, "src")

	// Several changes in one window: one report.
	write(t, filepath.Join(dir, "src/a/b/one.js"))
	write(t, filepath.Join(dir, "src/a/two.js"))
	write(t, filepath.Join(dir, "src/three.js"))
	c := next(t, ch, "three writes")
	if c.first != filepath.Join(dir, "src/a/b/one.js") || c.n < 3 {
		t.Fatalf("report %+v", c)
	}
	quiet(t, ch, filepath.Join(dir, "src/sentinel0"))

	// Ignored: by name at any depth, by glob, by path; outside the paths.
	write(t, filepath.Join(dir, "src/node_modules/x/y.js"))
	write(t, filepath.Join(dir, "src/a/debug.log"))
	write(t, filepath.Join(dir, "src/build/tmp/z.o"))
	write(t, filepath.Join(dir, "other/o.js"))
	quiet(t, ch, filepath.Join(dir, "src/sentinel1"))

	// A directory created later is watched, as is what it already holds.
	write(t, filepath.Join(dir, "src/new/deep/file.js"))
	next(t, ch, "the new tree")
	write(t, filepath.Join(dir, "src/new/deep/later.js"))
	if c := next(t, ch, "a file in the new tree"); c.first != filepath.Join(dir, "src/new/deep/later.js") {
		t.Fatalf("report %+v", c)
	}
	// A new node_modules is not.
	write(t, filepath.Join(dir, "src/new/node_modules/m/i.js"))
	quiet(t, ch, filepath.Join(dir, "src/sentinel2"))
}

func TestWatcher_File(t *testing.T) {
	dir := t.TempDir()
	write(t, filepath.Join(dir, "app.conf"))
	_, ch := watch(t, dir, 50*time.Millisecond, nil, "app.conf")
	write(t, filepath.Join(dir, "neighbour"))
	write(t, filepath.Join(dir, "app.conf"))
	if c := next(t, ch, "the file"); c.first != filepath.Join(dir, "app.conf") {
		t.Fatalf("report %+v", c)
	}
}

func TestWatcher_Errors(t *testing.T) {
	dir := t.TempDir()
	_, err := New(Options{Paths: []string{filepath.Join(dir, "nope")}, Delay: time.Second, Changed: func(string, int) {}})
	if err == nil || !strings.Contains(err.Error(), filepath.Join(dir, "nope")) {
		t.Fatalf("missing path: %v", err)
	}
	for i := range 5 {
		if err := os.MkdirAll(filepath.Join(dir, "many", string(rune('a'+i))), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	opts := Options{Paths: []string{filepath.Join(dir, "many")}, MaxDirs: 4, Delay: time.Second, Changed: func(string, int) {}}
	_, err = New(opts)
	if !errors.Is(err, ErrTooMany) || !strings.Contains(err.Error(), filepath.Join(dir, "many")) {
		t.Fatalf("too many: %v", err)
	}
	if err := Check(opts); !errors.Is(err, ErrTooMany) {
		t.Fatalf("Check, too many: %v", err)
	}
	opts.Ignore = []string{"a", "b"}
	if err := Check(opts); err != nil {
		t.Fatalf("Check with two ignored: %v", err)
	}
	w, err := New(Options{Paths: []string{filepath.Join(dir, "many")}, MaxDirs: 6, Delay: time.Second, Changed: func(string, int) {}})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}
