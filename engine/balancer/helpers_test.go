package balancer_test

import (
	"bufio"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

// testTimeout bounds every wait in these tests.
const testTimeout = 10 * time.Second

// listen returns a loopback listener, closed at the end of the test.
func listen(t testing.TB) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

// newBalancer starts a Balancer on a fresh listener, closed at the end of
// the test.
func newBalancer(t testing.TB, opts balancer.Options) (*balancer.Balancer, net.Listener) {
	t.Helper()
	ln := listen(t)
	if opts.Component == "" {
		opts.Component = "api"
	}
	b := balancer.New(ln, opts)
	t.Cleanup(func() { b.Close() })
	return b, ln
}

// tcpBackend is a plain tcp server on loopback: each connection is handed
// to serve, on a goroutine the backend waits for when it is closed.
type tcpBackend struct {
	ln    net.Listener
	serve func(c net.Conn)
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func newTCPBackend(t testing.TB, serve func(c net.Conn)) *tcpBackend {
	t.Helper()
	s := &tcpBackend{ln: listen(t), serve: serve, conns: map[net.Conn]bool{}}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			c, err := s.ln.Accept()
			if err != nil {
				return
			}
			s.mu.Lock()
			s.conns[c] = true
			s.mu.Unlock()
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				defer func() {
					s.mu.Lock()
					delete(s.conns, c)
					s.mu.Unlock()
					c.Close()
				}()
				s.serve(c)
			}()
		}
	}()
	t.Cleanup(s.close)
	return s
}

func (s *tcpBackend) addr() string { return s.ln.Addr().String() }

// close stops the backend, closes its connections and waits for them.
func (s *tcpBackend) close() {
	s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

// idEcho is a backend that greets each connection with "name\n" then
// echoes what it reads.
func idEcho(name string) func(net.Conn) {
	return func(c net.Conn) {
		if _, err := io.WriteString(c, name+"\n"); err != nil {
			return
		}
		io.Copy(c, c)
	}
}

// connect opens a connection to addr, closed when the test ends, with
// every read and write bounded by testTimeout.
func connect(t testing.TB, addr string) net.Conn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(testTimeout))
	return c
}

// dial connects to the balancer and reads the backend's greeting line.
func dial(t testing.TB, ln net.Listener) (net.Conn, *bufio.Reader, string) {
	t.Helper()
	c := connect(t, ln.Addr().String())
	r := bufio.NewReader(c)
	line, err := r.ReadString('\n')
	if err != nil {
		t.Fatalf("greeting: %v", err)
	}
	return c, r, strings.TrimSuffix(line, "\n")
}

// eventually waits, bounded, until cond holds (for counters the Balancer
// updates after the event the test can observe).
func eventually(t testing.TB, what string, cond func() bool) {
	t.Helper()
	timeout := time.NewTimer(testTimeout)
	defer timeout.Stop()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		select {
		case <-tick.C:
		case <-timeout.C:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// active returns the active count of every backend by address.
func active(b *balancer.Balancer) map[string]int {
	m := map[string]int{}
	for _, st := range b.Backends() {
		m[st.Addr] = st.Active
	}
	return m
}
