package proc

import (
	"bytes"
	"errors"
	"strconv"

	"github.com/thorp-dev/thorp/engine/pseudofile"
	"golang.org/x/sys/unix"
)

// maxKeptStatFiles bounds the stat files a StatFiles keeps open, and
// apart from them its statm files (ReadRSS); the files of processes
// beyond it are opened for each read.
const maxKeptStatFiles = 4096

// StatFiles reads the stat files of processes that are read again and
// again (those a cgroup lists, at every sample) and keeps each open
// between reads, re-reading it with pread: one system call a process and
// read instead of open, read and close, and no path lookup. An open stat
// file stays bound to its process: once that has exited reads fail
// (ESRCH) even when its pid is reused, and the file is opened again by
// pid. Like readQuickAt, it reads through package pseudofile. Not safe for
// concurrent use.
type StatFiles struct {
	root  string
	stats keptFiles // stat files (ReadStats)
	statm keptFiles // statm files (ReadRSS)
	buf   [maxStatSize + 1]byte
}

// keptFiles is one kind of file of each process, kept open between reads.
type keptFiles struct {
	name string       // "stat" or "statm"
	fds  map[int]int  // pid → open file
	read map[int]bool // pids whose file was read since the last Sweep
}

func newKeptFiles(name string) keptFiles {
	return keptFiles{name: name, fds: map[int]int{}, read: map[int]bool{}}
}

// NewStatFiles returns a StatFiles for the processes under root ("/proc"
// normally). Close it when done.
func NewStatFiles(root string) *StatFiles {
	return &StatFiles{root: root, stats: newKeptFiles("stat"), statm: newKeptFiles("statm")}
}

// ReadRSS adds up the resident set size, in bytes, of those of pids that
// are still there, from their statm files, kept open as stat files are,
// and returns how many it read. statm is read in about a third of the
// time of stat (the kernel formats seven numbers instead of fifty-two)
// and its resident figure is VmRSS of /proc/PID/status, the per-CPU
// counters summed, where stat's rss field may lag it by a few hundred KiB.
func (f *StatFiles) ReadRSS(pids []int) (rss int64, n int) {
	for _, pid := range pids {
		if pages, err := readKept(f, &f.statm, pid, parseStatmResident); err == nil {
			rss += pages * pageSize
			n++
		}
	}
	return rss, n
}

// parseStatmResident returns the resident field of a statm file ("size
// resident shared text lib data dt", in pages).
func parseStatmResident(b []byte, _ int) (int64, error) {
	_, rest, ok := bytes.Cut(b, []byte{' '})
	if !ok {
		return 0, errBadStatm
	}
	field, _, _ := bytes.Cut(rest, []byte{' '})
	return strconv.ParseInt(string(field), 10, 64)
}

var errBadStatm = errors.New("statm has no resident field")

// ReadStats reads the stat of each of pids into a Table, for processes
// known some other way (a cgroup's cgroup.procs): one file per process,
// no children. Processes that are gone are left out.
func (f *StatFiles) ReadStats(pids []int) *Table {
	procs := make([]Stat, 0, len(pids))
	for _, pid := range pids {
		if s, err := readKept(f, &f.stats, pid, parseStatOf); err == nil {
			procs = append(procs, s)
		}
	}
	return newTable(procs)
}

// parseStatOf parses the stat file of pid.
func parseStatOf(b []byte, pid int) (Stat, error) {
	s, err := parseStat(b)
	if err == nil && s.PID != pid {
		err = errNotPID
	}
	return s, err
}

var errNotPID = errors.New("not a pid")

// readKept reads k's file of pid with parse: from the file kept open
// for pid, or, when there is none or its process is gone, from the file
// opened anew by pid, which is then kept (up to maxKeptStatFiles).
func readKept[T any](f *StatFiles, k *keptFiles, pid int, parse func(b []byte, pid int) (T, error)) (T, error) {
	var zero T
	if pid <= 0 {
		return zero, errNotPID
	}
	if fd, ok := k.fds[pid]; ok {
		if v, err := pread(f, fd, pid, parse); err == nil {
			k.read[pid] = true
			return v, nil
		}
		pseudofile.Close(fd) // that process is gone: pid may be another's now
		delete(k.fds, pid)
	}
	path := f.root + "/" + strconv.Itoa(pid) + "/" + k.name
	fd, err := pseudofile.OpenAt(unix.AT_FDCWD, path)
	if err != nil {
		return zero, wrapGone(path, err)
	}
	v, err := pread(f, fd, pid, parse)
	if err != nil || len(k.fds) >= maxKeptStatFiles {
		pseudofile.Close(fd)
		return v, err
	}
	k.fds[pid] = fd
	k.read[pid] = true
	return v, nil
}

// pread reads the file fd, whole, into f's buffer and parses it.
func pread[T any](f *StatFiles, fd, pid int, parse func(b []byte, pid int) (T, error)) (T, error) {
	b, err := pseudofile.ReadAll(fd, f.buf[:0])
	if err == nil && len(b) > maxStatSize {
		err = errStatTooLarge
	}
	if err != nil {
		var zero T
		return zero, err
	}
	return parse(b, pid)
}

// Sweep closes the files of processes not read since the previous Sweep.
func (f *StatFiles) Sweep() {
	f.stats.sweep()
	f.statm.sweep()
}

func (k *keptFiles) sweep() {
	for pid, fd := range k.fds {
		if !k.read[pid] {
			pseudofile.Close(fd)
			delete(k.fds, pid)
		}
	}
	clear(k.read)
}

// Close closes every file f keeps open.
func (f *StatFiles) Close() {
	for _, k := range []*keptFiles{&f.stats, &f.statm} {
		for pid, fd := range k.fds {
			pseudofile.Close(fd)
			delete(k.fds, pid)
		}
	}
}
