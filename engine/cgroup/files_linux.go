package cgroup

import (
	"os"
	"path/filepath"
	"sync"

	"github.com/thorp-dev/thorp/engine/pseudofile"
	"golang.org/x/sys/unix"
)

// The files of a group the sampler reads at every sample.
const (
	fileProcs         = iota // cgroup.procs of Dir
	fileCPU                  // cpu.stat on cgroup2
	fileMemoryCurrent        // memory.current on cgroup2
	fileMemoryStat           // memory.stat of the memory controller
	fileUsageV1              // memory.usage_in_bytes on v1: the usage read, and what memory thresholds compare with
	numFiles
)

// openFiles keeps the files a group's samples read open from their first
// read until the group is removed, and re-reads them from the start with
// pread(2): one system call a file and sample instead of open, read, read
// and close, and no path lookup through the cgroup file system.
//
// The reads are package pseudofile's raw system calls: reading a cgroup's
// pseudo-file never blocks (the kernel formats a few lines from memory).
type openFiles struct {
	mu     sync.Mutex
	fds    [numFiles]int // fd+1: 0 when not open
	closed bool          // the group is removed: read by path, open nothing
	buf    []byte        // the last read's bytes; reused
}

// read reads file which (dir/name) and calls parse with its content,
// under the lock: parse must not keep the slice.
func (o *openFiles) read(which int, dir, name string, parse func([]byte) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		b, err := readFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		return parse(b)
	}
	fd, err := o.open(which, dir, name)
	if err != nil {
		return err
	}
	b, err := o.pread(fd)
	if err != nil {
		return &os.PathError{Op: "read", Path: filepath.Join(dir, name), Err: err}
	}
	return parse(b)
}

// withFD calls f with the open file which (dir/name), under the lock;
// ErrNoAlarm once the group is removed.
func (o *openFiles) withFD(which int, dir, name string, f func(fd int) error) error {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.closed {
		return ErrNoAlarm
	}
	fd, err := o.open(which, dir, name)
	if err != nil {
		return err
	}
	return f(fd)
}

// open returns file which's descriptor, opening it at its first use;
// under the lock.
func (o *openFiles) open(which int, dir, name string) (int, error) {
	if o.fds[which] == 0 {
		fd, err := pseudofile.OpenAt(unix.AT_FDCWD, filepath.Join(dir, name))
		if err != nil {
			return 0, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
		}
		o.fds[which] = fd + 1
	}
	return o.fds[which] - 1, nil
}

// pread reads fd from offset 0 to its end into o.buf.
func (o *openFiles) pread(fd int) ([]byte, error) {
	b, err := pseudofile.ReadAll(fd, o.buf)
	o.buf = b[:0]
	return b, err
}

// close closes the open files; later reads open, read and close by path.
func (o *openFiles) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, fd := range o.fds {
		if fd != 0 {
			pseudofile.Close(fd - 1)
			o.fds[i] = 0
		}
	}
	o.closed = true
}

// readFile reads a cgroup file with plain open, read and close system
// calls. os.ReadFile would also stat it and, cgroup files being pollable,
// register it with the runtime's poller and take it off again: five system
// calls more for each file read.
func readFile(path string) ([]byte, error) {
	fd, err := pseudofile.OpenAt(unix.AT_FDCWD, path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer pseudofile.Close(fd)
	b, err := pseudofile.ReadAll(fd, nil)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return b, nil
}
