package cgroup

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// ErrNoAlarm is returned by Alarms.Arm for a group the kernel cannot
// watch: one without a v1 memory directory (cgroup2 has no usage
// threshold to be notified of), or one already removed.
var ErrNoAlarm = errors.New("no memory usage threshold for this cgroup")

// Alarms waits for memory usage thresholds of v1 memory cgroups: the
// kernel signals an eventfd registered through cgroup.event_control when
// memory.usage_in_bytes crosses the threshold, either way (the v1 memory
// controller's "memory thresholds"). Nothing runs while no threshold is
// crossed. Each Alarm has an eventfd of its own in one epoll instance,
// which the Go runtime's poller watches: Wait sleeps without a thread.
// Safe for concurrent use.
type Alarms struct {
	ep *os.File // the epoll instance
	rc syscall.RawConn

	mu     sync.Mutex
	closed bool
}

// Alarm is one armed threshold. Close disarms it.
type Alarm struct {
	efd  int
	once sync.Once
}

// NewAlarms makes an empty set of alarms.
func NewAlarms() (*Alarms, error) {
	fd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll_create1: %w", err)
	}
	if err := unix.SetNonblock(fd, true); err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("epoll: %w", err)
	}
	ep := os.NewFile(uintptr(fd), "memory-alarms")
	rc, err := ep.SyscallConn()
	if err != nil {
		ep.Close()
		return nil, err
	}
	return &Alarms{ep: ep, rc: rc}, nil
}

// Arm makes Wait return id once g's memory.usage_in_bytes crosses
// threshold bytes (and each time again that it crosses it, up or down,
// until the Alarm is closed). The kernel checks thresholds every 128
// pages charged or uncharged on a CPU, so the usage may be up to 512 KiB
// per CPU past the threshold when it fires. A group removed meanwhile
// fires its alarms once more (the kernel's notice that they are gone).
func (a *Alarms) Arm(g *Group, threshold int64, id uint64) (*Alarm, error) {
	if g.mem == "" {
		return nil, ErrNoAlarm
	}
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		return nil, fmt.Errorf("eventfd: %w", err)
	}
	al := &Alarm{efd: efd}
	err = g.files.withFD(fileUsageV1, g.mem, "memory.usage_in_bytes", func(ufd int) error {
		cmd := strconv.Itoa(efd) + " " + strconv.Itoa(ufd) + " " + strconv.FormatInt(threshold, 10)
		return write(filepath.Join(g.mem, "cgroup.event_control"), cmd)
	})
	if err != nil {
		al.Close()
		return nil, err
	}
	// Edge-triggered: every signal of the eventfd is reported once, and
	// the eventfd is never read (Wait does not touch it: it may be
	// closed meanwhile, its number reused).
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		al.Close()
		return nil, os.ErrClosed
	}
	err = a.rc.Control(func(epfd uintptr) {
		// The event's data is Fd and Pad, on every architecture.
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLET, Fd: int32(uint32(id)), Pad: int32(uint32(id >> 32))}
		err = unix.EpollCtl(int(epfd), unix.EPOLL_CTL_ADD, efd, &ev)
	})
	if err != nil {
		al.Close()
		return nil, fmt.Errorf("epoll_ctl: %w", err)
	}
	return al, nil
}

// Close disarms the alarm: closing its eventfd takes it out of the epoll
// instance and makes the kernel drop the threshold. Safe twice.
func (al *Alarm) Close() {
	al.once.Do(func() { _ = unix.Close(al.efd) })
}

// Wait blocks until at least one alarm fired and appends the ids of those
// that did to buf. It returns os.ErrClosed once Close is called.
func (a *Alarms) Wait(buf []uint64) ([]uint64, error) {
	var evs [16]unix.EpollEvent
	var werr error
	err := a.rc.Read(func(epfd uintptr) bool {
		n, err := unix.EpollWait(int(epfd), evs[:], 0)
		switch {
		case err == unix.EINTR:
			return false
		case err != nil:
			werr = err
			return true
		case n == 0:
			return false // nothing yet: the poller waits for the next
		}
		for _, ev := range evs[:n] {
			buf = append(buf, uint64(uint32(ev.Fd))|uint64(uint32(ev.Pad))<<32)
		}
		return true
	})
	if err != nil {
		a.mu.Lock()
		defer a.mu.Unlock()
		if a.closed {
			return buf, os.ErrClosed
		}
		return buf, err
	}
	return buf, werr
}

// Close disarms nothing (each Alarm is its owner's to close) but ends
// Wait; later Arms fail.
func (a *Alarms) Close() error {
	a.mu.Lock()
	a.closed = true
	a.mu.Unlock()
	return a.ep.Close()
}
