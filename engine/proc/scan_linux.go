package proc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/thorp-dev/thorp/engine/pseudofile"
	"golang.org/x/sys/unix"
)

// ErrGone reports that a process no longer exists (its /proc entry is gone,
// or the kernel answered ESRCH while it was being reaped).
var ErrGone = errors.New("process gone")

// bufPool holds read buffers for Scan: a directory-entry buffer and a file
// buffer, so a steady sampler allocates only the table itself.
var bufPool = sync.Pool{New: func() any { return new(scanBufs) }}

type scanBufs struct {
	dirents [32 << 10]byte
	file    [maxStatSize + 1]byte
}

// lastScanLen sizes the next table, so appending rarely regrows it.
var lastScanLen atomic.Int64

// Scan reads every process under root ("/proc" normally; a directory of
// fixtures in tests) into a Table: one directory listing, then one
// open+read+close of root/PID/stat per process. Processes that vanish during
// the scan (ENOENT, ESRCH) or whose stat cannot be read or parsed are left out.
// Only failing to list root is an error. Scan is safe for concurrent use.
func Scan(root string) (*Table, error) {
	dirfd, err := openRetry(func() (int, error) {
		return syscall.Open(root, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	defer syscall.Close(dirfd)

	bufs := bufPool.Get().(*scanBufs)
	defer bufPool.Put(bufs)

	procs := make([]Stat, 0, lastScanLen.Load()+64)
	for {
		n, err := syscall.Getdents(dirfd, bufs.dirents[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("scan %s: list: %w", root, err)
		}
		if n <= 0 {
			break
		}
		numericEntries(bufs.dirents[:n], func(name []byte, pid uint64) {
			s, err := readStatAt(dirfd, string(name)+"/stat", bufs.file[:])
			if err != nil || s.PID != int(pid) {
				return // vanished, unreadable or garbled: not this sample's business
			}
			procs = append(procs, s)
		})
	}
	lastScanLen.Store(int64(len(procs)))
	return newTable(procs), nil
}

// numericEntries calls fn for each entry of b, a buffer of getdents64
// records, whose name is a positive number (a pid or a thread id), with
// the name and its value; ".", "self", "sys" and the like are skipped.
func numericEntries(b []byte, fn func(name []byte, n uint64)) {
	for len(b) >= 19 {
		// struct linux_dirent64 { u64 ino; s64 off; u16 reclen; u8 type; char name[]; }
		reclen := int(binary.NativeEndian.Uint16(b[16:18]))
		if reclen < 19 || reclen > len(b) {
			return
		}
		name := b[19:reclen]
		b = b[reclen:]
		if i := bytes.IndexByte(name, 0); i >= 0 {
			name = name[:i]
		}
		if n, ok := parseUint(name); ok && n > 0 {
			fn(name, n)
		}
	}
}

// ReadStat reads root/PID/stat of one process, e.g. to learn the start time
// of a freshly spawned child. A process that does not exist gives an error
// matching ErrGone. It is safe for concurrent use.
func ReadStat(root string, pid int) (Stat, error) {
	path := root + "/" + strconv.Itoa(pid) + "/stat"
	var buf [maxStatSize + 1]byte
	s, err := readStatAt(unix.AT_FDCWD, path, buf[:])
	if err != nil {
		return Stat{}, fmt.Errorf("read stat of pid %d: %w", pid, err)
	}
	return s, nil
}

// readStatAt reads and parses the stat file at path relative to dirfd.
func readStatAt(dirfd int, path string, buf []byte) (Stat, error) {
	n, err := readQuickAt(dirfd, path, buf)
	if err != nil {
		return Stat{}, err
	}
	if n == len(buf) {
		return Stat{}, errStatTooLarge
	}
	return parseStat(buf[:n])
}

// readPSS reads root/PID/smaps_rollup and returns the process's PSS in bytes.
func readPSS(root string, pid int) (int64, error) {
	bufs := bufPool.Get().(*scanBufs)
	defer bufPool.Put(bufs)
	path := root + "/" + strconv.Itoa(pid) + "/smaps_rollup"
	n, err := readFileAt(unix.AT_FDCWD, path, bufs.dirents[:])
	if err != nil {
		return 0, err
	}
	if n == len(bufs.dirents) {
		return 0, fmt.Errorf("%s: too large", path)
	}
	pss, _, err := parseSmapsRollup(bufs.dirents[:n])
	return pss, err
}

// readFileAt reads the file at path relative to dirfd into buf with one
// open, one read and one close system call (no *os.File, no poller
// registration, no fstat, no second read to see EOF) and returns how many
// bytes it read. That is enough for /proc files built by a single seq_file
// show (stat, smaps_rollup): the kernel hands the whole record to the first
// read that has room for it. It suits regular files (fixtures) too, which
// return short reads only at their end. n == len(buf) means the file may be
// longer. ENOENT and ESRCH come back wrapped with ErrGone.
func readFileAt(dirfd int, path string, buf []byte) (int, error) {
	fd, err := openRetry(func() (int, error) {
		return syscall.Openat(dirfd, path, syscall.O_RDONLY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return 0, wrapGone(path, err)
	}
	defer syscall.Close(fd)
	for {
		n, err := syscall.Read(fd, buf)
		if err == syscall.EINTR {
			continue
		}
		if err != nil {
			return 0, wrapGone(path, err)
		}
		return n, nil
	}
}

// readQuickAt is readFileAt for the /proc files the kernel formats from
// what it has in memory without waiting for anything (stat, children):
// raw system calls, which do not tell the Go runtime they entered the
// kernel. That keeps the runtime's monitor thread asleep while a sample
// reads them (on a regular call it wakes, polls every 20 µs and hands
// the caller's P to another thread). Not for smaps_rollup, which walks
// every mapping of a process.
func readQuickAt(dirfd int, path string, buf []byte) (int, error) {
	fd, err := pseudofile.OpenAt(dirfd, path)
	if err != nil {
		return 0, wrapGone(path, err)
	}
	defer pseudofile.Close(fd)
	n, err := pseudofile.Read(fd, buf)
	if err != nil {
		return 0, wrapGone(path, err)
	}
	return n, nil
}

func openRetry(open func() (int, error)) (int, error) {
	for {
		fd, err := open()
		if err != syscall.EINTR {
			return fd, err
		}
	}
}

func wrapGone(path string, err error) error {
	if err == syscall.ENOENT || err == syscall.ESRCH {
		return fmt.Errorf("%s: %w (%w)", path, ErrGone, err)
	}
	return fmt.Errorf("%s: %w", path, err)
}
