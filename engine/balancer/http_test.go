package balancer_test

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

// httpBackend is an httptest server that counts its open connections.
type httpBackend struct {
	*httptest.Server
	open atomic.Int32
}

func newHTTPBackend(t testing.TB, h http.HandlerFunc) *httpBackend {
	t.Helper()
	s := &httpBackend{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			s.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.open.Add(-1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s
}

func (s *httpBackend) addr() string { return s.Listener.Addr().String() }

// named answers with its name and echoes the forwarding headers it got.
func named(name string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", name)
		fmt.Fprintf(w, "%s for=%s proto=%s host=%s", name, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"))
	}
}

// client is an http.Client with one connection at most to the balancer.
func client(t testing.TB) *http.Client {
	tr := &http.Transport{MaxConnsPerHost: 1, DisableCompression: true}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: testTimeout}
}

// get fetches url and returns the status, the X-Backend header and the body.
func get(t testing.TB, c *http.Client, method, url string, body io.Reader) (int, string, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer res.Body.Close()
	data, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, url, err)
	}
	return res.StatusCode, res.Header.Get("X-Backend"), string(data)
}

func httpOpts(queue time.Duration) balancer.Options {
	return balancer.Options{Component: "api", Mode: balancer.ModeHTTP, QueueTimeout: queue}
}

// Requests take turns over idle backends, carry X-Forwarded-*, and are
// counted by status and in the duration histogram.
func TestBalancer_HTTP_Proxy(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	for i, n := range []string{"a", "b", "c"} {
		b.Add(i, i, newHTTPBackend(t, named(n)).addr())
	}
	c := client(t)
	url := "http://" + ln.Addr().String() + "/x"
	seen := map[string]int{}
	for range 9 {
		code, be, body := get(t, c, "GET", url, nil)
		if code != 200 {
			t.Fatalf("status %d", code)
		}
		if want := be + " for=127.0.0.1 proto=http host=" + ln.Addr().String(); body != want {
			t.Fatalf("body %q, want %q", body, want)
		}
		seen[be]++
	}
	if seen["a"] != 3 || seen["b"] != 3 || seen["c"] != 3 {
		t.Errorf("9 requests: %v, want 3 each", seen)
	}
	st := b.Stats()
	if st.Connections != 1 || st.Requests["200"] != 9 || len(st.Requests) != 1 {
		t.Errorf("Stats = %+v, want 1 connection, 9 × 200", st)
	}
	var m bytes.Buffer
	b.WriteMetrics(&m)
	if !strings.Contains(m.String(), `thorp_proxy_request_duration_seconds_count{component="api"} 9`+"\n") ||
		strings.Contains(m.String(), "# ") {
		t.Errorf("WriteMetrics:\n%s", m.String())
	}
	for _, bs := range b.Backends() {
		if bs.Active != 0 {
			t.Errorf("backend %+v still active", bs)
		}
	}

	tb, _ := newBalancer(t, balancer.Options{QueueTimeout: time.Second})
	m.Reset()
	tb.WriteMetrics(&m)
	if m.Len() != 0 {
		t.Errorf("tcp mode WriteMetrics wrote %q", m.String())
	}
}

// One keep-alive client connection survives a backend swap: B is added,
// A drained (its idle connections closed), and the requests on the same
// connection reach B.
func TestBalancer_HTTP_KeepAliveSurvivesSwap(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	a := newHTTPBackend(t, named("a"))
	beA := b.Add(1, 1, a.addr())
	c := client(t)
	url := "http://" + ln.Addr().String() + "/"
	if _, be, _ := get(t, c, "GET", url, nil); be != "a" {
		t.Fatalf("first request went to %q", be)
	}
	b.Add(2, 2, newHTTPBackend(t, named("b")).addr())
	drained := make(chan struct{})
	b.Drain(beA, func() { close(drained) })
	select {
	case <-drained:
	default:
		t.Fatal("Drain of an idle backend did not call done at once")
	}
	eventually(t, "A's idle keep-alive connection to close", func() bool { return a.open.Load() == 0 })
	for range 5 {
		if code, be, _ := get(t, c, "GET", url, nil); code != 200 || be != "b" {
			t.Fatalf("after the swap: %d from %q", code, be)
		}
	}
	if n := b.Stats().Connections; n != 1 {
		t.Errorf("the client opened %d connections, want 1", n)
	}
}

