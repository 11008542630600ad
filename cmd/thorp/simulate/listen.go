package simulate

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
)

// listenFDsStart is the first fd of the systemd socket-passing protocol.
const listenFDsStart = 3

// Listener is where a workload's HTTP server accepts connections: a socket
// it opened itself or one it inherited from its parent. Safe for concurrent
// use, like the net.Listener it embeds.
type Listener struct {
	net.Listener
	// Inherited is true when the socket came from the parent (LISTEN_FDS).
	// The parent keeps its own copy open, so connections queued in the
	// kernel survive this process; Server.Shutdown then only closes its
	// copy instead of draining the queue.
	Inherited bool
	// Name is the socket's LISTEN_FDNAMES entry, "" when not inherited or unnamed.
	Name string
}

// Listen returns the listener a workload serves on. When the environment
// passes sockets (LISTEN_FDS ≥ 1, and LISTEN_PID unset or equal to this
// process's pid) it uses fd 3, named by the first LISTEN_FDNAMES entry, and
// removes the LISTEN_* variables so children do not inherit them; addr is
// then ignored. Otherwise it listens on TCP addr. With neither, it returns
// (nil, nil).
//
// LISTEN_PID unset is accepted on purpose: a parent cannot know its child's
// pid before forking, so systemd-style wrappers that exec directly (and
// tests) may leave it out. A LISTEN_PID naming another process means the
// variables were meant for someone else; they are ignored.
//
// Listen changes the process environment; do not call it concurrently.
func Listen(addr string) (*Listener, error) {
	if name, ok := inheritedSocket(os.Getenv, os.Getpid()); ok {
		for _, k := range []string{"LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES"} {
			_ = os.Unsetenv(k)
		}
		f := os.NewFile(listenFDsStart, name)
		ln, err := net.FileListener(f)
		_ = f.Close() // FileListener dup'ed it
		if err != nil {
			return nil, fmt.Errorf("use inherited socket on fd %d: %w", listenFDsStart, err)
		}
		return &Listener{Listener: ln, Inherited: true, Name: name}, nil
	}
	if addr == "" {
		return nil, nil
	}
	return listenTCP(addr)
}

// listen is Listen, or with plain the workload's own TCP listener on addr
// whatever the environment passes ((nil, nil) when addr is "").
func listen(addr string, plain bool) (*Listener, error) {
	if !plain {
		return Listen(addr)
	}
	if addr == "" {
		return nil, nil
	}
	return listenTCP(addr)
}

// listenTCP listens on TCP addr itself, whatever the environment passes.
func listenTCP(addr string) (*Listener, error) {
	// Plain TCP, not Go's default MPTCP: MPTCP sockets refuse the socket
	// filter Server.Shutdown attaches.
	var lc net.ListenConfig
	lc.SetMultipathTCP(false)
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen on %s: %w", addr, err)
	}
	return &Listener{Listener: ln}, nil
}

// inheritedSocket reads the LISTEN_* protocol through getenv and reports
// whether fd 3 is a socket meant for process pid, with its name.
func inheritedSocket(getenv func(string) string, pid int) (name string, ok bool) {
	n, err := strconv.Atoi(getenv("LISTEN_FDS"))
	if err != nil || n < 1 {
		return "", false
	}
	if p := getenv("LISTEN_PID"); p != "" {
		if lp, err := strconv.Atoi(p); err != nil || lp != pid {
			return "", false
		}
	}
	name, _, _ = strings.Cut(getenv("LISTEN_FDNAMES"), ":")
	return name, true
}
