package pseudofile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

func TestReadAll_RereadsAKeptFileFromItsStart(t *testing.T) {
	fd, err := OpenAt(unix.AT_FDCWD, "/proc/self/stat")
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	pid := []byte(strconv.Itoa(os.Getpid()) + " (")
	var buf []byte
	for i := range 3 {
		b, err := ReadAll(fd, buf)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, pid) || b[len(b)-1] != '\n' {
			t.Fatalf("read %d: %q, want this process's whole stat line", i, b)
		}
		buf = b[:0]
	}
}

func TestReadAll_GrowsToTheWholeFile(t *testing.T) {
	want := bytes.Repeat([]byte("0123456789abcdef\n"), 1000) // 17,000 bytes: past the first buffer and a page
	path := filepath.Join(t.TempDir(), "big")
	if err := os.WriteFile(path, want, 0o600); err != nil {
		t.Fatal(err)
	}
	fd, err := OpenAt(unix.AT_FDCWD, path)
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	got, err := ReadAll(fd, make([]byte, 0, 16))
	if err != nil || !bytes.Equal(got, want) {
		t.Fatalf("read %d bytes (%v), want the file's %d", len(got), err, len(want))
	}
}

func TestRead_OneRecordInOneRead(t *testing.T) {
	fd, err := OpenAt(unix.AT_FDCWD, "/proc/self/statm")
	if err != nil {
		t.Fatal(err)
	}
	defer Close(fd)
	buf := make([]byte, 256)
	n, err := Read(fd, buf)
	if err != nil || n == 0 || n == len(buf) || buf[n-1] != '\n' {
		t.Fatalf("read %q (%v), want the whole statm line", buf[:n], err)
	}
	if n, err := Read(fd, buf); n != 0 || err != nil {
		t.Fatalf("second read: %d bytes (%v), want the end of the file", n, err)
	}
}

func TestOpenAt_MissingIsENOENT(t *testing.T) {
	if _, err := OpenAt(unix.AT_FDCWD, filepath.Join(t.TempDir(), "none")); !errors.Is(err, syscall.ENOENT) {
		t.Fatalf("err %v, want ENOENT", err)
	}
}
