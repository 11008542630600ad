package proc

import (
	"bytes"
	"errors"
	"strconv"
	"syscall"
	"unsafe"
)

// maxKeptStatFiles bounds the files a StatFiles keeps open; the stat
// files of processes beyond it are opened for each read.
const maxKeptStatFiles = 4096

// StatFiles reads the stat files of processes that are read again and
// again (those a cgroup lists, at every sample) and keeps each open
// between reads, re-reading it with pread: one system call a process and
// read instead of open, read and close, and no path lookup. An open stat
// file stays bound to its process: once that has exited reads fail
// (ESRCH) even when its pid is reused, and the file is opened again by
// pid. Like readQuickAt, it reads with raw system calls. Not safe for
// concurrent use.
type StatFiles struct {
	root  string
	files map[int]int  // pid → open stat file
	read  map[int]bool // pids whose stat was read since the last Sweep
	statm map[int]int  // pid → open statm file (ReadRSS)
	readm map[int]bool // pids whose statm was read since the last Sweep
	buf   [maxStatSize + 1]byte
}

// NewStatFiles returns a StatFiles for the processes under root ("/proc"
// normally). Close it when done.
func NewStatFiles(root string) *StatFiles {
	return &StatFiles{root: root, files: map[int]int{}, read: map[int]bool{}, statm: map[int]int{}, readm: map[int]bool{}}
}

// ReadRSS adds up the resident set size, in bytes, of those of pids that
// are still there, from their statm files, kept open as stat files are,
// and returns how many it read. statm is read in about a third of the
// time of stat (the kernel formats seven numbers instead of fifty-two)
// and its resident figure is VmRSS of /proc/PID/status, the per-CPU
// counters summed, where stat's rss field may lag it by a few hundred KiB.
func (f *StatFiles) ReadRSS(pids []int) (rss int64, n int) {
	for _, pid := range pids {
		if pages, err := f.residentPages(pid); err == nil {
			rss += pages * pageSize
			n++
		}
	}
	return rss, n
}

func (f *StatFiles) residentPages(pid int) (int64, error) {
	if pid <= 0 {
		return 0, errNotPID
	}
	if fd, ok := f.statm[pid]; ok {
		if pages, err := f.preadStatm(fd); err == nil {
			f.readm[pid] = true
			return pages, nil
		}
		rawClose(fd) // that process is gone: pid may be another's now
		delete(f.statm, pid)
	}
	fd, err := rawOpenat(atCWD, f.root+"/"+strconv.Itoa(pid)+"/statm")
	if err != nil {
		return 0, err
	}
	pages, err := f.preadStatm(fd)
	if err != nil || len(f.statm) >= maxKeptStatFiles {
		rawClose(fd)
		return pages, err
	}
	f.statm[pid] = fd
	f.readm[pid] = true
	return pages, nil
}

// preadStatm reads a statm file ("size resident shared text lib data dt",
// in pages) and returns its resident field.
func (f *StatFiles) preadStatm(fd int) (int64, error) {
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&f.buf[0])), uintptr(len(f.buf)), 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return 0, errno
		}
		_, rest, ok := bytes.Cut(f.buf[:n], []byte{' '})
		if !ok {
			return 0, errBadStatm
		}
		field, _, _ := bytes.Cut(rest, []byte{' '})
		return strconv.ParseInt(string(field), 10, 64)
	}
}

var errBadStatm = errors.New("statm has no resident field")

// ReadStats reads the stat of each of pids into a Table, for processes
// known some other way (a cgroup's cgroup.procs): one file per process,
// no children. Processes that are gone are left out.
func (f *StatFiles) ReadStats(pids []int) *Table {
	procs := make([]Stat, 0, len(pids))
	for _, pid := range pids {
		if s, err := f.stat(pid); err == nil {
			procs = append(procs, s)
		}
	}
	return newTable(procs)
}

var errNotPID = errors.New("not a pid")

func (f *StatFiles) stat(pid int) (Stat, error) {
	if pid <= 0 {
		return Stat{}, errNotPID
	}
	if fd, ok := f.files[pid]; ok {
		if s, err := f.pread(fd, pid); err == nil {
			f.read[pid] = true
			return s, nil
		}
		rawClose(fd) // that process is gone: pid may be another's now
		delete(f.files, pid)
	}
	fd, err := rawOpenat(atCWD, f.root+"/"+strconv.Itoa(pid)+"/stat")
	if err != nil {
		return Stat{}, err
	}
	s, err := f.pread(fd, pid)
	if err != nil || len(f.files) >= maxKeptStatFiles {
		rawClose(fd)
		return s, err
	}
	f.files[pid] = fd
	f.read[pid] = true
	return s, nil
}

func (f *StatFiles) pread(fd, pid int) (Stat, error) {
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_PREAD64, uintptr(fd), uintptr(unsafe.Pointer(&f.buf[0])), uintptr(len(f.buf)), 0, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return Stat{}, errno
		}
		if int(n) == len(f.buf) {
			return Stat{}, errStatTooLarge
		}
		s, err := parseStat(f.buf[:n])
		if err == nil && s.PID != pid {
			err = errNotPID
		}
		return s, err
	}
}

// Sweep closes the files of processes not read since the previous Sweep.
func (f *StatFiles) Sweep() {
	sweep(f.files, f.read)
	sweep(f.statm, f.readm)
}

func sweep(files map[int]int, read map[int]bool) {
	for pid, fd := range files {
		if !read[pid] {
			rawClose(fd)
			delete(files, pid)
		}
	}
	clear(read)
}

// Close closes every file f keeps open.
func (f *StatFiles) Close() {
	for _, files := range []map[int]int{f.files, f.statm} {
		for pid, fd := range files {
			rawClose(fd)
			delete(files, pid)
		}
	}
}
