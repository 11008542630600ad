package balancer_test

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

// getOn sends a GET on the open connection c and returns the response's
// status and body.
func getOn(t *testing.T, c net.Conn, r *bufio.Reader) (int, string) {
	t.Helper()
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res.StatusCode, string(body)
}

// An idle keep-alive client connection is parked, and served again on the
// same connection when its client sends the next request: the client
// notices nothing and the connection is counted once.
func TestBalancer_HTTP_ParkedConnectionServesAgain(t *testing.T) {
	goroutines, fds := runtime.NumGoroutine(), openFDs(t)
	defer balancer.SetParkTimes(50*time.Millisecond, time.Minute)()
	ln := listen(t)
	b := balancer.New(ln, httpOpts(time.Second))
	be := newHTTPBackend(t, named("a"))
	b.Add(1, 1, be.addr())
	c := connect(t, ln.Addr().String())
	r := bufio.NewReader(c)
	for i := range 3 {
		if code, body := getOn(t, c, r); code != 200 || body != "a for=127.0.0.1 proto=http host=x" {
			t.Fatalf("request %d: %d %q", i, code, body)
		}
		eventually(t, "the idle connection to be parked", func() bool { return b.Parked() == 1 })
	}
	if code, _ := getOn(t, c, r); code != 200 {
		t.Fatalf("after parking: %d", code)
	}
	if n := b.Parked(); n != 0 {
		t.Errorf("%d parked while serving", n)
	}
	st := b.Stats()
	if st.Connections != 1 || st.Requests["200"] != 4 {
		t.Errorf("Stats %+v, want 1 connection, 4 × 200", st)
	}

	// The client closes a parked connection: it is let go.
	eventually(t, "the idle connection to be parked", func() bool { return b.Parked() == 1 })
	c.Close()
	eventually(t, "the closed connection to be let go", func() bool { return b.Parked() == 0 })

	// Close closes parked connections.
	c2 := connect(t, ln.Addr().String())
	r2 := bufio.NewReader(c2)
	if code, _ := getOn(t, c2, r2); code != 200 {
		t.Fatalf("second client: %d", code)
	}
	eventually(t, "the idle connection to be parked", func() bool { return b.Parked() == 1 })
	b.Close()
	c2.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := r2.ReadByte(); err != io.EOF {
		t.Errorf("parked connection after Close: %v, want EOF", err)
	}
	c2.Close()
	ln.Close()
	be.Close()
	settles(t, goroutines, fds)
}

// A parked connection idle for the idle timeout in all is closed.
func TestBalancer_HTTP_ParkedConnectionTimesOut(t *testing.T) {
	defer balancer.SetParkTimes(20*time.Millisecond, 300*time.Millisecond)()
	b, ln := newBalancer(t, httpOpts(time.Second))
	b.Add(1, 1, newHTTPBackend(t, named("a")).addr())
	c := connect(t, ln.Addr().String())
	r := bufio.NewReader(c)
	// Before the request: the server's idle time starts after it, so
	// however late this goroutine runs, the close comes 300 ms after this.
	idle := time.Now()
	if code, _ := getOn(t, c, r); code != 200 {
		t.Fatalf("status %d", code)
	}
	eventually(t, "the idle connection to be parked", func() bool { return b.Parked() == 1 })
	c.SetReadDeadline(time.Now().Add(testTimeout))
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("idle connection: %v, want EOF", err)
	}
	if d := time.Since(idle); d < 300*time.Millisecond {
		t.Errorf("closed after %v idle, want 300 ms", d)
	}
	if n := b.Parked(); n != 0 {
		t.Errorf("%d still parked", n)
	}
}

// A client that sent the start of its next request with the previous one
// and then paused has those bytes in the server's buffer: its connection
// is not parked (the bytes would be lost and the rest of the request
// answered 400) but closed at the server's idle timeout, unanswered, as
// net/http closes it.
func TestBalancer_HTTP_PartialNextRequestNotParked(t *testing.T) {
	t.Cleanup(balancer.SetParkTimes(20*time.Millisecond, time.Minute)) // after the Balancer's Close
	b, ln := newBalancer(t, httpOpts(time.Second))
	b.Add(1, 1, newHTTPBackend(t, named("a")).addr())
	c := connect(t, ln.Addr().String())
	if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\nGE"); err != nil {
		t.Fatal(err)
	}
	r := bufio.NewReader(c)
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := io.Copy(io.Discard, res.Body); err != nil || res.StatusCode != 200 {
		t.Fatalf("first request: %d, %v", res.StatusCode, err)
	}
	closed := make(chan error, 1) // the reader ends at the latest when the test closes c
	go func() {
		_, err := r.ReadByte()
		closed <- err
	}()
	var readErr error
	eventually(t, "the connection to be parked or closed", func() bool {
		select {
		case readErr = <-closed:
			return true
		default:
			return b.Parked() > 0
		}
	})
	if n := b.Parked(); n > 0 {
		t.Fatalf("parked with the start of its next request in the server's buffer (%d parked)", n)
	}
	if readErr != io.EOF {
		t.Fatalf("after the idle timeout: %v, want EOF", readErr)
	}
}
