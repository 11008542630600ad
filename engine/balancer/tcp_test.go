package balancer_test

import (
	"bufio"
	"bytes"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

func TestBalancer_TCP_RoundTrip(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: time.Second})
	be := newTCPBackend(t, idEcho("a"))
	b.Add(1, 100, be.addr())

	c, r, id := dial(t, ln)
	if id != "a" {
		t.Fatalf("greeting %q", id)
	}
	io.WriteString(c, "hello\n")
	if line, err := r.ReadString('\n'); err != nil || line != "hello\n" {
		t.Fatalf("echo %q, %v", line, err)
	}
	st := b.Stats()
	if st.Connections != 1 {
		t.Errorf("Connections = %d, want 1", st.Connections)
	}
	for _, kind := range balancer.ErrorKinds {
		if n, ok := st.Errors[kind]; !ok || n != 0 {
			t.Errorf("Errors[%s] = %d, %v; want 0, present", kind, n, ok)
		}
	}
	if len(st.Requests) != 0 {
		t.Errorf("Requests in tcp mode: %v", st.Requests)
	}
	bs := b.Backends()
	if len(bs) != 1 || bs[0] != (balancer.BackendStatus{Instance: 1, PID: 100, Addr: be.addr(), Port: be.ln.Addr().(*net.TCPAddr).Port, Active: 1}) {
		t.Errorf("Backends = %+v", bs)
	}
	c.Close()
	eventually(t, "the connection to end", func() bool { return active(b)[be.addr()] == 0 })
}

// Open connections spread one per backend (fewest active), and idle
// backends take turns.
func TestBalancer_TCP_LeastConnectionsAndTurns(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: time.Second})
	names := []string{"a", "b", "c"}
	for i, n := range names {
		b.Add(i, 100+i, newTCPBackend(t, idEcho(n)).addr())
	}
	seen := map[string]int{}
	var held []net.Conn
	for range 3 {
		c, _, id := dial(t, ln)
		held = append(held, c)
		seen[id]++
	}
	if len(seen) != 3 {
		t.Fatalf("3 open connections went to %v, want one each", seen)
	}
	for _, c := range held {
		c.Close()
	}
	eventually(t, "held connections to end", func() bool {
		for _, n := range active(b) {
			if n != 0 {
				return false
			}
		}
		return true
	})

	// Sequential connections, each ended before the next: all take turns.
	seen = map[string]int{}
	for range 9 {
		c, _, id := dial(t, ln)
		seen[id]++
		c.Close()
		eventually(t, "the connection to end", func() bool {
			for _, n := range active(b) {
				if n != 0 {
					return false
				}
			}
			return true
		})
	}
	for _, n := range names {
		if seen[n] != 3 {
			t.Fatalf("9 sequential connections: %v, want 3 each", seen)
		}
	}
}

