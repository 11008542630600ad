package proc

import (
	"bytes"
	"strconv"
	"syscall"

	"golang.org/x/sys/unix"
)

// walkMax bounds the processes one Walk reads.
const walkMax = 1 << 16

// Walk reads the process tree of pid under root ("/proc" normally) without
// listing every process: pid's stat and the children of each of its
// threads (root/PID/task/TID/children), then the same for each child,
// transitively; and the same from every process of extra that is still
// alive with the same start time (descendants that re-parented to thorp,
// the subreaper, after their parent died). It returns a Table of just
// those processes, which Tree, Usage and CPUTicks read as they read a
// Scan's: pass the same pid, pgid and extra to Tree.
//
// It reads two files per single-threaded process (stat and its one
// children file) and lists the task directory of a multi-threaded one
// (see Table.WalkCost), so for a few small trees it costs far less than
// Scan, which reads one file per process of the whole system. Unlike
// Scan, Walk finds no process that is neither a descendant of pid nor of
// extra: a member of pid's group whose parent exited before a Scan or a
// Walk saw it stays out until the next Scan.
//
// Processes that vanish while they are read are left out; Walk is never
// an error. It is safe for concurrent use.
func Walk(root string, pid int, extra []Ident) *Table {
	bufs := bufPool.Get().(*scanBufs)
	defer bufPool.Put(bufs)
	w := walker{root: root, bufs: bufs, seen: map[int]bool{}}
	w.visit(pid, 0)
	for _, id := range extra {
		w.visit(id.PID, id.StartTime)
	}
	for q := 0; q < len(w.queue) && len(w.procs) < walkMax; q++ {
		w.children(w.queue[q])
	}
	return newTable(w.procs)
}

type walker struct {
	root  string
	bufs  *scanBufs
	seen  map[int]bool
	procs []Stat
	queue []Stat // procs whose children are still to read
}

// visit reads pid's stat and queues it, unless it was seen, is gone, or
// has another start time than start (0: any).
func (w *walker) visit(pid int, start uint64) {
	if pid <= 0 || w.seen[pid] {
		return
	}
	w.seen[pid] = true
	s, err := readStatAt(unix.AT_FDCWD, w.root+"/"+strconv.Itoa(pid)+"/stat", w.bufs.file[:])
	if err != nil || s.PID != pid || (start != 0 && s.StartTime != start) {
		return
	}
	w.procs = append(w.procs, s)
	w.queue = append(w.queue, s)
}

// children visits the children of every thread of s.
func (w *walker) children(s Stat) {
	dir := w.root + "/" + strconv.Itoa(s.PID) + "/task/"
	if s.Threads <= 1 {
		w.childrenOf(dir + strconv.Itoa(s.PID) + "/children")
		return
	}
	for _, tid := range w.tasks(dir) {
		w.childrenOf(dir + strconv.Itoa(tid) + "/children")
	}
}

// tasks lists the thread ids in dir (root/PID/task/).
func (w *walker) tasks(dir string) []int {
	fd, err := openRetry(func() (int, error) {
		return syscall.Open(dir, syscall.O_RDONLY|syscall.O_DIRECTORY|syscall.O_CLOEXEC, 0)
	})
	if err != nil {
		return nil
	}
	defer syscall.Close(fd)
	var tids []int
	for {
		n, err := syscall.Getdents(fd, w.bufs.dirents[:])
		if err == syscall.EINTR {
			continue
		}
		if err != nil || n <= 0 {
			return tids
		}
		numericEntries(w.bufs.dirents[:n], func(_ []byte, tid uint64) { tids = append(tids, int(tid)) })
	}
}

// childrenOf visits the pids listed in a children file.
func (w *walker) childrenOf(path string) {
	buf := w.bufs.dirents[:]
	n, err := readQuickAt(unix.AT_FDCWD, path, buf)
	if err != nil {
		return
	}
	// A list longer than the buffer is cut at its last whole pid; the
	// children after it are found by the next Scan.
	list := buf[:n]
	if n == len(buf) {
		list = list[:bytes.LastIndexByte(list, ' ')+1]
	}
	var kids []int
	for _, f := range bytes.Fields(list) {
		if pid, ok := parseUint(f); ok {
			kids = append(kids, int(pid))
		}
	}
	for _, pid := range kids { // visit reuses buf's sibling buffer only
		w.visit(pid, 0)
	}
}

// WalkCost returns how many files Walk would read for tree (as Tree
// returned it from t): a stat and a children file per single-threaded
// process, a stat, a task directory and a children file per thread for
// the others. Processes of tree missing from t count as single-threaded.
func (t *Table) WalkCost(tree []Ident) int {
	n := 0
	for _, id := range tree {
		i, ok := t.index(id.PID)
		if !ok || t.procs[i].Threads <= 1 {
			n += 2
			continue
		}
		n += 2 + t.procs[i].Threads
	}
	return max(n, 2)
}