// A draining backend keeps its request in flight (a streaming response)
// until the body ends; done comes then, and new requests go elsewhere.
func TestBalancer_HTTP_DrainWaitsForStream(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	release := make(chan struct{})
	a := newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", "a")
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-release
		io.WriteString(w, "last\n")
	})
	beA := b.Add(1, 1, a.addr())
	url := "http://" + ln.Addr().String() + "/"
	res, err := client(t).Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	r := bufio.NewReader(res.Body)
	if line, err := r.ReadString('\n'); line != "first\n" {
		t.Fatalf("stream: %q, %v", line, err)
	}
	b.Add(2, 2, newHTTPBackend(t, named("b")).addr())
	var calls atomic.Int32
	drained := make(chan struct{})
	b.Drain(beA, func() {
		calls.Add(1)
		close(drained)
	})
	if code, be, _ := get(t, client(t), "GET", url, nil); code != 200 || be != "b" {
		t.Fatalf("during the drain: %d from %q", code, be)
	}
	if bs := b.Backends(); len(bs) != 2 || !bs[0].Draining || bs[0].Active != 1 {
		t.Fatalf("Backends during the drain: %+v", bs)
	}
	if calls.Load() != 0 {
		t.Fatal("done called with a response streaming")
	}
	close(release)
	if rest, err := io.ReadAll(r); err != nil || string(rest) != "last\n" {
		t.Fatalf("rest of the stream: %q, %v", rest, err)
	}
	select {
	case <-drained:
	case <-time.After(testTimeout):
		t.Fatal("done not called after the stream ended")
	}
	eventually(t, "A's keep-alive connection to close", func() bool { return a.open.Load() == 0 })
	if calls.Load() != 1 {
		t.Errorf("done called %d times", calls.Load())
	}
}

// Requests that fail before any response are retried on another backend:
// every request when the backend refuses the connection, idempotent ones
// when it drops the connection; others get 502.
func TestBalancer_HTTP_Retry(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	dead := listen(t)
	dead.Close()
	b.Add(1, 1, dead.Addr().String())
	dropper := newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		conn, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			conn.(*net.TCPConn).SetLinger(0)
			conn.Close()
		}
	})
	b.Add(2, 2, dropper.addr())
	b.Add(3, 3, newHTTPBackend(t, named("ok")).addr())
	c := client(t)
	url := "http://" + ln.Addr().String() + "/"
	for range 6 {
		if code, be, _ := get(t, c, "GET", url, nil); code != 200 || be != "ok" {
			t.Fatalf("GET: %d from %q", code, be)
		}
	}
	st := b.Stats()
	if st.Errors[balancer.ErrRefused] == 0 || st.Errors[balancer.ErrReset] == 0 {
		t.Errorf("errors %v: want the refusals and the drops counted", st.Errors)
	}
	if st.Requests["200"] != 6 || len(st.Requests) != 1 {
		t.Errorf("Requests %v", st.Requests)
	}

	// A POST with a body is retried only past a refusal.
	b2, ln2 := newBalancer(t, httpOpts(time.Second))
	b2.Add(1, 1, dead.Addr().String())
	b2.Add(2, 2, newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		data, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Backend", "ok")
		w.Write(data)
	}).addr())
	for range 2 {
		if code, _, body := get(t, c, "POST", "http://"+ln2.Addr().String()+"/", strings.NewReader("payload")); code != 200 || body != "payload" {
			t.Fatalf("POST past a refusal: %d %q", code, body)
		}
	}
	b3, ln3 := newBalancer(t, httpOpts(time.Second))
	b3.Add(1, 1, dropper.addr())
	if code, _, _ := get(t, c, "POST", "http://"+ln3.Addr().String()+"/", strings.NewReader("payload")); code != http.StatusBadGateway {
		t.Fatalf("POST to a dropping backend: %d, want 502", code)
	}
	if n := b3.Stats().Requests["502"]; n != 1 {
		t.Errorf("Requests %v, want one 502", b3.Stats().Requests)
	}
}

