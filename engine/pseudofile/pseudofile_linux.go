// Package pseudofile reads the files the kernel formats from what it has
// in memory (/proc/PID/stat and statm, cgroupfs files) with raw system
// calls: open, read and close that do not tell the Go runtime they entered
// the kernel. On a regular call the runtime's monitor thread (sysmon)
// wakes, polls every 20 µs and hands the caller's P to another thread;
// these files never make a read wait, so the sampler reads them without
// waking anything. Not for files whose reading walks much (smaps_rollup)
// or may block (regular files on a disk).
package pseudofile

import (
	"strings"
	"syscall"
	"unsafe"
)

// OpenAt opens path, relative to dirfd (unix.AT_FDCWD: as open(2) does),
// for reading (O_CLOEXEC).
func OpenAt(dirfd int, path string) (int, error) {
	var name [128]byte
	var p *byte
	if len(path) < len(name) && strings.IndexByte(path, 0) < 0 {
		copy(name[:], path)
		p = &name[0]
	} else {
		var err error
		if p, err = syscall.BytePtrFromString(path); err != nil {
			return 0, err
		}
	}
	for {
		fd, _, errno := syscall.RawSyscall6(syscall.SYS_OPENAT, uintptr(dirfd), uintptr(unsafe.Pointer(p)),
			syscall.O_RDONLY|syscall.O_CLOEXEC, 0, 0, 0)
		switch errno {
		case 0:
			return int(fd), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}

// Close closes fd.
func Close(fd int) { syscall.RawSyscall(syscall.SYS_CLOSE, uintptr(fd), 0, 0) }

// Read reads fd once, from where it is, into buf and returns how many
// bytes it read: a file built by a single record (a process's stat)
// comes whole in the first read that has room for it, so n == len(buf)
// means the file may be longer.
func Read(fd int, buf []byte) (int, error) {
	for {
		n, _, errno := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(unsafe.SliceData(buf))), uintptr(len(buf)))
		switch errno {
		case 0:
			return int(n), nil
		case syscall.EINTR:
			continue
		}
		return 0, errno
	}
}

// wholeBelow is the size under which a read that did not fill the buffer
// returned the whole file. The kernel formats such a file into a buffer
// of at least a page and hands a read every line that fits in both: a
// read returns less than asked either at the end of the file or because
// the next line would not fit in the kernel's buffer, which cannot happen
// below a page minus the longest line (a pid, a key and a number). A read
// at an offset makes the kernel format the file again from its start, so
// stopping there saves the costliest part of a second read.
const wholeBelow = 4096 - 128

// ReadAll reads fd, kept open between reads, from offset 0 to its end
// (pread(2): the file's offset is not used) into buf's memory, growing
// it as needed, and returns the bytes.
func ReadAll(fd int, buf []byte) ([]byte, error) {
	if cap(buf) == 0 {
		buf = make([]byte, 0, 512)
	}
	b := buf[:0]
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		free := b[len(b):cap(b)]
		n, _, errno := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd),
			uintptr(unsafe.Pointer(&free[0])), uintptr(len(free)), uintptr(len(b)), 0, 0)
		switch {
		case errno == syscall.EINTR:
			continue
		case errno != 0:
			return b, errno
		case n == 0:
			return b, nil
		}
		b = b[:len(b)+int(n)]
		if len(b) < cap(b) && len(b) < wholeBelow {
			return b, nil
		}
	}
}
