package proc

// CPUCounter turns successive per-process CPU snapshots of one component
// into a total that never decreases, for a Prometheus counter such as
// thorp_component_cpu_seconds_total.
//
// The sum of utime+stime over live processes drops whenever a process exits.
// CPUCounter instead adds, per Ident, the growth since the previous snapshot.
// A process seen for the first time counts with its full CPU time (it started
// after the previous sample, roughly); a process that vanished keeps what was
// counted for it. CPU used by a process that lived entirely between two
// samples, and by a process after its last sample, is not counted.
//
// Keep one CPUCounter per component for its whole life, across restarts. The
// zero value is ready to use. It is not safe for concurrent use.
type CPUCounter struct {
	last, spare map[Ident]uint64
	total       uint64
}

// Update takes the CPU ticks of every live process of the component (see
// Table.CPUTicks) and returns the new total in seconds. It does not keep
// snapshot, which the caller may reuse.
func (c *CPUCounter) Update(snapshot map[Ident]uint64) float64 {
	next := c.spare
	if next == nil {
		next = make(map[Ident]uint64, len(snapshot))
	}
	clear(next)
	for id, ticks := range snapshot {
		prev, seen := c.last[id]
		switch {
		case !seen:
			c.total += ticks
		case ticks > prev:
			c.total += ticks - prev
		default:
			// CPU time of one process cannot go backwards; keep the high mark.
			ticks = prev
		}
		next[id] = ticks
	}
	c.last, c.spare = next, c.last
	return c.Seconds()
}

// Ticks returns the total counted so far, in clock ticks.
func (c *CPUCounter) Ticks() uint64 { return c.total }

// Seconds returns the total counted so far, in seconds.
func (c *CPUCounter) Seconds() float64 { return float64(c.total) / ClockTicks }
