package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/api"
)

// hostDo sends method url over the network with Host set to host and the
// headers hdr (name, value pairs), returning the status and body.
func hostDo(t *testing.T, method, url, host string, hdr ...string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	c := &http.Client{Timeout: 10 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s (Host %s): %v", method, url, host, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body)
}

// TestServer_Host_DNSRebinding: a page of evil.example re-pointed at this
// machine reads nothing (421 on every endpoint), while the server's own
// address, localhost and the names of settings.http_hosts are answered.
func TestServer_Host_DNSRebinding(t *testing.T) {
	sup := startSupervisor(t, "sleeper")
	h := api.NewPublicHandler(sup, api.Info{})
	srv, base := startServer(t, sup, Options{API: h, Token: "0123456789abcdef",
		Hosts: []string{"thorp.test", "Metrics.Test.:9999"}})
	addr := srv.Addr()
	_, port, _ := net.SplitHostPort(addr)
	paths := []string{
		"/api/v1/components/sleeper/logs",
		"/api/v1/events",
		"/api/v1/components",
		"/api/v1/components/sleeper",
		"/api/v1/info",
		"/health",
		"/health/sleeper",
		"/metrics",
		"/",
	}
	refused := []string{
		"evil.example",
		"evil.example:" + port,
		"localhost",            // port 80 is not the listening port
		"localhost:1",          // another port
		"127.0.0.1",            // port 80
		"127.0.0.2:" + port,    // another loopback address
		"[::1]:" + port,        // not the bound address (127.0.0.1)
		"metrics.test:" + port, // the entry names port 9999
		"thorp.test.evil.example",
		"0x7f.0.0.1:" + port,
	}
	answered := []string{
		addr,
		"localhost:" + port,
		"LOCALHOST:" + port,
		"thorp.test",
		"thorp.test:" + port,
		"Thorp.Test.:" + port,
		"metrics.test:9999",
	}
	for _, p := range paths {
		for _, host := range refused {
			code, body := hostDo(t, "GET", base+p, host)
			if code != http.StatusMisdirectedRequest || !strings.Contains(body, "settings.http_hosts") {
				t.Errorf("GET %s with Host %q: %d %s, want 421 naming settings.http_hosts", p, host, code, body)
			}
		}
		for _, host := range answered {
			if code, body := hostDo(t, "GET", base+p, host); code != http.StatusOK {
				t.Errorf("GET %s with Host %q: %d %s, want 200", p, host, code, body)
			}
		}
	}
	// A reload that drops the names stops answering them at once.
	srv.SetHosts(nil)
	if code, _ := hostDo(t, "GET", base+"/api/v1/events", "thorp.test"); code != http.StatusMisdirectedRequest {
		t.Errorf("after SetHosts(nil), Host thorp.test: %d, want 421", code)
	}
	if code, _ := hostDo(t, "GET", base+"/api/v1/events", addr); code != http.StatusOK {
		t.Errorf("after SetHosts(nil), Host %s: %d, want 200", addr, code)
	}
}

// TestServer_Origin_Mutating: a write from a foreign page is refused with
// 403 even when it bears the right token (a page cannot, but a leaked token
// must not turn the browser into a tool); writes from the server's own
// pages and from clients that send no Origin go through.
func TestServer_Origin_Mutating(t *testing.T) {
	const token = "0123456789abcdef"
	rec := &recordingAPI{}
	srv, base := startServer(t, &fakeSource{}, Options{API: rec, Token: token, Hosts: []string{"thorp.test"}})
	_, port, _ := net.SplitHostPort(srv.Addr())
	const path = "/api/v1/components/api/restart"
	for _, tt := range []struct {
		method, origin string
		code           int
	}{
		{"POST", "http://evil.example", http.StatusForbidden},
		{"POST", "https://evil.example", http.StatusForbidden},
		{"POST", "http://evil.example:" + port, http.StatusForbidden},
		{"POST", "null", http.StatusForbidden},
		{"POST", "ftp://127.0.0.1:" + port, http.StatusForbidden},
		{"POST", "http://127.0.0.1", http.StatusForbidden}, // port 80
		{"POST", "http://127.0.0.1:" + port + "/path", http.StatusForbidden},
		{"PUT", "http://evil.example", http.StatusForbidden},
		{"DELETE", "http://evil.example", http.StatusForbidden},
		{"POST", "http://127.0.0.1:" + port, http.StatusOK},
		{"POST", "http://localhost:" + port, http.StatusOK},
		{"POST", "https://thorp.test", http.StatusOK},
		{"POST", "", http.StatusOK},
		// Reads are not writes; the browser keeps a foreign page from
		// reading the answer (no CORS headers).
		{"GET", "http://evil.example", http.StatusOK},
	} {
		before := rec.count()
		hdr := []string{"Authorization", "Bearer " + token}
		if tt.origin != "" {
			hdr = append(hdr, "Origin", tt.origin)
		}
		code, body := hostDo(t, tt.method, base+path, srv.Addr(), hdr...)
		if code != tt.code {
			t.Errorf("%s with Origin %q: %d %s, want %d", tt.method, tt.origin, code, body, tt.code)
		}
		if forwarded := rec.count() > before; forwarded != (tt.code == http.StatusOK) {
			t.Errorf("%s with Origin %q: reached the API: %v", tt.method, tt.origin, forwarded)
		}
		if code == http.StatusForbidden && !strings.Contains(body, "origin") {
			t.Errorf("403 does not say why: %s", body)
		}
	}
}

// TestServer_Host_Wildcard: a server bound to 0.0.0.0 or [::] answers the
// IP addresses of this machine's interfaces on its port, and nothing else.
// The requests go through the handler with the connection's local address
// set, so nothing binds a wildcard address.
func TestServer_Host_Wildcard(t *testing.T) {
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	var mine []string
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok {
			ip, _ := netip.AddrFromSlice(n.IP)
			mine = append(mine, netip.AddrPortFrom(ip.Unmap(), 3001).String())
		}
	}
	if len(mine) == 0 {
		t.Skip("no interface addresses")
	}
	for _, bind := range []string{"0.0.0.0:3001", "[::]:3001", ":3001"} {
		s := New(&fakeSource{}, Options{Addr: bind})
		get := func(host string) int {
			req := httptest.NewRequest("GET", "/health", nil)
			req.Host = host
			local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 3001}
			req = req.WithContext(context.WithValue(req.Context(), http.LocalAddrContextKey, local))
			rec := httptest.NewRecorder()
			s.Handler().ServeHTTP(rec, req)
			return rec.Code
		}
		for _, host := range append(mine, "localhost:3001", "127.0.0.1:3001") {
			if code := get(host); code != http.StatusOK {
				t.Errorf("bound to %s, Host %q: %d, want 200", bind, host, code)
			}
		}
		for _, host := range []string{"192.0.2.1:3001", "[2001:db8::1]:3001", "127.0.0.1:3002", "evil.example:3001"} {
			if code := get(host); code != http.StatusMisdirectedRequest {
				t.Errorf("bound to %s, Host %q: %d, want 421", bind, host, code)
			}
		}
	}
	// Bound to one address, the others of the machine are refused.
	s := New(&fakeSource{}, Options{Addr: "127.0.0.1:3001"})
	req := httptest.NewRequest("GET", "/health", nil)
	req.Host = "[::1]:3001"
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, req)
	if rec.Code != http.StatusMisdirectedRequest {
		t.Errorf("bound to 127.0.0.1, Host [::1]:3001: %d, want 421", rec.Code)
	}
}
