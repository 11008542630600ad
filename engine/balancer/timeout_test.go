package balancer_test

import (
	"net"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

// stuckBackend returns the address of a loopback listener that never
// accepts and whose accept queue is full: a connection to it times out.
func stuckBackend(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	f := os.NewFile(uintptr(fd), "stuck")
	t.Cleanup(func() { f.Close() })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := (&net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: sa.(*syscall.SockaddrInet4).Port}).String()
	// Fill the accept queue (backlog 0 holds one) until a dial times out.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err != nil {
			return addr
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel accepts connections past the backlog")
	return ""
}

// A backend whose dial times out is counted (timeout) and the client goes
// to another backend.
func TestBalancer_TCP_DialTimeout(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: testTimeout})
	b.Add(1, 1, stuckBackend(t))
	b.Add(2, 2, newTCPBackend(t, idEcho("ok")).addr())
	// The first client of a Balancer tries the first backend added.
	if _, _, id := dial(t, ln); id != "ok" {
		t.Fatalf("greeting %q", id)
	}
	if n := b.Stats().Errors[balancer.ErrTimeout]; n != 1 {
		t.Errorf("timeout = %d, want 1 (errors %v)", n, b.Stats().Errors)
	}
}
