package cgroup

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

// A kept file is read whole at every read, short or longer than a page,
// after it changed, and by path once the files are closed.
func TestOpenFilesReadWhole(t *testing.T) {
	dir := t.TempDir()
	long := bytes.Repeat([]byte("1234567\n"), 2000) // 16,000 bytes: several reads
	var o openFiles
	for i, content := range [][]byte{[]byte("42\n"), long, []byte("7\n"), long} {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), content, 0o644); err != nil {
			t.Fatal(err)
		}
		closed := i == 3
		if closed {
			o.close()
		}
		for range 2 {
			var got []byte
			if err := o.read(fileProcs, dir, "cgroup.procs", func(b []byte) error {
				got = append([]byte(nil), b...)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, content) {
				t.Fatalf("closed=%v: read %d bytes, want %d", closed, len(got), len(content))
			}
		}
	}
}
