package proc

import (
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
	files map[int]int  // pid → open file
	read  map[int]bool // pids read since the last Sweep
	buf   [maxStatSize + 1]byte
}

// NewStatFiles returns a StatFiles for the processes under root ("/proc"
// normally). Close it when done.
func NewStatFiles(root string) *StatFiles {
	return &StatFiles{root: root, files: map[int]int{}, read: map[int]bool{}}
}

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
	for pid, fd := range f.files {
		if !f.read[pid] {
			rawClose(fd)
			delete(f.files, pid)
		}
	}
	clear(f.read)
}

// Close closes every file f keeps open.
func (f *StatFiles) Close() {
	for pid, fd := range f.files {
		rawClose(fd)
		delete(f.files, pid)
	}
}
