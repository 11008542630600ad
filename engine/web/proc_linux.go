package web

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/thorp-dev/thorp/engine/proc"
)

// selfRSS returns thorp's own resident memory in bytes, 0 if unknown.
func selfRSS() int64 {
	n, _ := proc.ReadVmRSS(0)
	return n
}

// explainListenError turns a failed listen on addr into an error naming the
// port and, when /proc tells, the process holding it.
func explainListenError(addr string, err error) error {
	if !errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("listen on %s: %w", addr, err)
	}
	_, portStr, _ := net.SplitHostPort(addr)
	port, perr := strconv.Atoi(portStr)
	if perr != nil || port == 0 {
		return fmt.Errorf("listen on %s: address already in use: %w", addr, err)
	}
	if pid, comm, ok := portHolder("/proc", port); ok {
		return fmt.Errorf("listen on %s: port %d is already in use by pid %d (%s): %w", addr, port, pid, comm, err)
	}
	return fmt.Errorf("listen on %s: port %d is already in use (holder not found): %w", addr, port, err)
}

// portHolder finds, best effort, a process with a TCP socket listening on
// port, by matching socket inodes from proc/net/tcp{,6} with the
// socket:[INODE] links under proc/PID/fd.
func portHolder(proc string, port int) (pid int, comm string, ok bool) {
	inodes := map[string]bool{}
	for _, name := range []string{"tcp", "tcp6"} {
		f, err := os.Open(filepath.Join(proc, "net", name))
		if err != nil {
			continue
		}
		for _, ino := range listenInodes(f, port) {
			inodes[ino] = true
		}
		f.Close()
	}
	if len(inodes) == 0 {
		return 0, "", false
	}
	dirs, err := os.ReadDir(proc)
	if err != nil {
		return 0, "", false
	}
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		fdDir := filepath.Join(proc, d.Name(), "fd")
		fds, err := os.ReadDir(fdDir)
		if err != nil {
			continue // gone, or not ours to read
		}
		for _, fd := range fds {
			link, err := os.Readlink(filepath.Join(fdDir, fd.Name()))
			if err != nil {
				continue
			}
			ino, ok := strings.CutPrefix(link, "socket:[")
			if !ok || !inodes[strings.TrimSuffix(ino, "]")] {
				continue
			}
			b, _ := os.ReadFile(filepath.Join(proc, d.Name(), "comm"))
			return pid, strings.TrimSpace(string(b)), true
		}
	}
	return 0, "", false
}

// listenInodes returns the inodes of sockets in LISTEN state (0A) on port
// from a /proc/net/tcp or tcp6 table.
func listenInodes(r io.Reader, port int) []string {
	var out []string
	sc := bufio.NewScanner(r)
	sc.Scan() // header
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 10 || f[3] != "0A" {
			continue
		}
		i := strings.LastIndexByte(f[1], ':')
		if i < 0 {
			continue
		}
		p, err := strconv.ParseUint(f[1][i+1:], 16, 16)
		if err != nil || int(p) != port {
			continue
		}
		out = append(out, f[9])
	}
	return out
}
