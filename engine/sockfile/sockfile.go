// Package sockfile holds thorp's one rule for the unix socket paths it
// binds (the control socket, unix:// held sockets, sd_notify listeners):
// a path is taken over only when it is a socket nothing answers on, and a
// socket file is removed at shutdown only while it is still the one thorp
// bound. Anything else at such a path (a regular file, a directory, a
// symlink, a live socket) is an error and is left as it is.
//
// Its functions are safe for concurrent use; a Bound is immutable.
package sockfile

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"syscall"
	"time"
)

// dialTimeout bounds the connect attempt that tells a live socket from a
// stale one; a refused connect returns at once.
const dialTimeout = time.Second

// ErrLive is wrapped by Check's error when something answers on the socket.
var ErrLive = errors.New("something answers on it")

// Check returns nil when path may be bound: nothing is there, or a socket
// that nothing answers on (a connect attempt is refused). Otherwise it
// returns an error that names path and says what is there. Abstract
// addresses ("@name") have no file and always pass.
func Check(path string) error {
	_, err := check(path)
	return err
}

// check is Check that also reports whether a stale socket is there.
func check(path string) (stale bool, err error) {
	if path == "" || path[0] == '@' {
		return false, nil
	}
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("cannot inspect %s: %w", path, err)
	}
	if what := kind(fi.Mode()); what != "" {
		return false, fmt.Errorf("%s is %s, not a socket; thorp removes only a stale socket it can bind again (move it away or choose another path)", path, what)
	}
	switch err := probe(path); {
	case err == nil:
		return false, fmt.Errorf("%s is a live socket: %w (stop what listens there or choose another path)", path, ErrLive)
	case errors.Is(err, syscall.ECONNREFUSED):
		return true, nil
	default:
		return false, fmt.Errorf("cannot tell whether socket %s is in use: %w", path, err)
	}
}

// kind names what a non-socket file mode is, "" for a socket.
func kind(m fs.FileMode) string {
	switch {
	case m.Type() == fs.ModeSocket:
		return ""
	case m.IsRegular():
		return "a regular file"
	case m.IsDir():
		return "a directory"
	case m.Type() == fs.ModeSymlink:
		return "a symbolic link"
	default:
		return "a special file (" + m.Type().String() + ")"
	}
}

// probe connects to the socket at path, as a stream socket and, when the
// socket is of the other type, as a datagram one; nil means a peer
// accepted (the socket is live).
func probe(path string) error {
	c, err := net.DialTimeout("unix", path, dialTimeout)
	if errors.Is(err, syscall.EPROTOTYPE) {
		c, err = net.DialTimeout("unixgram", path, dialTimeout)
	}
	if err != nil {
		return err
	}
	c.Close()
	return nil
}

// Clear makes path ready for a bind: nothing is there, or a stale socket
// that it removes. Anything else is Check's error and stays untouched.
// Between the check and the removal another process could replace the
// socket; only one that can write the directory can, and thorp's own
// lock (one thorp per config) rules out a second thorp.
func Clear(path string) error {
	stale, err := check(path)
	if err != nil || !stale {
		return err
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove stale socket %s: %w", path, err)
	}
	return nil
}

// Bound is a socket file thorp created, remembered by its device and
// inode so that Remove leaves alone whatever replaced it.
type Bound struct {
	path     string
	dev, ino uint64
}

// Mark records the socket just bound at path. Abstract addresses give a
// Bound whose Remove does nothing.
func Mark(path string) (Bound, error) {
	if path == "" || path[0] == '@' {
		return Bound{}, nil
	}
	fi, err := os.Lstat(path)
	if err != nil {
		return Bound{}, fmt.Errorf("socket %s: %w", path, err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Mode().Type() != fs.ModeSocket {
		return Bound{}, fmt.Errorf("socket %s: not a socket after bind", path)
	}
	return Bound{path: path, dev: uint64(st.Dev), ino: st.Ino}, nil
}

// Remove removes the socket file when path still names the socket Mark
// recorded; a file that is gone or was replaced is left alone. The check
// and the unlink are two steps (there is no unlink-if-inode call); only a
// process that can write the directory can slip between them.
func (b Bound) Remove() error {
	if b.path == "" {
		return nil
	}
	fi, err := os.Lstat(b.path)
	if err != nil {
		return nil
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || fi.Mode().Type() != fs.ModeSocket || uint64(st.Dev) != b.dev || st.Ino != b.ino {
		return nil
	}
	if err := os.Remove(b.path); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}
