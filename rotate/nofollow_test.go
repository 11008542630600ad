package rotate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// precious is a file a link at a log path points to; tests check it stays.
func precious(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "precious")
	if err := os.WriteFile(p, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func untouched(t *testing.T, p string) {
	t.Helper()
	if b, err := os.ReadFile(p); err != nil || string(b) != "precious\n" {
		t.Fatalf("%s changed: %q, %v", p, b, err)
	}
}

func TestOpen_RefusesSymlink(t *testing.T) {
	target := precious(t)
	path := filepath.Join(t.TempDir(), "web-out.log")
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(path, Options{}); err == nil || !strings.Contains(err.Error(), path+" is a symbolic link") {
		t.Fatalf("Open through a link: %v", err)
	}
	if err := Empty(path); err == nil {
		t.Fatal("Empty through a link succeeded")
	}
	untouched(t, target)
}

func TestFile_LinkSwappedInIsNotFollowed(t *testing.T) {
	target := precious(t)
	path := filepath.Join(t.TempDir(), "web-out.log")
	f := openT(t, path, Options{Compress: true})
	if _, err := f.Write([]byte("one\n")); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, path); err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Truncate through a link: %v", err)
	}
	// A File noticing the swapped path (here at once: Truncate closed it)
	// refuses to reopen through the link.
	if _, err := f.Write([]byte("two\n")); err != nil {
		t.Fatal(err)
	}
	if err := f.Rotate(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("Rotate through a link: %v", err)
	}
	f.gz.wait()
	untouched(t, target)
	if fi, err := os.Lstat(path); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was moved: %v", err)
	}
	if f.Stats().DroppedBytes == 0 {
		t.Fatal("the line written at the link was not dropped")
	}
}

func TestGzipFile_RefusesSymlink(t *testing.T) {
	target := precious(t)
	backup := filepath.Join(t.TempDir(), "web-out-2026-01-02T03-04-05.000.log")
	if err := os.Symlink(target, backup); err != nil {
		t.Fatal(err)
	}
	if err := gzipFile(backup, newGzipper()); err == nil {
		t.Fatal("gzipFile through a link succeeded")
	}
	untouched(t, target)
	if _, err := os.Lstat(backup + ".gz"); !os.IsNotExist(err) {
		t.Fatalf("a .gz was written: %v", err)
	}
}
