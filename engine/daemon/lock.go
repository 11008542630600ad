package daemon

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// LockName is the lock file's name, in the control socket's directory
// (.thorp/thorp.lock by default).
const LockName = "thorp.lock"

// LockPath is the lock file of the config whose control socket is control.
func LockPath(control string) string {
	return filepath.Join(filepath.Dir(control), LockName)
}

// Lock is the one-thorp-per-config lock: an exclusive flock on the lock
// file, held for the life of the process (the descriptor is close-on-exec,
// so no child inherits it, and the kernel drops the lock when thorp dies).
// The file holds the pid of the thorp holding it. Close releases it; the
// file stays (removing it would let two thorps lock two different files).
type Lock struct {
	f *os.File
}

// LockedError is returned by TakeLock when another thorp holds the lock.
type LockedError struct {
	// Path is the lock file.
	Path string
	// PID is the holder's pid as it wrote it, 0 when unreadable.
	PID int
}

// Error names the running thorp.
func (e *LockedError) Error() string {
	who := "another thorp"
	if e.PID > 0 {
		who = fmt.Sprintf("a thorp (pid %d)", e.PID)
	}
	return fmt.Sprintf("%s is already running with this config (it holds %s); stop it with 'thorp down' or use another config", who, e.Path)
}

// TakeLock takes the lock of the config whose control socket is control,
// creating the directory (0700) and the lock file (0600) if needed, and
// writes this process's pid into it. It must come before anything else a
// thorp run binds, opens or writes: when another thorp holds the lock it
// returns a *LockedError and has changed nothing but, at most, created
// the directory and an empty lock file. The lock file is opened with
// O_NOFOLLOW: a symlink there is an error.
func TakeLock(control string) (*Lock, error) {
	path := LockPath(control)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("lock directory: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|syscall.O_NOFOLLOW, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock file: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		defer f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, &LockedError{Path: path, PID: readPID(f)}
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := writePID(f); err != nil {
		f.Close()
		return nil, fmt.Errorf("lock file %s: %w", path, err)
	}
	return &Lock{f: f}, nil
}

// LockHolder reports the pid of the thorp holding the lock of the config
// whose control socket is control, and whether one holds it. It creates
// nothing: a missing lock file means nobody holds it.
func LockHolder(control string) (pid int, held bool) {
	path := LockPath(control)
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW, 0)
	if err != nil {
		return 0, false
	}
	defer f.Close()
	// A shared lock fails only while an exclusive one is held.
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return readPID(f), errors.Is(err, unix.EWOULDBLOCK)
	}
	_ = unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return 0, false
}

// Close releases the lock. Safe twice.
func (l *Lock) Close() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func writePID(f *os.File) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	_, err := f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return err
}

// readPID reads the pid a lock holder wrote, 0 when there is none.
func readPID(f *os.File) int {
	b, err := io.ReadAll(io.NewSectionReader(f, 0, 32))
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return 0
	}
	return pid
}
