package simulate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// hammerResult counts what a hammer saw.
type hammerResult struct {
	ok       atomic.Int64 // connected and got 200
	refused  atomic.Int64 // never connected: fine once the listener is gone
	mu       sync.Mutex
	failures []string // connected, then no 200: a dropped request
}

func (r *hammerResult) fail(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.failures = append(r.failures, fmt.Sprintf(format, args...))
}

// hammer sends GET / on fresh connections from n goroutines until a dial
// fails (the server is gone) or stop closes. It returns when all are done.
func hammer(addr string, n int, stop <-chan struct{}, r *hammerResult) {
	var wg sync.WaitGroup
	for range n {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if !oneRequest(addr, r) {
					return
				}
			}
		})
	}
	wg.Wait()
}

// oneRequest reports whether the connection was established.
func oneRequest(addr string, r *hammerResult) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		r.refused.Add(1)
		return false
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
		r.fail("write: %v", err)
		return true
	}
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		r.fail("read: %v", err)
		return true
	}
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		r.fail("status %d", resp.StatusCode)
	}
	r.ok.Add(1)
	return true
}

func TestServer_Shutdown_AnswersEveryAcceptedConnection(t *testing.T) {
	for round := range 3 {
		ln, err := Listen("127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := NewServer(ln, healthHandler(new(atomic.Int64)))
		serveErr := make(chan error, 1)
		go func() { serveErr <- srv.Serve() }()

		var res hammerResult
		stop := make(chan struct{})
		hammered := make(chan struct{})
		go func() {
			hammer(srv.Addr().String(), 8, stop, &res)
			close(hammered)
		}()
		deadline := time.Now().Add(10 * time.Second)
		for res.ok.Load() < 200 && time.Now().Before(deadline) {
			time.Sleep(time.Millisecond) // waiting for load to build up, not a sync point
		}
		okBefore := res.ok.Load()
		if err := srv.Shutdown(context.Background()); err != nil {
			t.Fatalf("round %d: shutdown: %v", round, err)
		}
		if err := <-serveErr; err != nil {
			t.Fatalf("round %d: serve: %v", round, err)
		}
		select {
		case <-hammered:
		case <-time.After(15 * time.Second):
			close(stop)
			<-hammered
		}
		if len(res.failures) > 0 {
			t.Fatalf("round %d: %d requests on accepted connections failed, e.g. %s (ok=%d)",
				round, len(res.failures), res.failures[0], res.ok.Load())
		}
		if res.ok.Load() <= okBefore && okBefore == 0 {
			t.Fatalf("round %d: no request succeeded", round)
		}
		t.Logf("round %d: ok=%d (during shutdown %d) refused=%d", round, res.ok.Load(), res.ok.Load()-okBefore, res.refused.Load())
	}
}

// serveAndDial starts a test server on loopback and opens one connection
// to it, closed when the test ends.
func serveAndDial(t *testing.T) (*Server, net.Conn) {
	t.Helper()
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln, healthHandler(new(atomic.Int64)))
	go func() { _ = srv.Serve() }()
	c, err := net.Dial("tcp", srv.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return srv, c
}

func TestServer_Shutdown_ServesIdleConnectionWithinGrace(t *testing.T) {
	srv, c := serveAndDial(t)
	// c: a keep-alive connection that is about to make one request.
	br := bufio.NewReader(c)
	get := func() *http.Response {
		t.Helper()
		if _, err := c.Write([]byte("GET / HTTP/1.1\r\nHost: test\r\n\r\n")); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		_ = resp.Body.Close()
		return resp
	}
	if r := get(); r.Close {
		t.Fatal("first response closes the connection")
	}
	done := make(chan error, 1)
	go func() { done <- srv.Shutdown(context.Background()) }()
	// Wait until shutdown has begun, then send within the grace window.
	deadline := time.Now().Add(5 * time.Second)
	for !srv.shutting.Load() && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	r := get()
	if r.StatusCode != http.StatusOK || !r.Close {
		t.Fatalf("during shutdown: status %d close %v, want 200 with Connection: close", r.StatusCode, r.Close)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestServer_Shutdown_ClosesSilentConnection(t *testing.T) {
	srv, c := serveAndDial(t)
	// Wait until the server tracks the connection.
	deadline := time.Now().Add(5 * time.Second)
	for {
		srv.mu.Lock()
		n := len(srv.conns)
		srv.mu.Unlock()
		if n == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("connection never tracked")
		}
		time.Sleep(time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < newGrace {
		t.Errorf("silent new connection closed after %s, before its grace %s", d, newGrace)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("read succeeded on a connection the server closed")
	}
}

func TestServer_Shutdown_BeforeServe(t *testing.T) {
	ln, err := Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := NewServer(ln, http.NotFoundHandler())
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := srv.Serve(); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", srv.Addr().String()); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("dial after shutdown: %v, want connection refused", err)
	}
}
