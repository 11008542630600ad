package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

// fakeSource is a Source whose statuses the test sets.
type fakeSource struct {
	mu  sync.Mutex
	sts []engine.Status
}

func (f *fakeSource) Status() []engine.Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.sts)
}

func (f *fakeSource) Describe(name string) (engine.Detail, error) {
	for _, st := range f.Status() {
		if st.Name == name {
			return engine.Detail{Status: st}, nil
		}
	}
	return engine.Detail{}, fmt.Errorf("%w %q", engine.ErrUnknownComponent, name)
}

func (f *fakeSource) set(sts ...engine.Status) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.sts = sts
}

// reloadSource adds ReloadInfo to a fakeSource.
type reloadSource struct {
	*fakeSource
	ok bool
	at time.Time
}

func (r reloadSource) LastReload() (bool, time.Time) { return r.ok, r.at }

func comp(name string, state engine.State) engine.Status {
	st := engine.Status{
		Name:             name,
		State:            state,
		Healthy:          state != engine.StateErrored,
		RestartsByReason: map[string]int{},
		Logs: []engine.LogStatus{
			{Stream: "out", Bytes: 100, Rotations: 1},
			{Stream: "err", Bytes: 7, DroppedBytes: 3},
		},
	}
	if state == engine.StateRunning {
		st.PID = 1000 + len(name)
		st.UptimeSeconds = 12.5
		st.MemoryBytes = 64 << 20
	}
	return st
}

// startServer serves src on 127.0.0.1:0 until the test ends.
func startServer(t *testing.T, src Source, opts Options) (*Server, string) {
	t.Helper()
	if opts.Addr == "" {
		opts.Addr = "127.0.0.1:0"
	}
	s := New(src, opts)
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("Serve did not return after Close")
		}
	})
	return s, "http://" + s.Addr()
}

// do sends a request and returns the status, the body and the response.
func do(t *testing.T, method, url string, body io.Reader, hdr ...string) (int, []byte, *http.Response) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b, resp
}

// wantJSONError checks a JSON {"error": ...} body.
func wantJSONError(t *testing.T, resp *http.Response, body []byte) string {
	t.Helper()
	if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q, want application/json", ct)
	}
	var e struct {
		Error string `json:"error"`
	}
	if err := json.Unmarshal(body, &e); err != nil || e.Error == "" {
		t.Fatalf("want a JSON error body, got %q (%v)", body, err)
	}
	return e.Error
}

func TestHealthOf(t *testing.T) {
	tests := []struct {
		state   engine.State
		healthy bool
		want    string
	}{
		{engine.StateRunning, true, StatusHealthy},
		{engine.StateStopped, true, StatusHealthy},
		{engine.StateStarting, true, StatusDegraded},
		{engine.StateBackoff, true, StatusDegraded},
		{engine.StateStopping, true, StatusDegraded},
		{engine.StateErrored, false, StatusUnhealthy},
		{engine.StateErrored, true, StatusUnhealthy},
		{engine.StateRunning, false, StatusUnhealthy},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s-%v", tt.state, tt.healthy), func(t *testing.T) {
			if got := healthOf(engine.Status{State: tt.state, Healthy: tt.healthy}); got != tt.want {
				t.Errorf("healthOf(%s, healthy=%v) = %s, want %s", tt.state, tt.healthy, got, tt.want)
			}
		})
	}
}

