package web

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thorp-dev/thorp/engine"
)

func TestServer_Dashboard_ServesPage(t *testing.T) {
	_, base := startServer(t, &fakeSource{}, Options{})
	code, body, resp := do(t, "GET", base+"/", nil)
	if code != http.StatusOK {
		t.Fatalf("GET /: %d %s", code, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
		t.Errorf("Content-Type %q, want text/html", ct)
	}
	if cc := resp.Header.Get("Cache-Control"); cc != "no-store" {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	csp := resp.Header.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'unsafe-inline' 'self'", "style-src 'unsafe-inline' 'self'",
		"connect-src 'self'", "frame-ancestors 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("Content-Security-Policy %q lacks %q", csp, want)
		}
	}
	page := string(body)
	for _, want := range []string{
		"<title>thorp dashboard</title>",
		`"/api/v1/components"`,
		`"/api/v1/events?since="`,
		`new EventSource("/api/v1/events?follow=1&since="`, // live updates
		`if (!streaming`,                                   // and the polling fallback without them
		`"/health"`,
		`"/history?window="`,
		`"/logs?n=100&stream="`,
		`"?no_wait=1"`,
		`"Bearer "`,
		`sessionStorage`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	// Self-contained: nothing loaded from elsewhere, no data inserted as HTML.
	for _, bad := range []string{"http://", "https://", "innerHTML", "outerHTML", "insertAdjacentHTML", "document.write",
		"window.confirm", "alert("} {
		if strings.Contains(page, bad) {
			t.Errorf("page contains %q", bad)
		}
	}
	for _, ref := range pageRefs(t, page) {
		if !strings.HasPrefix(ref, "/static/") && ref != "data:," {
			t.Errorf("page loads %q, not one of thorp's own files", ref)
		}
	}

	// HEAD works, other methods get a JSON 405, unknown paths stay 404.
	if code, _, _ := do(t, "HEAD", base+"/", nil); code != http.StatusOK {
		t.Errorf("HEAD /: %d", code)
	}
	code, body, resp = do(t, "POST", base+"/", nil)
	if code != http.StatusMethodNotAllowed {
		t.Errorf("POST /: %d", code)
	}
	wantJSONError(t, resp, body)
	code, body, resp = do(t, "GET", base+"/nope", nil)
	if code != http.StatusNotFound {
		t.Errorf("GET /nope: %d", code)
	}
	wantJSONError(t, resp, body)
}

// TestDashboard_Hooks checks the elements and attributes the browser test
// and users' own scripts rely on (the DOM hooks of issue 13).
func TestDashboard_Hooks(t *testing.T) {
	page := string(dashboardHTML)
	for _, want := range []string{
		`<table id="components">`, `tr.dataset.component = name`, `tr.dataset.instance = String(inst)`,
		`<section id="detail" hidden>`, `d.dataset.component = name`,
		`<div id="memory-chart"`, `<div id="cpu-chart"`, `node.dataset.limit = String(view.limit)`,
		`node.dataset.markers = String(view.restarts.length)`,
		`<ol id="timeline">`, `li.dataset.reason = ev.reason`, `li.dataset.component = ev.component`,
		`<pre id="log">`, `<button id="log-out"`, `<button id="log-err"`,
		`<input id="token"`, `<div id="actions" class="row" hidden>`,
		`data-action="restart"`, `data-action="reload"`, `data-action="stop"`, `data-action="start"`,
		`<dialog id="confirm">`, `<button id="confirm-yes"`,
		`data-window="15m"`, `data-window="1h"`, `data-window="6h"`,
		`document.body.dataset.ready = "1"`,
	} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// pageRefs returns the src and href values of the page's elements.
func pageRefs(t *testing.T, page string) []string {
	t.Helper()
	var refs []string
	for _, attr := range []string{` src="`, ` href="`} {
		for rest := page; ; {
			i := strings.Index(rest, attr)
			if i < 0 {
				break
			}
			rest = rest[i+len(attr):]
			j := strings.IndexByte(rest, '"')
			if j < 0 {
				t.Fatalf("unterminated%s", attr)
			}
			refs = append(refs, rest[:j])
		}
	}
	if len(refs) == 0 {
		t.Fatal("the page loads no files: is the chart library gone?")
	}
	return refs
}

func TestServer_Dashboard_StaticFiles(t *testing.T) {
	_, base := startServer(t, &fakeSource{}, Options{})
	for _, ref := range pageRefs(t, string(dashboardHTML)) {
		if !strings.HasPrefix(ref, "/static/") {
			continue
		}
		code, body, resp := do(t, "GET", base+ref, nil)
		if code != http.StatusOK {
			t.Errorf("GET %s: %d %s", ref, code, body)
			continue
		}
		want, err := staticFiles.ReadFile(strings.TrimPrefix(ref, "/"))
		if err != nil || string(body) != string(want) {
			t.Errorf("GET %s: %d bytes, not the embedded file (%v)", ref, len(body), err)
		}
		ct := resp.Header.Get("Content-Type")
		if (strings.HasSuffix(ref, ".js") && ct != "text/javascript; charset=utf-8") ||
			(strings.HasSuffix(ref, ".css") && ct != "text/css; charset=utf-8") {
			t.Errorf("GET %s: Content-Type %q", ref, ct)
		}
		if cc := resp.Header.Get("Cache-Control"); cc != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s: Cache-Control %q", ref, cc)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", ref)
		}
		if !strings.Contains(string(body), "MIT License") {
			t.Errorf("GET %s: the licence header is gone", ref)
		}
	}
	code, body, _ := do(t, "GET", base+"/static/uplot-LICENSE.txt", nil)
	if code != http.StatusOK || !strings.Contains(string(body), "Leon Sorokin") {
		t.Errorf("licence: %d %.60s", code, body)
	}
	for _, path := range []string{"/static/nope.js", "/static/", "/static/static", "/static/%2e%2e%2fdashboard.go", "/static/uplot-LICENSE.txt.gz"} {
		code, body, resp := do(t, "GET", base+path, nil)
		if code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
			continue
		}
		wantJSONError(t, resp, body)
	}
	if code, _, _ := do(t, "POST", base+"/static/uplot-LICENSE.txt", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST static: %d, want 405", code)
	}
}