// A client that arrives with no backend in rotation waits for the next
// Add, and one that waits longer than QueueTimeout is turned away.
func TestBalancer_TCP_Queue(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: testTimeout})
	c := connect(t, ln.Addr().String())
	io.WriteString(c, "early\n")
	eventually(t, "the client to be accepted", func() bool { return b.Stats().Connections == 1 })
	b.Add(1, 1, newTCPBackend(t, idEcho("late")).addr())
	r := bufio.NewReader(c)
	for _, want := range []string{"late\n", "early\n"} {
		if line, err := r.ReadString('\n'); line != want {
			t.Fatalf("read %q, %v; want %q", line, err, want)
		}
	}

	b2, ln2 := newBalancer(t, balancer.Options{QueueTimeout: 20 * time.Millisecond})
	c2 := connect(t, ln2.Addr().String())
	if n, err := c2.Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf("turned-away client read %d, %v; want EOF", n, err)
	}
	if n := b2.Stats().Errors[balancer.ErrNoBackend]; n != 1 {
		t.Errorf("no_backend = %d, want 1", n)
	}

	// SetQueueTimeout applies to the next clients.
	b2.SetQueueTimeout(testTimeout)
	c3, err := net.Dial("tcp", ln2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c3.Close()
	eventually(t, "the client to be accepted", func() bool { return b2.Stats().Connections == 2 })
	b2.Add(1, 1, newTCPBackend(t, idEcho("x")).addr())
	c3.SetDeadline(time.Now().Add(testTimeout))
	if line, err := bufio.NewReader(c3).ReadString('\n'); line != "x\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// A backend that refuses connections is counted and skipped.
func TestBalancer_TCP_RefusedRetried(t *testing.T) {
	var logs lockedBuffer
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: testTimeout, Log: slog.New(slog.NewTextHandler(&logs, nil))})
	dead := listen(t)
	deadAddr := dead.Addr().String()
	dead.Close()
	deadBe := b.Add(1, 1, deadAddr)
	b.Add(2, 2, newTCPBackend(t, idEcho("ok")).addr())
	for range 8 {
		c, _, id := dial(t, ln)
		if id != "ok" {
			t.Fatalf("greeting %q", id)
		}
		c.Close()
	}
	if n := b.Stats().Errors[balancer.ErrRefused]; n < 2 {
		t.Errorf("refused = %d, want the dead backend's refusals counted", n)
	}
	if n := active(b)[deadAddr]; n != 0 {
		t.Errorf("refusing backend has %d active", n)
	}
	if n := strings.Count(logs.String(), "level=WARN"); n != 1 {
		t.Errorf("%d warnings, want 1 (the others suppressed):\n%s", n, logs.String())
	}

	b.Remove(deadBe)
	if bs := b.Backends(); len(bs) != 1 || bs[0].Addr == deadAddr {
		t.Errorf("after Remove: %+v", bs)
	}

	// With only a refusing backend, the client waits for an Add.
	only, ln2 := newBalancer(t, balancer.Options{QueueTimeout: testTimeout})
	only.Add(1, 1, deadAddr)
	c, err := net.Dial("tcp", ln2.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	eventually(t, "a refusal", func() bool { return only.Stats().Errors[balancer.ErrRefused] > 0 })
	only.Add(2, 2, newTCPBackend(t, idEcho("saved")).addr())
	c.SetDeadline(time.Now().Add(testTimeout))
	if line, err := bufio.NewReader(c).ReadString('\n'); line != "saved\n" {
		t.Fatalf("read %q, %v", line, err)
	}
}

// Each direction ends on its own: the client's end of input reaches the
// backend, which still answers.
func TestBalancer_TCP_HalfClose(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: time.Second})
	b.Add(1, 1, newTCPBackend(t, func(c net.Conn) {
		data, err := io.ReadAll(c)
		if err != nil {
			return
		}
		io.WriteString(c, strings.ToUpper(string(data)))
	}).addr())
	c := connect(t, ln.Addr().String())
	io.WriteString(c, "shout")
	c.(*net.TCPConn).CloseWrite()
	got, err := io.ReadAll(c)
	if err != nil || string(got) != "SHOUT" {
		t.Fatalf("read %q, %v", got, err)
	}
	eventually(t, "the connection to end", func() bool { return b.Backends()[0].Active == 0 })
	if n := b.Stats().Errors[balancer.ErrReset]; n != 0 {
		t.Errorf("reset = %d after a clean half-close", n)
	}
}

// A backend that resets mid-stream and a client that does are each
// counted once.
func TestBalancer_TCP_Reset(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: time.Second})
	b.Add(1, 1, newTCPBackend(t, func(c net.Conn) {
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			return
		}
		if string(buf) == "reset" {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
			return
		}
		c.Write(buf)
		io.Copy(c, c)
	}).addr())

	c := connect(t, ln.Addr().String())
	io.WriteString(c, "reset")
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read after the backend reset succeeded")
	}
	eventually(t, "the backend reset to be counted", func() bool { return b.Stats().Errors[balancer.ErrReset] == 1 })

	c2, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	c2.SetDeadline(time.Now().Add(testTimeout))
	io.WriteString(c2, "hello")
	if _, err := io.ReadFull(c2, make([]byte, 5)); err != nil {
		t.Fatal(err)
	}
	c2.(*net.TCPConn).SetLinger(0)
	c2.Close()
	eventually(t, "the client reset to be counted", func() bool { return b.Stats().Errors[balancer.ErrReset] == 2 })
	eventually(t, "both connections to end", func() bool { return b.Backends()[0].Active == 0 })
}