// With no backend in rotation a request waits for an Add, or is answered
// 503 after QueueTimeout.
func TestBalancer_HTTP_Queue(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(20*time.Millisecond))
	c := client(t)
	url := "http://" + ln.Addr().String() + "/"
	if code, _, _ := get(t, c, "GET", url, nil); code != http.StatusServiceUnavailable {
		t.Fatalf("no backend: %d, want 503", code)
	}
	st := b.Stats()
	if st.Requests["503"] != 1 || st.Errors[balancer.ErrNoBackend] != 1 {
		t.Errorf("Stats %+v", st)
	}

	b.SetQueueTimeout(testTimeout)
	type result struct {
		code int
		be   string
	}
	done := make(chan result, 1)
	go func() {
		code, be, _ := get(t, c, "GET", url, nil)
		done <- result{code, be}
	}()
	eventually(t, "the request to wait", func() bool { return b.Stats().Connections == 1 })
	b.Add(1, 1, newHTTPBackend(t, named("late")).addr())
	if r := <-done; r.code != 200 || r.be != "late" {
		t.Fatalf("queued request: %+v", r)
	}
}

// A WebSocket-style upgrade passes through and counts as active until the
// upgraded connection ends.
func TestBalancer_HTTP_Upgrade(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	b.Add(1, 1, newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "upgrade required", http.StatusUpgradeRequired)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		io.WriteString(brw, "HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		brw.Flush()
		io.Copy(conn, brw)
	}).addr())

	c := connect(t, ln.Addr().String())
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	r := bufio.NewReader(c)
	res, err := http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", res, err)
	}
	for _, msg := range []string{"ping\n", "pong\n"} {
		io.WriteString(c, msg)
		if line, err := r.ReadString('\n'); line != msg {
			t.Fatalf("over the upgraded connection: %q, %v", line, err)
		}
	}
	if bs := b.Backends(); bs[0].Active != 1 {
		t.Errorf("upgraded connection not active: %+v", bs)
	}
	c.Close()
	eventually(t, "the upgraded connection to end", func() bool { return b.Backends()[0].Active == 0 })
	if n := b.Stats().Requests["101"]; n != 1 {
		t.Errorf("Requests %v, want one 101", b.Stats().Requests)
	}

	// Close ends an upgraded connection too.
	c2 := connect(t, ln.Addr().String())
	io.WriteString(c2, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
	r2 := bufio.NewReader(c2)
	if res, err := http.ReadResponse(r2, nil); err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: %v, %v", res, err)
	}
	b.Close()
	if _, err := r2.ReadString('\n'); err == nil {
		t.Error("upgraded connection still open after Close")
	}
}

// Close ends the client connections, upgraded ones too, and a new
// Balancer serves on the same listener.
func TestBalancer_HTTP_CloseKeepsListener(t *testing.T) {
	ln := listen(t)
	b := balancer.New(ln, httpOpts(time.Second))
	hold := make(chan struct{})
	defer close(hold)
	b.Add(1, 1, newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.(http.Flusher).Flush()
		<-hold
	}).addr())
	res, err := client(t).Get("http://" + ln.Addr().String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadAll(res.Body); err == nil {
		t.Error("response still open after Close")
	}

	b2 := balancer.New(ln, httpOpts(time.Second))
	defer b2.Close()
	b2.Add(1, 1, newHTTPBackend(t, named("new")).addr())
	if code, be, _ := get(t, client(t), "GET", "http://"+ln.Addr().String()+"/", nil); code != 200 || be != "new" {
		t.Fatalf("after the takeover: %d from %q", code, be)
	}
}

// countingBackend is an httpBackend that also counts the connections it
// accepted.
func countingBackend(t testing.TB, h http.HandlerFunc) (*httpBackend, *atomic.Int32) {
	t.Helper()
	var accepted atomic.Int32
	s := &httpBackend{Server: httptest.NewUnstartedServer(h)}
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		switch st {
		case http.StateNew:
			accepted.Add(1)
			s.open.Add(1)
		case http.StateClosed, http.StateHijacked:
			s.open.Add(-1)
		}
	}
	s.Start()
	t.Cleanup(s.Close)
	return s, &accepted
}

