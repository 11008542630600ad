package proc

import (
	"os"
)

// ClockTicks is the unit of the CPU and start times in /proc/PID/stat, in
// ticks per second. It is USER_HZ, which Linux fixes at 100 on every
// architecture Go supports (sysconf(_SC_CLK_TCK) reads the same value from the
// AT_CLKTCK auxiliary vector entry; a test checks it).
const ClockTicks = 100

// PageSize returns the size of a memory page in bytes, the unit of
// Stat.RSSPages. It is safe for concurrent use.
func PageSize() int64 { return pageSize }

var pageSize = int64(os.Getpagesize())

// Usage is what a process tree uses at one sample.
type Usage struct {
	// RSS is the sum of the resident set sizes, in bytes. Memory shared
	// between processes of the tree (libraries, copy-on-write pages after
	// fork) is counted once per process.
	RSS int64
	// PSS is the sum of the proportional set sizes, in bytes, when asked for
	// (0 otherwise). For a process whose smaps_rollup cannot be read
	// (permission, vanished, kernel before 4.14) its RSS is used instead.
	PSS int64
	// CPUSeconds is the sum of user and system CPU time of the live processes
	// of the tree. It drops when a process exits; use CPUCounter for a
	// counter that never decreases.
	CPUSeconds float64
	// Procs is the number of processes of the tree found alive (zombies,
	// which use no memory, included).
	Procs int
}

// Memory returns PSS if pss is set and RSS otherwise: the figure to compare
// with max_memory_restart for memory_measure = "pss" or "rss".
func (u Usage) Memory(pss bool) int64 {
	if pss {
		return u.PSS
	}
	return u.RSS
}

// Usage sums the usage of tree (as returned by Tree). Processes of tree that
// are not in the table with the same start time are skipped. RSS and CPU come
// from the table and cost nothing more; with pss set, it also reads
// root/PID/smaps_rollup for each process, which makes the kernel walk every
// mapping of the process: far costlier, use it only when memory_measure is
// "pss". root is the /proc mount the table was scanned from. Usage is safe for
// concurrent use.
//
// A pid could in principle be reused between Scan and the smaps_rollup read;
// the window is milliseconds and needs the whole pid space to wrap, so it is
// not guarded against.
func (t *Table) Usage(root string, tree []Ident, pss bool) Usage {
	var u Usage
	var ticks uint64
	for _, id := range tree {
		i, ok := t.index(id.PID)
		if !ok || t.procs[i].StartTime != id.StartTime {
			continue
		}
		s := &t.procs[i]
		u.Procs++
		rss := max(s.RSSPages, 0) * pageSize
		u.RSS += rss
		ticks += s.UTime + s.STime
		if pss {
			if p, err := readPSS(root, s.PID); err == nil {
				u.PSS += p
			} else {
				u.PSS += rss
			}
		}
	}
	u.CPUSeconds = float64(ticks) / ClockTicks
	return u
}

// CPUTicks fills dst with the CPU time (utime+stime, in clock ticks) of each
// live process of tree, for CPUCounter.Update. It clears dst first and
// returns it, allocating a map if dst is nil. It is safe for concurrent use
// as long as dst is not shared.
func (t *Table) CPUTicks(tree []Ident, dst map[Ident]uint64) map[Ident]uint64 {
	if dst == nil {
		dst = make(map[Ident]uint64, len(tree))
	}
	clear(dst)
	for _, id := range tree {
		i, ok := t.index(id.PID)
		if !ok || t.procs[i].StartTime != id.StartTime {
			continue
		}
		dst[id] = t.procs[i].UTime + t.procs[i].STime
	}
	return dst
}
