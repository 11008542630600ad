package sockfile

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strings"
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
	for _, network := range []string{"unix", "unixgram"} {
		stale := filepath.Join(dir, "stale."+network)
		var c interface{ Close() error }
		if network == "unix" {
			l, err := net.Listen(network, stale)
			if err != nil {
				t.Fatal(err)
			}
			l.(*net.UnixListener).SetUnlinkOnClose(false)
			c = l
		} else if c, err = net.ListenUnixgram(network, &net.UnixAddr{Name: stale, Net: network}); err != nil {
			t.Fatal(err)
		}
		c.Close()
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
