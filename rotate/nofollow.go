package rotate

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Log files are never followed through a symbolic link: thorp runs as root,
// and a link at a log path would make it append to, truncate, rotate or
// compress a file it did not create. Every open a File does itself uses
// O_NOFOLLOW. lumberjack (which renames and reopens the file on rotation)
// opens by name with os.OpenFile and cannot be told O_NOFOLLOW, so a File
// creates a missing file itself, O_EXCL and O_NOFOLLOW, and checks an
// existing one with lstat immediately before lumberjack opens it, and
// checks the path with lstat immediately before every lumberjack rotation.
// What remains is a race with a process that can write the log directory:
// a link swapped in between the check and lumberjack's open, or planted in
// the instant between the rename at rotation and lumberjack's create of the
// new file (lumberjack creates it with O_CREATE|O_TRUNC by name). Such a process
// could already replace the log files themselves; a File also notices
// within checkInterval that the path no longer names its file, closes it
// and refuses to reopen through a link.

// CheckPath returns nil when path can be a log file: nothing is there yet,
// or a regular file. A symbolic link (wherever it points), a directory or
// any other kind of file is an error naming path. thorp check and Open
// apply it.
func CheckPath(path string) error {
	fi, err := os.Lstat(path)
	switch {
	case errors.Is(err, fs.ErrNotExist), errors.Is(err, syscall.ENOTDIR):
		return nil
	case err != nil:
		return fmt.Errorf("log %s: %w", path, err)
	}
	return checkMode(path, fi.Mode())
}

// checkMode is CheckPath's verdict on an existing file of mode m.
func checkMode(path string, m fs.FileMode) error {
	switch {
	case m.IsRegular():
		return nil
	case m.Type() == fs.ModeSymlink:
		return fmt.Errorf("log %s is a symbolic link; thorp never follows a link for a log file (remove the link or log elsewhere)", path)
	case m.IsDir():
		return fmt.Errorf("log %s is a directory, not a file", path)
	default:
		return fmt.Errorf("log %s is not a regular file (%s)", path, m.Type())
	}
}

// openNoFollow opens path with flag|O_NOFOLLOW|O_NONBLOCK (a FIFO must not
// block the open) and makes sure it is a regular file; a symlink is
// CheckPath's error.
func openNoFollow(path string, flag int, perm fs.FileMode) (*os.File, error) {
	fd, err := os.OpenFile(path, flag|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, perm)
	if errors.Is(err, syscall.ELOOP) {
		if cerr := CheckPath(path); cerr != nil {
			return nil, cerr
		}
	}
	if err != nil {
		return nil, err
	}
	st, err := fd.Stat()
	if err == nil {
		err = checkMode(path, st.Mode())
	}
	if err != nil {
		fd.Close()
		return nil, err
	}
	return fd, nil
}

// Empty truncates the log file at path to zero through a descriptor opened
// with O_NOFOLLOW: a symbolic link there is an error and its target is left
// alone. A missing file is not an error. thorp flush uses it when no thorp
// runs (a running thorp empties its own files).
func Empty(path string) error {
	return truncateTo(path, 0)
}

// truncateTo cuts the regular file at path to size without following a
// link; a missing file is not an error.
func truncateTo(path string, size int64) error {
	fd, err := openNoFollow(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	defer fd.Close()
	return fd.Truncate(size)
}

// Probe makes sure f's file can be written before anything is written to
// it (f opens its file on the first write): the directory is created and
// the file opened for appending, created when missing, never through a
// symbolic link and without blocking on a FIFO. A start or a reload thus
// fails at once on a log thorp could not write, instead of losing output
// later. Safe for concurrent use.
func (f *File) Probe() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return err
	}
	fd, err := openNoFollow(f.path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, logPerm)
	if err != nil {
		return err
	}
	return fd.Close()
}

// logPerm is the mode of a new log file, lumberjack's own.
const logPerm = 0o600

// prepareLocked readies f.path for lumberjack, which opens it by name: an
// existing file must be a regular file (not a link), and a missing one is
// created here with O_CREATE|O_EXCL|O_NOFOLLOW, so the file lumberjack then
// opens (microseconds later, under f.mu) is one thorp made; see the race
// described at the top of this file.
func (f *File) prepareLocked() error {
	if err := os.MkdirAll(filepath.Dir(f.path), 0o755); err != nil {
		return err
	}
	fd, err := openNoFollow(f.path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, logPerm)
	switch {
	case err == nil:
		return fd.Close()
	case errors.Is(err, fs.ErrExist):
		return CheckPath(f.path)
	default:
		return err
	}
}