func TestServer_Health_Transitions(t *testing.T) {
	src := &fakeSource{}
	_, base := startServer(t, src, Options{Started: time.Now().Add(-time.Minute)})
	steps := []struct {
		name string
		sts  []engine.Status
		code int
		want string
	}{
		{"healthy", []engine.Status{comp("api", engine.StateRunning), comp("batch", engine.StateStopped)}, 200, StatusHealthy},
		{"degraded", []engine.Status{comp("api", engine.StateBackoff), comp("batch", engine.StateStopped)}, 200, StatusDegraded},
		{"unhealthy", []engine.Status{comp("api", engine.StateErrored), comp("batch", engine.StateStarting)}, 503, StatusUnhealthy},
		{"healthy-again", []engine.Status{comp("api", engine.StateRunning), comp("batch", engine.StateRunning)}, 200, StatusHealthy},
		{"failing-check", []engine.Status{func() engine.Status { s := comp("api", engine.StateRunning); s.Healthy = false; return s }()}, 503, StatusUnhealthy},
		{"no-components", nil, 200, StatusHealthy},
	}
	for _, st := range steps {
		src.set(st.sts...)
		code, body, _ := do(t, "GET", base+"/health", nil)
		if code != st.code {
			t.Fatalf("%s: status %d, want %d; body %s", st.name, code, st.code, body)
		}
		var rep struct {
			Status        string           `json:"status"`
			UptimeSeconds float64          `json:"uptime_seconds"`
			MemoryBytes   int64            `json:"memory_bytes"`
			Components    []map[string]any `json:"components"`
		}
		if err := json.Unmarshal(body, &rep); err != nil {
			t.Fatalf("%s: %v in %s", st.name, err, body)
		}
		if rep.Status != st.want {
			t.Errorf("%s: status %q, want %q", st.name, rep.Status, st.want)
		}
		if rep.UptimeSeconds < 59 || rep.MemoryBytes <= 0 {
			t.Errorf("%s: uptime %v memory %v: want thorp's own uptime and RSS", st.name, rep.UptimeSeconds, rep.MemoryBytes)
		}
		if len(rep.Components) != len(st.sts) {
			t.Fatalf("%s: %d components, want %d", st.name, len(rep.Components), len(st.sts))
		}
		for i, c := range rep.Components {
			keys := make([]string, 0, len(c))
			for k := range c {
				keys = append(keys, k)
			}
			slices.Sort(keys)
			want := []string{"healthy", "memory_bytes", "name", "pid", "restarts", "state", "uptime_seconds"}
			if !slices.Equal(keys, want) {
				t.Errorf("%s: component keys %v, want %v", st.name, keys, want)
			}
			if c["name"] != st.sts[i].Name || c["state"] != string(st.sts[i].State) || int(c["pid"].(float64)) != st.sts[i].PID {
				t.Errorf("%s: component %v does not match %+v", st.name, c, st.sts[i])
			}
		}
	}
}

func TestServer_HealthName(t *testing.T) {
	src := &fakeSource{}
	src.set(comp("api", engine.StateRunning), comp("worker", engine.StateErrored), comp("cache", engine.StateStarting))
	_, base := startServer(t, src, Options{})
	tests := []struct {
		name   string
		code   int
		status string
	}{
		{"api", 200, StatusHealthy},
		{"worker", 503, StatusUnhealthy},
		{"cache", 200, StatusDegraded},
	}
	for _, tt := range tests {
		code, body, _ := do(t, "GET", base+"/health/"+tt.name, nil)
		if code != tt.code {
			t.Fatalf("%s: status %d, want %d: %s", tt.name, code, tt.code, body)
		}
		var got componentHealth
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatal(err)
		}
		if got.Name != tt.name || got.Status != tt.status {
			t.Errorf("%s: got %+v, want status %s", tt.name, got, tt.status)
		}
	}
	code, body, resp := do(t, "GET", base+"/health/nope", nil)
	if code != http.StatusNotFound {
		t.Fatalf("unknown name: status %d, want 404: %s", code, body)
	}
	if msg := wantJSONError(t, resp, body); !strings.Contains(msg, "nope") {
		t.Errorf("error %q does not name the component", msg)
	}
}

func TestServer_Routes_BadInput(t *testing.T) {
	src := &fakeSource{}
	src.set(comp("api", engine.StateRunning))
	_, base := startServer(t, src, Options{API: http.NotFoundHandler()})
	tests := []struct {
		method, path string
		body         io.Reader
		code         int
	}{
		{"POST", "/health", nil, http.StatusMethodNotAllowed},
		{"DELETE", "/health/api", nil, http.StatusMethodNotAllowed},
		{"PUT", "/metrics", strings.NewReader("x"), http.StatusMethodNotAllowed},
		{"DELETE", "/api/v1/components/api", nil, http.StatusMethodNotAllowed},
		{"GET", "/nowhere", nil, http.StatusNotFound},
		{"GET", "/health/a/b", nil, http.StatusNotFound},
		{"POST", "/api/v1/components/api/restart", bytes.NewReader(make([]byte, MaxBodyBytes+1)), http.StatusRequestEntityTooLarge},
		{"PUT", "/metrics", bytes.NewReader(make([]byte, 2*MaxBodyBytes)), http.StatusRequestEntityTooLarge},
	}
	for _, tt := range tests {
		code, body, resp := do(t, tt.method, base+tt.path, tt.body)
		if code != tt.code {
			t.Errorf("%s %s: status %d, want %d: %s", tt.method, tt.path, code, tt.code, body)
			continue
		}
		wantJSONError(t, resp, body)
		if code == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
			t.Errorf("%s %s: 405 without Allow", tt.method, tt.path)
		}
	}
	// A malformed request line gets a 4xx from net/http, and the server lives on.
	c, err := net.Dial("tcp", strings.TrimPrefix(base, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GARBAGE\r\n\r\n")
	line, _ := io.ReadAll(io.LimitReader(c, 12))
	c.Close()
	if !strings.HasPrefix(string(line), "HTTP/1.1 4") {
		t.Errorf("malformed request: got %q, want a 4xx", line)
	}
	if code, _, _ := do(t, "GET", base+"/health", nil); code != 200 {
		t.Errorf("after a malformed request /health is %d", code)
	}
}

// recordingAPI stands in for the mutable api.Handler.
type recordingAPI struct {
	mu    sync.Mutex
	calls []string
}

func (a *recordingAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	a.calls = append(a.calls, r.Method+" "+r.URL.Path)
	a.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]string{"ok": r.URL.Path})
}

