package main

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// dropStartupPages lets go of the pages of thorp's own code and read-only
// data that only starting up touched: every linked package's init runs in
// every thorp process (the JavaScript engine of thorp import among them),
// and the kernel maps 64 KiB around each page it faults in. MADV_DONTNEED
// on the executable's read-only, private mappings drops them from thorp's
// page tables (they stay in the page cache, clean and shared); what the
// daemon runs afterwards is faulted back in as it is used. Writable
// mappings are never touched (their changed pages are thorp's own data).
func dropStartupPages() {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return
	}
	f, err := os.Open("/proc/self/maps")
	if err != nil {
		return
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		if len(fields) < 6 || fields[5] != exe || (fields[1] != "r-xp" && fields[1] != "r--p") {
			continue
		}
		lo, hi, ok := strings.Cut(fields[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		// By address: the mapping is no Go memory, so no []byte stands for it.
		_, _, _ = unix.Syscall(unix.SYS_MADVISE, uintptr(start), uintptr(end-start), unix.MADV_DONTNEED)
	}
}

// pageDropper lets go of the executable's pages again once thorp has been
// quiet for a while after running code an idle thorp does not: starting
// the components, a thorp command on the control socket, an event (a
// process spawned, exited, restarted). While idle nothing pokes it, so it
// neither wakes nor drops, and what idle supervision runs is faulted back
// once after each drop (a few hundred minor faults).
type pageDropper struct {
	poke  chan struct{}
	quiet time.Duration // from the last poke to the drop
	drop  func()
}

// quietBeforeDrop is how long thorp run waits after the last activity
// before it drops its pages: a burst of commands or restarts is one.
const quietBeforeDrop = 10 * time.Second

// dropQuietPages is thorp run's drop once quiet: the pages go, and a
// collection follows at once, so that what an idle thorp's collections
// read (the unwinding tables of every goroutine's frames, about 3 MiB of
// .gopclntab) comes back now rather than at the next collection, which
// may be minutes away: what stays resident is then what idle keeps.
func dropQuietPages() {
	dropStartupPages()
	runtime.GC()
}

func newPageDropper(quiet time.Duration, drop func()) *pageDropper {
	return &pageDropper{poke: make(chan struct{}, 1), quiet: quiet, drop: drop}
}

// Poke says thorp ran code it may not run while idle. It never blocks.
func (p *pageDropper) Poke() {
	select {
	case p.poke <- struct{}{}:
	default:
	}
}

// run drops the pages p.quiet after each last poke until ctx ends.
func (p *pageDropper) run(ctx context.Context) {
	t := time.NewTimer(p.quiet)
	t.Stop()
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-p.poke:
			t.Reset(p.quiet)
		case <-t.C:
			p.drop()
		}
	}
}