// maxPageBytes bounds what a browser downloads for the dashboard: the page
// and the files it loads (issue 13 aims under 150 KB).
const maxPageBytes = 150 << 10

func TestDashboard_Weight(t *testing.T) {
	total := len(dashboardHTML)
	for _, ref := range pageRefs(t, string(dashboardHTML)) {
		if name, ok := strings.CutPrefix(ref, "/static/"); ok {
			b, err := staticFiles.ReadFile("static/" + name)
			if err != nil {
				t.Fatalf("the page loads %s, which is not embedded: %v", ref, err)
			}
			total += len(b)
		}
	}
	t.Logf("dashboard weight: %d bytes (page %d)", total, len(dashboardHTML))
	if total > maxPageBytes {
		t.Errorf("dashboard weight %d bytes, over %d", total, maxPageBytes)
	}
}

// logSource gives components log files in a temporary directory.
func logSource(t *testing.T) (*fakeSource, string) {
	t.Helper()
	dir := t.TempDir()
	api := comp("api", engine.StateRunning)
	api.Logs = []engine.LogStatus{
		{Stream: "out", Path: filepath.Join(dir, "api-out.log")},
		{Stream: "err", Path: filepath.Join(dir, "api-error.log")},
	}
	merged := comp("merged", engine.StateRunning)
	merged.Logs = []engine.LogStatus{{Stream: "out", Path: filepath.Join(dir, "merged-out.log")}}
	var out, errs strings.Builder
	for i := 1; i <= 300; i++ {
		fmt.Fprintf(&out, "out line %d\n", i)
		fmt.Fprintf(&errs, "err line %d\n", i)
	}
	for path, body := range map[string]string{
		api.Logs[0].Path:    out.String(),
		api.Logs[1].Path:    errs.String(),
		merged.Logs[0].Path: "one\ntwo <script>alert(1)</script>\n",
	} {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	src := &fakeSource{}
	src.set(api, merged, comp("nologs", engine.StateStopped))
	return src, dir
}

func TestServer_Logs_Tail(t *testing.T) {
	src, _ := logSource(t)
	_, base := startServer(t, src, Options{})
	tests := []struct {
		query  string
		merged bool
		want   []string
	}{
		{"/api/v1/components/api/logs", false, seqLines("out line", 201, 300)},
		{"/api/v1/components/api/logs?n=3", false, []string{"out line 298", "out line 299", "out line 300"}},
		{"/api/v1/components/api/logs?n=2&stream=err", false, []string{"err line 299", "err line 300"}},
		{"/api/v1/components/api/logs?n=100000", false, seqLines("out line", 1, 300)},
		{"/api/v1/components/merged/logs?stream=err", true, []string{"one", "two <script>alert(1)</script>"}},
	}
	for _, tt := range tests {
		code, body, resp := do(t, "GET", base+tt.query, nil)
		if code != http.StatusOK {
			t.Fatalf("%s: %d %s", tt.query, code, body)
		}
		if ct := resp.Header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("%s: Content-Type %q", tt.query, ct)
		}
		var got logsResponse
		if err := json.Unmarshal(body, &got); err != nil {
			t.Fatalf("%s: %v in %s", tt.query, err, body)
		}
		if strings.Join(got.Lines, "\n") != strings.Join(tt.want, "\n") {
			t.Errorf("%s: lines %q..., want %q...", tt.query, head(got.Lines), head(tt.want))
		}
		if got.Merged != tt.merged {
			t.Errorf("%s: merged %v, want %v", tt.query, got.Merged, tt.merged)
		}
	}

	errTests := []struct {
		query string
		code  int
	}{
		{"/api/v1/components/ghost/logs", http.StatusNotFound},
		{"/api/v1/components/nologs/logs", http.StatusNotFound},
		{"/api/v1/components/api/logs?n=0", http.StatusBadRequest},
		{"/api/v1/components/api/logs?n=x", http.StatusBadRequest},
		{"/api/v1/components/api/logs?stream=both", http.StatusBadRequest},
	}
	for _, tt := range errTests {
		code, body, resp := do(t, "GET", base+tt.query, nil)
		if code != tt.code {
			t.Errorf("%s: %d, want %d; %s", tt.query, code, tt.code, body)
			continue
		}
		wantJSONError(t, resp, body)
	}
	if code, _, _ := do(t, "POST", base+"/api/v1/components/api/logs", nil); code != http.StatusMethodNotAllowed {
		t.Errorf("POST logs: %d, want 405", code)
	}
}

