package balancer_test

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

// leakConns is how many connections the leak tests make.
const leakConns = 10_000

// openFDs counts this process's open file descriptors.
func openFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// settles waits, bounded, until the goroutine and fd counts are back to
// what they were: the Balancer and the backends have been closed, and
// the garbage collector releases the splice pipes net keeps in a pool.
func settles(t *testing.T, goroutines, fds int) {
	t.Helper()
	var g, f int
	deadline := time.Now().Add(testTimeout)
	for {
		runtime.GC()
		g, f = runtime.NumGoroutine(), openFDs(t)
		if g <= goroutines && f <= fds {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("leak: %d goroutines (were %d), %d fds (were %d)\n%s", g, goroutines, f, fds, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond) // finalizers of pooled pipes run after a GC
	}
}

// Backend commands of the leak tests: the first byte a client sends.
const (
	cmdEcho   = 'e' // echo until the client's end of input
	cmdStream = 's' // send a chunk for every byte read, until the client goes away
	cmdReset  = 'r' // reset the connection
	cmdBig    = 'b' // send 64 KiB and close
)

var bigBody = bytes.Repeat([]byte("0123456789abcdef"), 4<<10)

func leakBackend(c net.Conn) {
	cmd := make([]byte, 1)
	if _, err := io.ReadFull(c, cmd); err != nil {
		return
	}
	switch cmd[0] {
	case cmdEcho:
		io.Copy(c, c)
	case cmdStream:
		for {
			if _, err := io.ReadFull(c, cmd); err != nil {
				return
			}
			if _, err := c.Write(bigBody[:4096]); err != nil {
				return
			}
		}
	case cmdReset:
		c.(*net.TCPConn).SetLinger(0)
	case cmdBig:
		c.Write(bigBody)
	}
}

// leakClient runs connection i of the mix against addr and returns
// whether the balancer should count a reset for it.
func leakClient(t *testing.T, addr string, i int) (reset bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	switch i % 4 {
	case 0: // a normal exchange
		c.Write([]byte{cmdEcho, 'h', 'i'})
		c.(*net.TCPConn).CloseWrite()
		if got, err := io.ReadAll(c); err != nil || string(got) != "hi" {
			t.Errorf("echo: %q, %v", got, err)
		}
		return false
	case 1: // the client goes away mid-stream
		c.Write([]byte{cmdStream, '.'})
		chunk := make([]byte, 4096)
		for range 2 {
			if _, err := io.ReadFull(c, chunk); err != nil {
				t.Errorf("stream: %v", err)
			}
			c.Write([]byte{'.'})
		}
		c.(*net.TCPConn).SetLinger(0)
		return true
	case 2: // the backend resets
		c.Write([]byte{cmdReset})
		io.Copy(io.Discard, c)
		return true
	default: // a slow reader of a large response
		c.Write([]byte{cmdBig})
		buf := make([]byte, 512)
		n := 0
		for {
			k, err := c.Read(buf)
			n += k
			if err != nil {
				break
			}
		}
		if n != len(bigBody) {
			t.Errorf("slow reader got %d bytes, want %d", n, len(bigBody))
		}
		return false
	}
}

// 10,000 connections of every kind leave no goroutine, fd or active count
// behind, and every error is counted exactly.
func TestBalancer_TCP_NoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections")
	}
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := balancer.New(ln, balancer.Options{Component: "api", QueueTimeout: time.Second})
	var backends []*tcpBackend
	for i := range 3 {
		be := newTCPBackend(t, leakBackend)
		backends = append(backends, be)
		b.Add(i, i, be.addr())
	}

	const clients = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	resets := 0
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < leakConns; i += clients {
				if leakClient(t, ln.Addr().String(), i) {
					mu.Lock()
					resets++
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connections in %v", leakConns, time.Since(start))
	eventually(t, "every connection to end", func() bool {
		for _, st := range b.Backends() {
			if st.Active != 0 {
				return false
			}
		}
		return true
	})
	st := b.Stats()
	if st.Connections != leakConns {
		t.Errorf("Connections = %d, want %d", st.Connections, leakConns)
	}
	want := map[string]uint64{balancer.ErrRefused: 0, balancer.ErrReset: uint64(resets), balancer.ErrTimeout: 0, balancer.ErrNoBackend: 0}
	for k, n := range want {
		if st.Errors[k] != n {
			t.Errorf("Errors = %v, want %v", st.Errors, want)
			break
		}
	}

	b.Close()
	ln.Close()
	for _, be := range backends {
		be.close()
	}
	settles(t, goroutines, fds)
}

func leakHTTPBackend(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/echo":
		io.WriteString(w, "hi")
	case "/stream": // one chunk, then open until the request is cancelled
		w.Write(bigBody[:4096])
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	case "/reset":
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	case "/big":
		w.Write(bigBody)
	}
}

