package cgroup

import (
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"unsafe"
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
// The reads are raw system calls: reading a cgroup's pseudo-file never
// blocks (the kernel formats a few lines from memory), and a raw call
// does not tell the Go runtime it entered the kernel, which otherwise
// wakes the runtime's monitor thread from its sleep to poll every 20 µs
// and hand the sampler's P to another thread while the pass runs.
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
		fd, err := openRetry(filepath.Join(dir, name))
		if err != nil {
			return 0, &os.PathError{Op: "open", Path: filepath.Join(dir, name), Err: err}
		}
		o.fds[which] = fd + 1
	}
	return o.fds[which] - 1, nil
}

// wholeBelow is the size under which a read that did not fill the buffer
// returned the whole file. The kernel formats a cgroup file into a
// buffer of at least a page and hands a read every line that fits in
// both: a read returns less than asked either at the end of the file or
// because the next line would not fit in the kernel's buffer, which
// cannot happen below a page minus the longest line (a pid, a key and a
// number). A read at an offset makes the kernel format the file again
// from its start, so this saves the costliest part of a second read.
const wholeBelow = 4096 - 128

// pread reads fd from offset 0 to its end into o.buf.
func (o *openFiles) pread(fd int) ([]byte, error) {
	if o.buf == nil {
		o.buf = make([]byte, 0, 512)
	}
	b := o.buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
			o.buf = b
		}
		free := b[len(b):cap(b)]
		n, _, errno := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd),
			uintptr(unsafe.Pointer(&free[0])), uintptr(len(free)), uintptr(len(b)), 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return nil, errno
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+int(n)]
		if len(b) < cap(b) && len(b) < wholeBelow {
			return b, nil
		}
	}
}

// close closes the open files; later reads open, read and close by path.
func (o *openFiles) close() {
	o.mu.Lock()
	defer o.mu.Unlock()
	for i, fd := range o.fds {
		if fd != 0 {
			_ = syscall.Close(fd - 1)
			o.fds[i] = 0
		}
	}
	o.closed = true
}

func openRetry(path string) (int, error) {
	for {
		fd, err := syscall.Open(path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

// readFile reads a cgroup file with plain open, read and close system
// calls. os.ReadFile would also stat it and, cgroup files being pollable,
// register it with the runtime's poller and take it off again: five system
// calls more for each file read.
func readFile(path string) ([]byte, error) {
	fd, err := openRetry(path)
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer syscall.Close(fd)
	o := openFiles{}
	b, err := o.pread(fd)
	if err != nil {
		return nil, &os.PathError{Op: "read", Path: path, Err: err}
	}
	return b, nil
}