// Requests without a body share one keep-alive connection to the backend
// (HEAD and 204 responses too); a connection the backend closed while it
// was idle is noticed before a request is sent on it, so even a POST
// (never sent twice) gets through; a response with Connection: close
// ends its connection.
func TestBalancer_HTTP_BackendConnections(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	be, accepted := countingBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Backend", "a")
		switch r.URL.Path {
		case "/empty":
			w.WriteHeader(http.StatusNoContent)
		case "/close":
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		default:
			io.WriteString(w, r.Method)
		}
	})
	b.Add(1, 1, be.addr())
	c := client(t)
	url := "http://" + ln.Addr().String()
	for _, req := range [][2]string{{"GET", "/"}, {"HEAD", "/"}, {"GET", "/empty"}, {"POST", "/"}, {"GET", "/"}} {
		code, _, body := get(t, c, req[0], url+req[1], nil)
		if want := map[string]string{"GET": "GET", "POST": "POST"}[req[0]]; req[1] == "/" && body != want {
			t.Fatalf("%s %s: %d %q", req[0], req[1], code, body)
		}
	}
	if n := accepted.Load(); n != 1 {
		t.Fatalf("5 requests in turn opened %d backend connections, want 1", n)
	}

	be.CloseClientConnections() // the backend ends the idle connection
	eventually(t, "the backend to close its side", func() bool { return be.open.Load() == 0 })
	for _, method := range []string{"POST", "GET"} {
		if code, _, body := get(t, c, method, url+"/", nil); code != 200 || body != method {
			t.Fatalf("%s after the backend closed the idle connection: %d %q", method, code, body)
		}
	}
	if n := accepted.Load(); n != 2 {
		t.Errorf("%d backend connections after the backend closed one, want 2", n)
	}

	if code, _, body := get(t, c, "GET", url+"/close", nil); code != 200 || body != "bye" {
		t.Fatalf("GET /close: %d %q", code, body)
	}
	eventually(t, "the closed connection to end", func() bool { return be.open.Load() == 0 })
	if code, _, _ := get(t, c, "GET", url+"/", nil); code != 200 {
		t.Fatalf("GET after Connection: close: %d", code)
	}
	st := b.Stats()
	if st.Errors[balancer.ErrReset] != 0 || st.Requests["200"] != 8 || st.Requests["204"] != 1 {
		t.Errorf("Stats %+v", st)
	}
}

// Informational responses (103 Early Hints) reach the client before the
// final response.
func TestBalancer_HTTP_EarlyHints(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	b.Add(1, 1, newHTTPBackend(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		io.WriteString(w, "final")
	}).addr())
	c := connect(t, ln.Addr().String())
	io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
	r := bufio.NewReader(c)
	res, err := http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != http.StatusEarlyHints || res.Header.Get("Link") == "" {
		t.Fatalf("first response: %+v, %v", res, err)
	}
	res, err = http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("final response: %+v, %v", res, err)
	}
	if body, err := io.ReadAll(io.LimitReader(res.Body, 5)); string(body) != "final" {
		t.Fatalf("body %q, %v", body, err)
	}
}

// An idle connection to a backend is closed after a few seconds, before
// a backend with a short keep-alive (Node.js: 5 s) would close it.
func TestBalancer_HTTP_IdleBackendConnectionExpires(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(time.Second))
	be := newHTTPBackend(t, named("a"))
	b.Add(1, 1, be.addr())
	if code, _, _ := get(t, client(t), "GET", "http://"+ln.Addr().String()+"/", nil); code != 200 {
		t.Fatalf("status %d", code)
	}
	start := time.Now()
	eventually(t, "the idle backend connection to close", func() bool { return be.open.Load() == 0 })
	if d := time.Since(start); d < 3500*time.Millisecond {
		t.Errorf("idle backend connection closed after %v, want 4 s", d)
	}
}

