package proc

import (
	"cmp"
	"slices"
)

// Table is a snapshot of all processes, built by one pass over /proc (see
// Scan). It is immutable once built and safe for concurrent use.
type Table struct {
	procs []Stat // sorted by PID
	links []link // links[i] belongs to procs[i]
	// groupHead maps a process group id to the index of its first member;
	// the others follow through link.nextInGroup.
	groupHead map[int]int32
}

// link threads the table's processes into child lists and group lists
// without a slice per parent; -1 ends a list.
type link struct {
	firstChild, nextSibling, nextInGroup int32
}

// newTable indexes procs, which it takes ownership of.
func newTable(procs []Stat) *Table {
	if !slices.IsSortedFunc(procs, byPID) {
		slices.SortFunc(procs, byPID)
	}
	procs = slices.CompactFunc(procs, func(a, b Stat) bool { return a.PID == b.PID })
	t := &Table{
		procs:     procs,
		links:     make([]link, len(procs)),
		groupHead: make(map[int]int32, len(procs)/2+1),
	}
	for i := range t.links {
		t.links[i] = link{-1, -1, -1}
	}
	// Walk backwards so that every list comes out in ascending pid order.
	for i := len(procs) - 1; i >= 0; i-- {
		s := &procs[i]
		if p, ok := t.index(s.PPID); ok && s.PPID != s.PID {
			t.links[i].nextSibling = t.links[p].firstChild
			t.links[p].firstChild = int32(i)
		}
		if s.PGID > 0 {
			if h, ok := t.groupHead[s.PGID]; ok {
				t.links[i].nextInGroup = h
			}
			t.groupHead[s.PGID] = int32(i)
		}
	}
	return t
}

func byPID(a, b Stat) int { return cmp.Compare(a.PID, b.PID) }

// index returns the position of pid in t.procs.
func (t *Table) index(pid int) (int32, bool) {
	i, ok := slices.BinarySearchFunc(t.procs, pid, func(s Stat, pid int) int { return cmp.Compare(s.PID, pid) })
	return int32(i), ok
}

// Len returns the number of processes in the table.
func (t *Table) Len() int { return len(t.procs) }

// Get returns the stat of pid as read by Scan.
func (t *Table) Get(pid int) (Stat, bool) {
	i, ok := t.index(pid)
	if !ok {
		return Stat{}, false
	}
	return t.procs[i], true
}

// Alive reports whether the process id was in the table with the same start
// time, i.e. the very same process (not a reused pid).
func (t *Table) Alive(id Ident) bool {
	i, ok := t.index(id.PID)
	return ok && t.procs[i].StartTime == id.StartTime
}

// Tree returns the processes of the component whose main process is pid and
// whose process group is pgid, sorted by pid and without duplicates:
//
//   - pid itself,
//   - every process in group pgid (pgid <= 0 means none),
//   - every process in extra that is still alive with the same start time
//     (descendants that re-parented to thorp, the subreaper, after their
//     parent died, so neither PPID nor PGID ties them to the component),
//   - every descendant by PPID, transitively, of all of the above (this
//     catches processes that left the group with setsid or setpgid).
//
// The caller must not have reaped pid yet (so the pid cannot have been reused),
// and the group must still have a member or pgid may name a new group. The
// simplest correct use is to pass the previous sample's Tree result as extra
// and to reset it to nil when the component gets a new main process.
func (t *Table) Tree(pid, pgid int, extra []Ident) []Ident {
	var tb treeBuilder
	if i, ok := t.index(pid); ok {
		tb.add(i)
	}
	if pgid > 0 {
		if h, ok := t.groupHead[pgid]; ok {
			for i := h; i >= 0; i = t.links[i].nextInGroup {
				tb.add(i)
			}
		}
	}
	for _, id := range extra {
		if i, ok := t.index(id.PID); ok && t.procs[i].StartTime == id.StartTime {
			tb.add(i)
		}
	}
	for q := 0; q < len(tb.idx); q++ {
		for c := t.links[tb.idx[q]].firstChild; c >= 0; c = t.links[c].nextSibling {
			tb.add(c)
		}
	}
	if len(tb.idx) == 0 {
		return nil
	}
	slices.Sort(tb.idx) // index order is pid order
	out := make([]Ident, len(tb.idx))
	for k, i := range tb.idx {
		out[k] = t.procs[i].Ident()
	}
	return out
}

// treeBuilder collects table indices without duplicates. Trees are usually a
// handful of processes, so it scans linearly until it is big enough for a set.
type treeBuilder struct {
	idx  []int32
	seen map[int32]struct{}
}

const treeLinearMax = 32

func (b *treeBuilder) add(i int32) {
	if b.seen != nil {
		if _, dup := b.seen[i]; dup {
			return
		}
		b.seen[i] = struct{}{}
		b.idx = append(b.idx, i)
		return
	}
	if slices.Contains(b.idx, i) {
		return
	}
	b.idx = append(b.idx, i)
	if len(b.idx) > treeLinearMax {
		b.seen = make(map[int32]struct{}, 2*len(b.idx))
		for _, j := range b.idx {
			b.seen[j] = struct{}{}
		}
	}
}

// Children returns the pids whose parent is pid, in ascending order.
func (t *Table) Children(pid int) []int {
	i, ok := t.index(pid)
	if !ok {
		return nil
	}
	var out []int
	for c := t.links[i].firstChild; c >= 0; c = t.links[c].nextSibling {
		out = append(out, t.procs[c].PID)
	}
	return out
}