func TestServer_Logs_MissingFileIsEmpty(t *testing.T) {
	st := comp("api", engine.StateRunning)
	st.Logs = []engine.LogStatus{{Stream: "out", Path: filepath.Join(t.TempDir(), "gone.log")}}
	src := &fakeSource{}
	src.set(st)
	_, base := startServer(t, src, Options{})
	code, body, _ := do(t, "GET", base+"/api/v1/components/api/logs", nil)
	if code != http.StatusOK || !strings.Contains(string(body), `"lines": []`) {
		t.Fatalf("missing file: %d %s", code, body)
	}
}

func TestCutLine(t *testing.T) {
	long := strings.Repeat("é", maxLogLineBytes) // 2 bytes each
	got := cutLine(long)
	if len(got) > maxLogLineBytes+len(" …(cut)") || !strings.HasSuffix(got, " …(cut)") {
		t.Errorf("cutLine: %d bytes, suffix %q", len(got), got[len(got)-10:])
	}
	if !strings.HasPrefix(got, "éé") || strings.ContainsRune(got, '\uFFFD') {
		t.Error("cutLine split a rune")
	}
	if cutLine("short") != "short" {
		t.Error("cutLine changed a short line")
	}
}

func TestLogAccess(t *testing.T) {
	sum := sha256.Sum256([]byte("s3cret"))
	tests := []struct {
		addr  string
		token bool // settings.token is "s3cret"
		sent  string
		want  int
	}{
		{"127.0.0.1:3001", false, "", http.StatusOK},
		{"127.0.0.1:3001", true, "", http.StatusOK},
		{"127.0.0.1:3001", true, "wrong", http.StatusOK},
		{"[::1]:3001", false, "", http.StatusOK},
		{"localhost:3001", false, "", http.StatusOK},
		{"127.3.4.5:80", false, "", http.StatusOK},
		{"0.0.0.0:3001", false, "", http.StatusForbidden},
		{"0.0.0.0:3001", false, "s3cret", http.StatusForbidden},
		{"[::]:3001", false, "", http.StatusForbidden},
		{":3001", false, "", http.StatusForbidden},
		{"10.1.2.3:3001", false, "", http.StatusForbidden},
		{"0.0.0.0:3001", true, "", http.StatusUnauthorized},
		{"0.0.0.0:3001", true, "wrong", http.StatusUnauthorized},
		{"0.0.0.0:3001", true, "s3cret", http.StatusOK},
		{"10.1.2.3:3001", true, "s3cret", http.StatusOK},
		{"", false, "", http.StatusForbidden},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%s/token=%v/sent=%q", tt.addr, tt.token, tt.sent), func(t *testing.T) {
			var want *[sha256.Size]byte
			if tt.token {
				want = &sum
			}
			code, msg := logAccess(tt.addr, want, tt.sent)
			if code != tt.want {
				t.Errorf("logAccess = %d (%s), want %d", code, msg, tt.want)
			}
			if code != http.StatusOK && msg == "" {
				t.Error("refusal without a message")
			}
		})
	}
}

