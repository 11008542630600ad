package rotate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Probe creates a missing log (and its directory) as a regular file, and
// refuses a symbolic link without touching its target.
func TestFile_Probe(t *testing.T) {
	dir := t.TempDir()
	f, err := Open(filepath.Join(dir, "sub", "p.log"), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Probe(); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Lstat(filepath.Join(dir, "sub", "p.log")); err != nil || !fi.Mode().IsRegular() {
		t.Fatalf("probe did not create a regular file: %v %v", fi, err)
	}

	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep"), 0o644); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "l.log")
	g, err := Open(link, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := g.Probe(); err == nil || !strings.Contains(err.Error(), "symbolic link") {
		t.Fatalf("probe through a link: %v, want the symlink error", err)
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatalf("target changed: %q", b)
	}
}