// Drain takes a backend out of rotation and calls done once its last
// connection has ended; Drain of an idle, removed or unknown backend calls
// done at once.
func TestBalancer_TCP_Drain(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: time.Second})
	a := b.Add(1, 1, newTCPBackend(t, idEcho("a")).addr())
	held, _, id := dial(t, ln)
	if id != "a" {
		t.Fatalf("greeting %q", id)
	}
	b.Add(2, 2, newTCPBackend(t, idEcho("b")).addr())
	var done atomic.Int32
	drained := make(chan struct{})
	b.Drain(a, func() {
		if done.Add(1) == 1 {
			close(drained)
		}
	})
	if bs := b.Backends(); len(bs) != 2 || !bs[0].Draining || bs[0].Active != 1 || bs[1].Draining {
		t.Fatalf("Backends while draining: %+v", bs)
	}
	for range 3 {
		c, _, id := dial(t, ln)
		if id != "b" {
			t.Fatalf("a new client went to the draining backend %q", id)
		}
		c.Close()
	}
	if done.Load() != 0 {
		t.Fatal("done called while a connection was open")
	}
	held.Close()
	select {
	case <-drained:
	case <-time.After(testTimeout):
		t.Fatal("done not called after the last connection ended")
	}
	if bs := b.Backends(); len(bs) != 1 || bs[0].Instance != 2 {
		t.Fatalf("Backends after the drain: %+v", bs)
	}
	calledAtOnce := func(what string, be *balancer.Backend) {
		t.Helper()
		called := false
		b.Drain(be, func() { called = true })
		if !called {
			t.Errorf("Drain of %s did not call done at once", what)
		}
	}
	calledAtOnce("a drained backend", a)
	calledAtOnce("an idle backend", b.Add(3, 3, newTCPBackend(t, idEcho("c")).addr()))
	removed := b.Add(4, 4, newTCPBackend(t, idEcho("d")).addr())
	b.Remove(removed)
	calledAtOnce("a removed backend", removed)
	calledAtOnce("nil", nil)
	if done.Load() != 1 {
		t.Errorf("done called %d times", done.Load())
	}
}

// Close ends every connection and stops accepting but leaves the listener
// bound: a new Balancer serves on it.
func TestBalancer_TCP_CloseKeepsListener(t *testing.T) {
	ln := listen(t)
	b := balancer.New(ln, balancer.Options{QueueTimeout: time.Second})
	b.Add(1, 1, newTCPBackend(t, idEcho("old")).addr())
	c, _, _ := dial(t, ln)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("connection still open after Close")
	}
	if err := b.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}

	b2 := balancer.New(ln, balancer.Options{QueueTimeout: time.Second})
	defer b2.Close()
	b2.Add(1, 1, newTCPBackend(t, idEcho("new")).addr())
	if _, _, id := dial(t, ln); id != "new" {
		t.Fatalf("greeting %q", id)
	}
}

// A unix listener works the same, and is left usable by Close.
func TestBalancer_TCP_UnixListener(t *testing.T) {
	path := t.TempDir() + "/proxy.sock"
	ln, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	be := newTCPBackend(t, idEcho("a"))
	for range 2 {
		b := balancer.New(ln, balancer.Options{QueueTimeout: time.Second})
		b.Add(1, 1, be.addr())
		c, err := net.Dial("unix", path)
		if err != nil {
			t.Fatal(err)
		}
		c.SetDeadline(time.Now().Add(testTimeout))
		io.WriteString(c, "over unix\n")
		c.(*net.UnixConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != "a\nover unix\n" {
			t.Fatalf("read %q, %v", got, err)
		}
		if err := b.Close(); err != nil {
			t.Fatal(err)
		}
	}
}

// lockedBuffer is a bytes.Buffer for a logger that writes from the
// Balancer's goroutines.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.String()
}