func (a *recordingAPI) count() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.calls)
}

func TestServer_API_Token(t *testing.T) {
	const path = "/api/v1/components/api/restart"
	tests := []struct {
		name    string
		token   string
		method  string
		auth    string
		code    int
		forward bool
	}{
		{"no-token-post", "", "POST", "", http.StatusForbidden, false},
		{"no-token-post-with-bearer", "", "POST", "Bearer x", http.StatusForbidden, false},
		{"no-token-get", "", "GET", "", http.StatusOK, true},
		{"token-missing", "s3cret", "POST", "", http.StatusUnauthorized, false},
		{"token-wrong", "s3cret", "POST", "Bearer s3cre", http.StatusUnauthorized, false},
		{"token-wrong-scheme", "s3cret", "POST", "Basic s3cret", http.StatusUnauthorized, false},
		{"token-right", "s3cret", "POST", "Bearer s3cret", http.StatusOK, true},
		{"token-right-lowercase-scheme", "s3cret", "POST", "bearer s3cret", http.StatusOK, true},
		{"token-get", "s3cret", "GET", "", http.StatusOK, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			api := &recordingAPI{}
			_, base := startServer(t, &fakeSource{}, Options{Token: tt.token, API: api})
			code, body, resp := do(t, tt.method, base+path, nil, "Authorization", tt.auth)
			if code != tt.code {
				t.Fatalf("status %d, want %d: %s", code, tt.code, body)
			}
			if got := api.count() == 1; got != tt.forward {
				t.Errorf("forwarded %v, want %v", got, tt.forward)
			}
			if !tt.forward {
				wantJSONError(t, resp, body)
			}
			if code == http.StatusUnauthorized && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestServer_SetToken(t *testing.T) {
	api := &recordingAPI{}
	s, base := startServer(t, &fakeSource{}, Options{API: api})
	post := func(auth string) int {
		code, _, _ := do(t, "POST", base+"/api/v1/components/x/stop", nil, "Authorization", auth)
		return code
	}
	if c := post("Bearer new"); c != http.StatusForbidden {
		t.Fatalf("before SetToken: %d, want 403", c)
	}
	s.SetToken("new")
	if c := post("Bearer new"); c != http.StatusOK {
		t.Fatalf("after SetToken: %d, want 200", c)
	}
	s.SetToken("")
	if c := post("Bearer new"); c != http.StatusForbidden {
		t.Fatalf("after SetToken(\"\"): %d, want 403", c)
	}
}

func TestServer_Listen_BusyPort(t *testing.T) {
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	addr := hold.Addr().String()
	_, port, _ := net.SplitHostPort(addr)
	s := New(&fakeSource{}, Options{Addr: addr})
	defer s.Close()
	err = s.Listen()
	if err == nil {
		t.Fatal("Listen on a held port succeeded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "port "+port) {
		t.Errorf("error %q does not name port %s", msg, port)
	}
	if !strings.Contains(msg, "pid "+strconv.Itoa(os.Getpid())) {
		t.Errorf("error %q does not name the holder, pid %d", msg, os.Getpid())
	}
}

func TestServer_Rebind(t *testing.T) {
	src := &fakeSource{}
	s, oldBase := startServer(t, src, Options{})
	oldAddr := s.Addr()

	// Same address: nothing changes.
	if err := s.Rebind("127.0.0.1:0"); err != nil || s.Addr() != oldAddr {
		t.Fatalf("Rebind to the same address: err %v, addr %s -> %s", err, oldAddr, s.Addr())
	}

	// A busy address fails and the old listener keeps serving.
	hold, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hold.Close()
	if err := s.Rebind(hold.Addr().String()); err == nil {
		t.Fatal("Rebind to a held port succeeded")
	}
	if code, _, _ := do(t, "GET", oldBase+"/health", nil); code != 200 || s.Addr() != oldAddr {
		t.Fatalf("after failed Rebind: /health %d, addr %s (was %s)", code, s.Addr(), oldAddr)
	}

	// A new address: served there, and the old one is closed.
	if err := s.Rebind("localhost:0"); err != nil {
		t.Fatal(err)
	}
	newAddr := s.Addr()
	if newAddr == oldAddr {
		t.Fatalf("address did not change: %s", newAddr)
	}
	if code, _, _ := do(t, "GET", "http://"+newAddr+"/health", nil); code != 200 {
		t.Fatalf("new address: /health %d", code)
	}
	if c, err := net.DialTimeout("tcp", oldAddr, time.Second); err == nil {
		c.Close()
		t.Fatalf("old address %s still accepts connections", oldAddr)
	}

	// "" stops listening; a later Rebind serves again.
	if err := s.Rebind(""); err != nil || s.Addr() != "" {
		t.Fatalf("Rebind(\"\"): err %v addr %q", err, s.Addr())
	}
	if err := s.Rebind("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	if code, _, _ := do(t, "GET", "http://"+s.Addr()+"/health", nil); code != 200 {
		t.Fatalf("after re-enabling: /health %d", code)
	}
}

func TestServer_Close_Twice(t *testing.T) {
	s := New(&fakeSource{}, Options{Addr: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := s.Serve(); err != nil {
		t.Fatalf("Serve after Close: %v", err)
	}
	if c, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
		c.Close()
		t.Fatal("listener still open after Close")
	}
}

func TestListenInodes(t *testing.T) {
	tests := []struct {
		file string
		port int
		want []string
	}{
		{"testdata/proc_net_tcp", 3001, []string{"424242"}}, // the ESTABLISHED one is not listening
		{"testdata/proc_net_tcp", 2024, []string{"1525"}},
		{"testdata/proc_net_tcp", 80, nil},
		{"testdata/proc_net_tcp6", 3001, []string{"777"}},
	}
	for _, tt := range tests {
		b, err := os.ReadFile(tt.file)
		if err != nil {
			t.Fatal(err)
		}
		if got := listenInodes(bytes.NewReader(b), tt.port); !slices.Equal(got, tt.want) {
			t.Errorf("%s port %d: %v, want %v", tt.file, tt.port, got, tt.want)
		}
	}
}

func TestPortHolder_FakeProc(t *testing.T) {
	proc := t.TempDir()
	mustWrite := func(path, data string) {
		t.Helper()
		if err := os.MkdirAll(proc+"/"+path[:strings.LastIndexByte(path, '/')], 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(proc+"/"+path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	tcp, err := os.ReadFile("testdata/proc_net_tcp")
	if err != nil {
		t.Fatal(err)
	}
	mustWrite("net/tcp", string(tcp))
	mustWrite("77/comm", "other\n")
	mustWrite("4242/comm", "node\n")
	for pid, ino := range map[string]string{"77": "1", "4242": "424242"} {
		if err := os.MkdirAll(proc+"/"+pid+"/fd", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink("socket:["+ino+"]", proc+"/"+pid+"/fd/3"); err != nil {
			t.Fatal(err)
		}
	}
	pid, comm, ok := portHolder(proc, 3001)
	if !ok || pid != 4242 || comm != "node" {
		t.Fatalf("portHolder = %d %q %v, want 4242 node", pid, comm, ok)
	}
	if _, _, ok := portHolder(proc, 9); ok {
		t.Error("portHolder found a holder for a free port")
	}
}

func TestExplainListenError_NotBusy(t *testing.T) {
	err := explainListenError("127.0.0.1:1", errors.New("permission denied"))
	if !strings.Contains(err.Error(), "127.0.0.1:1") {
		t.Errorf("%v does not name the address", err)
	}
}

// A listener Rebind retired and closed is closed again by http.Server's
// Close when its Serve loop has not returned yet: the second close must
// not be an error (it once failed TestServer_Rebind under load).
func TestListener_ClosesOnce(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	l := &listener{Listener: ln}
	if err := l.Close(); err != nil {
		t.Fatalf("first Close: %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close: %v, want the first close's result (nil)", err)
	}
	if c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second); err == nil {
		c.Close()
		t.Fatalf("%s still accepts connections after Close", ln.Addr())
	}
}