// TestServer_Logs_NonLoopback runs the handler of a server configured for a
// public address (never bound: tests listen on loopback only).
func TestServer_Logs_NonLoopback(t *testing.T) {
	src, _ := logSource(t)
	s := New(src, Options{Addr: "10.1.2.3:3001"})
	get := func(path string, hdr ...string) (int, []byte, *http.Response) {
		t.Helper()
		req := httptest.NewRequest("GET", path, nil)
		req.Host = "10.1.2.3:3001"
		for i := 0; i+1 < len(hdr); i += 2 {
			req.Header.Set(hdr[i], hdr[i+1])
		}
		rec := httptest.NewRecorder()
		s.Handler().ServeHTTP(rec, req)
		resp := rec.Result()
		return resp.StatusCode, rec.Body.Bytes(), resp
	}
	code, body, resp := get("/api/v1/components/api/logs?n=1")
	if code != http.StatusForbidden {
		t.Fatalf("no token configured: %d %s", code, body)
	}
	if msg := wantJSONError(t, resp, body); !strings.Contains(msg, "loopback") || !strings.Contains(msg, "settings.token") {
		t.Errorf("403 message does not explain: %q", msg)
	}
	s.SetToken("s3cret")
	code, body, resp = get("/api/v1/components/api/logs?n=1", "Authorization", "Bearer wrong")
	if code != http.StatusUnauthorized || resp.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("wrong token: %d %s", code, body)
	}
	code, body, _ = get("/api/v1/components/api/logs?n=1", "Authorization", "Bearer s3cret")
	if code != http.StatusOK || !strings.Contains(string(body), "out line 300") {
		t.Fatalf("with token: %d %s", code, body)
	}
	// The page itself holds no data and is served to anyone.
	if code, _, _ := get("/"); code != http.StatusOK {
		t.Errorf("GET /: %d", code)
	}
}

func seqLines(prefix string, from, to int) []string {
	var out []string
	for i := from; i <= to; i++ {
		out = append(out, fmt.Sprintf("%s %d", prefix, i))
	}
	return out
}

func head(l []string) []string {
	if len(l) > 3 {
		return l[:3]
	}
	return l
}
