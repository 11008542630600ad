package main

import (
	"bufio"
	"os"
	"strconv"
	"strings"

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