// A backend whose response header never ends gets the client a 502 once
// the header has run past 10 MiB, and its connection is closed: thorp's
// memory does not grow with what the backend sends.
func TestBalancer_HTTP_EndlessResponseHeader(t *testing.T) {
	bl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { bl.Close() })
	sent := make(chan int64, 1)
	go func() { // owner: the test, which reads sent
		c, err := bl.Accept()
		if err != nil {
			sent <- -1
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(30 * time.Second))
		var req [4096]byte
		c.Read(req[:]) // the request; its content does not matter here
		line := []byte("X-Filler: " + strings.Repeat("a", 1000) + "\r\n")
		n, err := c.Write([]byte("HTTP/1.1 200 OK\r\n"))
		total := int64(n)
		for err == nil && total < 64<<20 { // bounded: 64 MiB at most
			n, err = c.Write(line)
			total += int64(n)
		}
		sent <- total
	}()
	b, ln := newBalancer(t, httpOpts(time.Second))
	b.Add(1, 1, bl.Addr().String())
	code, _, _ := get(t, client(t), "GET", "http://"+ln.Addr().String()+"/", nil)
	if code != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", code)
	}
	select {
	case total := <-sent:
		if total < 10<<20 || total >= 64<<20 {
			t.Fatalf("the backend wrote %d bytes before its connection closed, want past 10 MiB and well before 64 MiB", total)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the backend's connection was not closed")
	}
}

// A backend connection is not kept for another request after a response
// with Connection: close (even when the backend leaves its socket open)
// nor after a response whose client left before its body ended: thorp
// closes it, and the next request goes on a new connection.
func TestBalancer_HTTP_BackendConnectionNotReused(t *testing.T) {
	after := make(chan string, 4) // per ended connection: what came after its response
	be := newTCPBackend(t, func(c net.Conn) {
		c.SetDeadline(time.Now().Add(testTimeout))
		r := bufio.NewReader(c)
		for {
			req, err := http.ReadRequest(r)
			if err != nil {
				return
			}
			switch req.URL.Path {
			case "/close":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 3\r\n\r\nbye")
			case "/partial":
				// More than the server's buffer, so that the client gets
				// the header; the rest of the megabyte never comes.
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n"+strings.Repeat("a", 64<<10))
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				continue
			}
			// The socket stays open: thorp must close it.
			switch next, err := http.ReadRequest(r); {
			case errors.Is(err, os.ErrDeadlineExceeded):
				after <- "left open"
			case err != nil:
				after <- "closed"
			default:
				after <- "reused for " + next.URL.Path
			}
			return
		}
	})
	b, ln := newBalancer(t, httpOpts(time.Second))
	b.Add(1, 1, be.addr())

	c := connect(t, ln.Addr().String())
	r := bufio.NewReader(c)
	getPath := func(path string) (int, string) {
		t.Helper()
		if _, err := io.WriteString(c, "GET "+path+" HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(body)
	}
	if code, body := getPath("/close"); code != 200 || body != "bye" {
		t.Fatalf("GET /close: %d %q", code, body)
	}
	if code, body := getPath("/"); code != 200 || body != "ok" {
		t.Fatalf("GET / after Connection: close: %d %q", code, body)
	}
	if got := <-after; got != "closed" {
		t.Fatalf("the backend connection that answered Connection: close was %s", got)
	}

	// A client leaves in the middle of a body.
	c2 := connect(t, ln.Addr().String())
	io.WriteString(c2, "GET /partial HTTP/1.1\r\nHost: x\r\n\r\n")
	if res, err := http.ReadResponse(bufio.NewReader(c2), nil); err != nil || res.StatusCode != 200 {
		t.Fatalf("GET /partial: %v, %v", res, err)
	}
	c2.Close()
	eventually(t, "the cut request to end", func() bool { return b.Backends()[0].Active == 0 })
	if code, body := getPath("/"); code != 200 || body != "ok" {
		t.Fatalf("GET / after a client left mid-body: %d %q", code, body)
	}
	if got := <-after; got != "closed" {
		t.Fatalf("the backend connection whose body was cut short was %s", got)
	}
}
