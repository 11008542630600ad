package engine

import (
	"errors"
	"log/slog"
	"os"
	"sync/atomic"

	"github.com/thorp-dev/thorp/engine/cgroup"
)

// alarmSlack is how far above the wanted threshold an armed one may be
// and still be kept (re-arming costs a few system calls).
const alarmSlack = 64 << 10

// memoryAlarms is the sampler's side of cgroup.Alarms: one memory usage
// threshold per watched process, armed at each of its samples where the
// process's memory (as memory_measure says) would reach its limit, so
// that the kernel wakes the sampler instead of it sampling every
// memory_interval. The threshold is on the cgroup's usage
// (memory.usage_in_bytes), which is not the measured memory: it is armed
// at usage + (limit − memory), the growth that brings the memory to the
// limit if the growth is charged to the cgroup (anonymous memory is),
// less a margin of limit/32 while more than two margins are left, and at
// most limit/8 above the usage, so that a growing process is sampled on
// its way up (its growth estimate has points) and just before the
// crossing (the sample scheduled from the estimate then lands right after
// it), and just after the crossing at the latest. Growth charged
// elsewhere (file pages another cgroup read first) or not charged again
// (the pages a fork shares with its parent, which RSS counts twice) is
// seen by the sampler's backstop every watchedInterval. Owned by the sampler's
// goroutine but for its waiter.
type memoryAlarms struct {
	a      *cgroup.Alarms // nil: not watching
	fired  chan []uint64  // the ids of alarms that fired; nil: never ready
	stop   chan struct{}  // closed by close: the waiter returns
	done   chan struct{}  // closed by the waiter when it returns
	broken atomic.Bool    // the waiter stopped on an error: sample every memory_interval
	log    *slog.Logger

	keys   map[uint64]treeKey
	armed  map[treeKey]armedAlarm
	nextID uint64
}

type armedAlarm struct {
	al        *cgroup.Alarm
	id        uint64
	threshold int64
	limit     int64 // the limit it was armed for
}

// open starts watching; until it succeeds, on is false.
func (m *memoryAlarms) open(log *slog.Logger) error {
	a, err := cgroup.NewAlarms()
	if err != nil {
		return err
	}
	m.a, m.log = a, log
	m.fired = make(chan []uint64)
	m.stop = make(chan struct{})
	m.done = make(chan struct{})
	m.keys = map[uint64]treeKey{}
	m.armed = map[treeKey]armedAlarm{}
	go m.wait() // owner: close
	return nil
}

// wait hands the ids of the alarms that fire to the sampler.
func (m *memoryAlarms) wait() {
	defer close(m.done)
	for {
		ids, err := m.a.Wait(nil)
		if err != nil {
			if !errors.Is(err, os.ErrClosed) {
				m.broken.Store(true)
				m.log.Warn("memory alarms stopped: memory limits are sampled every memory_interval", "err", err)
			}
			return
		}
		select {
		case m.fired <- ids:
		case <-m.stop:
			return
		}
	}
}

// on reports whether processes can be watched.
func (m *memoryAlarms) on() bool { return m.a != nil && !m.broken.Load() }

// close disarms every alarm and waits for the waiter to return.
func (m *memoryAlarms) close() {
	if m.a == nil {
		return
	}
	close(m.stop)
	_ = m.a.Close()
	<-m.done
	for key := range m.armed {
		m.disarm(key)
	}
}

// arm makes sure key's process, whose memory is memory against limit, is
// watched through its cgroup g, re-arming its threshold if it moved, and
// reports whether it is. Not watched: without a group or a v1 memory
// directory, or over the limit (sampled every memory_interval then).
// crossed: the usage was past the new threshold once it was armed (the
// kernel only signals crossings after that): sample again now.
func (m *memoryAlarms) arm(key treeKey, g *cgroup.Group, memory, limit int64) (watched, crossed bool) {
	left := limit - memory
	if g == nil || left <= 0 {
		m.disarm(key)
		return false, false
	}
	usage, ok, err := g.UsageV1()
	if !ok || err != nil {
		m.disarm(key)
		return false, false
	}
	margin, step := limit/32, max(limit/8, 1)
	d := left
	if left >= 2*margin {
		d = left - margin
	}
	threshold := usage + min(d, step)
	if cur, ok := m.armed[key]; ok && cur.threshold > usage &&
		cur.threshold <= threshold+alarmSlack && cur.threshold >= threshold-step/4 {
		return true, false
	}
	m.disarm(key)
	m.nextID++
	al, err := m.a.Arm(g, threshold, m.nextID)
	if err != nil {
		return false, false
	}
	m.armed[key] = armedAlarm{al: al, id: m.nextID, threshold: threshold, limit: limit}
	m.keys[m.nextID] = key
	// A process growing fast may be past the threshold before it is
	// armed: the kernel counts that as crossed already.
	now, _, err := g.UsageV1()
	return true, err == nil && now >= threshold
}

// armedFor reports whether key's process has an alarm armed for limit:
// while its memory is what it was then, that alarm is still the one arm
// would set.
func (m *memoryAlarms) armedFor(key treeKey, limit int64) bool {
	cur, ok := m.armed[key]
	return ok && cur.limit == limit
}

// disarm drops key's alarm, if it has one.
func (m *memoryAlarms) disarm(key treeKey) {
	cur, ok := m.armed[key]
	if !ok {
		return
	}
	cur.al.Close()
	delete(m.armed, key)
	delete(m.keys, cur.id)
}
