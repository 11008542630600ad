package sockfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

func TestClear_TakesOverOnlyStaleSockets(t *testing.T) {
	dir := t.TempDir()
	regular := filepath.Join(dir, "app.db")
	if err := os.WriteFile(regular, []byte("rows"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink(regular, link); err != nil {
		t.Fatal(err)
	}
	live := filepath.Join(dir, "live.sock")
	ln, err := net.Listen("unix", live)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	liveDgram := filepath.Join(dir, "live.dgram")
	pc, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: liveDgram, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	for path, want := range map[string]string{
		regular: "is a regular file", dir: "is a directory", link: "is a symbolic link",
		live: "is a live socket", liveDgram: "is a live socket",
	} {
		if err := Clear(path); err == nil || !strings.Contains(err.Error(), path+" "+want) {
			t.Errorf("Clear(%s): %v, want %q", path, err, want)
		}
		if _, err := os.Lstat(path); err != nil {
			t.Errorf("%s was removed: %v", path, err)
		}
	}
	if err := Clear(live); !errors.Is(err, ErrLive) {
		t.Errorf("a live socket's error does not wrap ErrLive: %v", err)
	}
	// Stale stream and datagram sockets are removed.
	for network, typ := range map[string]int{"unix": syscall.SOCK_STREAM, "unixgram": syscall.SOCK_DGRAM} {
		stale := filepath.Join(dir, "stale."+network)
		staleSocket(t, stale, typ)
		if err := Clear(stale); err != nil {
			t.Errorf("Clear stale %s socket: %v", network, err)
		}
		if _, err := os.Lstat(stale); !os.IsNotExist(err) {
			t.Errorf("stale %s socket left: %v", network, err)
		}
	}
	if err := Clear(filepath.Join(dir, "absent")); err != nil {
		t.Errorf("Clear of nothing: %v", err)
	}
}

func TestBound_RemovesOnlyWhatItCreated(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	b, err := Mark(path)
	if err != nil {
		t.Fatal(err)
	}
	l.Close()
	// Replaced by a regular file: left alone.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); err != nil {
		t.Fatalf("a file thorp did not create was removed: %v", err)
	}
	// Still its own socket: removed.
	os.Remove(path)
	l, err = net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false)
	defer l.Close()
	if b, err = Mark(path); err != nil {
		t.Fatal(err)
	}
	if err := b.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Fatalf("its own socket stayed: %v", err)
	}
}

// staleSocket leaves a socket file at path that nothing answers on: bound,
// never listened on, closed. (A listener closed instead could live on for
// an instant in a child forked meanwhile and still take connections.)
func staleSocket(t *testing.T, path string, typ int) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_UNIX, typ|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
}
