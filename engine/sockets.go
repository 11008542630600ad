package engine

import (
	"fmt"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/thorp-dev/thorp/engine/sockfile"
)

// heldSocket is a listening socket thorp binds for a component and keeps
// open across its restarts: connections queue in the kernel while no
// process of the component accepts them.
type heldSocket struct {
	name string
	addr string // as configured: tcp://host:port or unix:///path
	ln   net.Listener
	file *os.File // a dup of ln's descriptor, passed to children as fd 3, 4, …
	// holders counts the heldSockets sharing ln and file (a reload hands
	// a bound address from its old holder to its new one); the last one
	// released closes them.
	holders *atomic.Int32
	// bound is the unix socket file thorp created; closeSockets removes
	// it only while it is still that file.
	bound sockfile.Bound
}

// share returns another holder of h's listener, named name.
func (h *heldSocket) share(name string) *heldSocket {
	h.holders.Add(1)
	return &heldSocket{name: name, addr: h.addr, ln: h.ln, file: h.file, holders: h.holders, bound: h.bound}
}

// listenSockets binds every socket of a component, in name order (the
// order of LISTEN_FDNAMES). An address found in pool (listeners a reload
// takes from their old holders) is not bound again: the new holder shares
// that listener, which keeps its queue, and the address leaves pool so no
// one else takes it. On error what it bound or took is released again.
func listenSockets(socks map[string]string, pool map[string]*heldSocket) ([]*heldSocket, error) {
	names := make([]string, 0, len(socks))
	for n := range socks {
		names = append(names, n)
	}
	sort.Strings(names)
	var out []*heldSocket
	for _, n := range names {
		if old := pool[socks[n]]; old != nil {
			delete(pool, socks[n])
			out = append(out, old.share(n))
			continue
		}
		h, err := listenSocket(n, socks[n])
		if err != nil {
			closeSockets(out)
			return nil, err
		}
		out = append(out, h)
	}
	return out, nil
}

func listenSocket(name, addr string) (*heldSocket, error) {
	network, address, ok := strings.Cut(addr, "://")
	if !ok || (network != "tcp" && network != "unix") {
		return nil, fmt.Errorf("socket %s: %q is not tcp://host:port or unix:///path", name, addr)
	}
	if network == "unix" {
		// Only a stale socket is removed; anything else is an error.
		if err := sockfile.Clear(address); err != nil {
			return nil, fmt.Errorf("socket %s: %w", name, err)
		}
	}
	ln, err := net.Listen(network, address)
	if err != nil {
		return nil, fmt.Errorf("socket %s: %w (free the address or change sockets.%s)", name, err, name)
	}
	var f *os.File
	var bound sockfile.Bound
	switch l := ln.(type) {
	case *net.TCPListener:
		f, err = l.File()
	case *net.UnixListener:
		l.SetUnlinkOnClose(false) // closeSockets removes what it created
		if bound, err = sockfile.Mark(address); err == nil {
			f, err = l.File()
		}
	}
	if err != nil {
		ln.Close()
		_ = bound.Remove()
		return nil, fmt.Errorf("socket %s: %w", name, err)
	}
	h := &heldSocket{name: name, addr: addr, ln: ln, file: f, holders: new(atomic.Int32), bound: bound}
	h.holders.Store(1)
	return h, nil
}

// closeSockets releases hs: a listener closes when its last holder lets go.
// Each heldSocket is released once.
func closeSockets(hs []*heldSocket) {
	for _, h := range hs {
		if h.holders.Add(-1) == 0 {
			h.file.Close()
			h.ln.Close()
			_ = h.bound.Remove()
		}
	}
}

// socketEnv is the systemd socket-activation environment for hs, without
// LISTEN_PID (the exec shim sets it to the child's own pid).
func socketEnv(hs []*heldSocket) []string {
	if len(hs) == 0 {
		return nil
	}
	names := make([]string, len(hs))
	for i, h := range hs {
		names[i] = h.name
	}
	return []string{"LISTEN_FDS=" + strconv.Itoa(len(hs)), "LISTEN_FDNAMES=" + strings.Join(names, ":")}
}

// sameSockets reports whether hs are bound to exactly socks.
func sameSockets(hs []*heldSocket, socks map[string]string) bool {
	if len(hs) != len(socks) {
		return false
	}
	for _, h := range hs {
		if socks[h.name] != h.addr {
			return false
		}
	}
	return true
}