// leakHTTPClient runs connection i of the mix (one request on a new
// connection) and returns the status the balancer should count for it
// and whether it should count a reset.
func leakHTTPClient(t *testing.T, addr string, i int) (code int, reset bool) {
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Error(err)
		return 0, false
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(testTimeout))
	r := bufio.NewReader(c)
	do := func(method, path string) *http.Response {
		fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n", method, path)
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Errorf("%s %s: %v", method, path, err)
			return nil
		}
		return res
	}
	switch i % 4 {
	case 0: // a normal request
		if res := do("GET", "/echo"); res != nil {
			if got, err := io.ReadAll(res.Body); err != nil || string(got) != "hi" {
				t.Errorf("echo: %q, %v", got, err)
			}
		}
		return 200, false
	case 1: // the client goes away mid-stream
		if res := do("GET", "/stream"); res != nil {
			if _, err := io.ReadFull(res.Body, make([]byte, 4096)); err != nil {
				t.Errorf("stream: %v", err)
			}
		}
		c.(*net.TCPConn).SetLinger(0)
		return 200, true
	case 2: // the backend resets (a POST is not retried)
		if res := do("POST", "/reset"); res != nil && res.StatusCode != http.StatusBadGateway {
			t.Errorf("reset: status %d", res.StatusCode)
		}
		return 502, true
	default: // a slow reader of a large response
		if res := do("GET", "/big"); res != nil {
			buf := make([]byte, 512)
			n := 0
			for {
				k, err := res.Body.Read(buf)
				n += k
				if err != nil {
					break
				}
			}
			if n != len(bigBody) {
				t.Errorf("slow reader got %d bytes, want %d", n, len(bigBody))
			}
		}
		return 200, false
	}
}

// The same in http mode: 10,000 client connections of every kind.
func TestBalancer_HTTP_NoLeaks(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 connections")
	}
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := balancer.New(ln, balancer.Options{Component: "api", Mode: balancer.ModeHTTP, QueueTimeout: time.Second})
	var backends []*httptest.Server
	for i := range 3 {
		be := httptest.NewServer(http.HandlerFunc(leakHTTPBackend))
		backends = append(backends, be)
		b.Add(i, i, be.Listener.Addr().String())
	}

	const clients = 16
	var wg sync.WaitGroup
	var mu sync.Mutex
	codes := map[string]uint64{}
	var resets uint64
	start := time.Now()
	for w := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < leakConns; i += clients {
				code, reset := leakHTTPClient(t, ln.Addr().String(), i)
				mu.Lock()
				codes[strconv.Itoa(code)]++
				if reset {
					resets++
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connections in %v", leakConns, time.Since(start))
	eventually(t, "every request to end", func() bool {
		for _, st := range b.Backends() {
			if st.Active != 0 {
				return false
			}
		}
		return b.Stats().Errors[balancer.ErrReset] >= resets
	})
	st := b.Stats()
	if st.Connections != leakConns {
		t.Errorf("Connections = %d, want %d", st.Connections, leakConns)
	}
	if !maps.Equal(st.Requests, codes) {
		t.Errorf("Requests = %v, want %v", st.Requests, codes)
	}
	want := map[string]uint64{balancer.ErrRefused: 0, balancer.ErrReset: resets, balancer.ErrTimeout: 0, balancer.ErrNoBackend: 0}
	if !maps.Equal(st.Errors, want) {
		t.Errorf("Errors = %v, want %v", st.Errors, want)
	}

	b.Close()
	ln.Close()
	for _, be := range backends {
		be.Close()
	}
	settles(t, goroutines, fds)
}
