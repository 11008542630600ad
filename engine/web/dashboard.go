package web

import (
	"crypto/sha256"
	"crypto/subtle"
	"embed"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path"
	"strconv"
	"unicode/utf8"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/rotate"
)

// dashboardHTML is the dashboard page, with its own CSS and script inline.
// It follows GET /api/v1/events?follow=1 and re-reads /api/v1/components
// on events (and every 5 s for the figures that change without events);
// without the event stream it polls every 2 s. It draws its charts with
// uPlot, served from staticFiles; it loads nothing from elsewhere.
//
//go:embed dashboard.html
var dashboardHTML []byte

// staticFiles are the dashboard's vendored files under /static/: uPlot
// (MIT, https://github.com/leeoniya/uPlot), its CSS and its licence. Their
// names carry the version, so they are served as immutable.
//
//go:embed static
var staticFiles embed.FS

// staticTypes are the Content-Types of the files under /static/.
var staticTypes = map[string]string{
	".js":  "text/javascript; charset=utf-8",
	".css": "text/css; charset=utf-8",
	".txt": "text/plain; charset=utf-8",
}

// dashboardCSP allows the page's own inline script and style, scripts,
// styles and fetches from this origin, nothing else: no external scripts,
// frames, fonts or images.
const dashboardCSP = "default-src 'self'; script-src 'unsafe-inline' 'self'; style-src 'unsafe-inline' 'self'; " +
	"img-src 'self' data:; connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"

// Limits of GET /api/v1/components/NAME/logs.
const (
	defaultLogLines = 100
	maxLogLines     = 1000
	maxLogLineBytes = 8 << 10 // longer lines are cut, so one huge line cannot blow up the page
)

// logsResponse is the body of GET /api/v1/components/NAME/logs.
type logsResponse struct {
	Component string   `json:"component"`
	Stream    string   `json:"stream"`
	Merged    bool     `json:"merged"` // stdout and stderr share the file
	Path      string   `json:"path"`
	Lines     []string `json:"lines"`
}

// routeDashboard registers GET / (the dashboard page), GET /static/{file}
// (its chart library) and GET /api/v1/components/{name}/logs (its log tail)
// on mux. The logs route is more specific than /api/v1/, so it is served
// here, not by the API.
func (s *Server) routeDashboard(mux *http.ServeMux) {
	mux.HandleFunc("/{$}", readOnly(s.serveDashboard))
	mux.HandleFunc("/static/{file}", readOnly(serveStatic))
	mux.HandleFunc("/api/v1/components/{name}/logs", readOnly(s.serveLogs))
}

// serveDashboard writes the embedded page.
func (s *Server) serveDashboard(w http.ResponseWriter, _ *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Security-Policy", dashboardCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Content-Length", strconv.Itoa(len(dashboardHTML)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(dashboardHTML)
}

// serveStatic writes one of staticFiles, cacheable for a year: a new
// version comes under a new name.
func serveStatic(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("file")
	typ, known := staticTypes[path.Ext(name)]
	body, err := staticFiles.ReadFile("static/" + name)
	if !known || err != nil {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such file /static/%s", name))
		return
	}
	h := w.Header()
	h.Set("Content-Type", typ)
	h.Set("Cache-Control", "public, max-age=31536000, immutable")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(body)
}

// serveLogs answers GET /api/v1/components/{name}/logs?n=100&stream=out|err
// with the last n lines of the component's log file, oldest first. Logs may
// hold secrets, so it is refused unless logAccess allows the request.
func (s *Server) serveLogs(w http.ResponseWriter, r *http.Request) {
	auth, _ := bearer(r)
	if code, msg := logAccess(s.listenAddr(r), s.token.Load(), auth); code != http.StatusOK {
		if code == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer realm="thorp"`)
		}
		writeError(w, code, msg)
		return
	}
	q := api.NewQuery(r, "n", "stream")
	n := min(q.Int("n", defaultLogLines, 1), maxLogLines)
	stream := q.OneOf("stream", "out", "out", "err")
	if err := q.Err(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return
	}
	name := r.PathValue("name")
	d, err := s.src.Describe(name)
	if err != nil {
		code := http.StatusInternalServerError
		if errors.Is(err, engine.ErrUnknownComponent) {
			code = http.StatusNotFound
		}
		writeError(w, code, err.Error())
		return
	}
	ls, merged, ok := pickLog(d.Logs, stream)
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("component %q has no log file", name))
		return
	}
	lines, err := rotate.Tail(ls.Path, n)
	if err != nil {
		s.log.Warn("dashboard log tail", "component", name, "path", ls.Path, "err", err)
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("read log of %q: %v", name, err))
		return
	}
	for i, l := range lines {
		lines[i] = cutLine(l)
	}
	if lines == nil {
		lines = []string{}
	}
	writeJSON(w, http.StatusOK, logsResponse{Component: name, Stream: stream, Merged: merged, Path: ls.Path, Lines: lines})
}

// pickLog finds the file of stream among a component's logs. A component
// with merge_logs has one file for both streams, which is returned for
// either with merged set.
func pickLog(all []engine.LogStatus, stream string) (ls engine.LogStatus, merged, ok bool) {
	var logs []engine.LogStatus
	for _, l := range all {
		if l.Path != "" {
			logs = append(logs, l)
		}
	}
	for _, l := range logs {
		if l.Stream == stream {
			return l, len(logs) == 1, true
		}
	}
	if len(logs) == 1 {
		return logs[0], true, true
	}
	return engine.LogStatus{}, false, false
}

// cutLine shortens a line to maxLogLineBytes without splitting a rune.
func cutLine(l string) string {
	if len(l) <= maxLogLineBytes {
		return l
	}
	cut := maxLogLineBytes
	for cut > 0 && !utf8.RuneStart(l[cut]) {
		cut--
	}
	return l[:cut] + " …(cut)"
}

// listenAddr is the address the server listens on: the bound address, the
// configured one before Listen, or the connection's local address when the
// handler is served on another listener.
func (s *Server) listenAddr(r *http.Request) string {
	if a := s.Addr(); a != "" {
		return a
	}
	s.mu.Lock()
	a := s.addr
	s.mu.Unlock()
	if a != "" {
		return a
	}
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		return a.String()
	}
	return ""
}

// logAccess decides whether a log request may be served: always when the
// server listens on a loopback address (only this machine reaches it),
// otherwise only with the configured token (want is its SHA-256, nil when
// none is configured) given as the bearer token got. It returns 200, or the
// status and message to answer with: 403 when no token is configured, 401
// when it is missing or wrong.
func logAccess(addr string, want *[sha256.Size]byte, got string) (int, string) {
	if want != nil && got != "" {
		sum := sha256.Sum256([]byte(got))
		if subtle.ConstantTimeCompare(sum[:], want[:]) == 1 {
			return http.StatusOK, ""
		}
	}
	if isLoopback(addr) {
		return http.StatusOK, ""
	}
	if want == nil {
		return http.StatusForbidden, fmt.Sprintf("logs may hold secrets: they are served only when settings.http is a loopback address "+
			"(this server listens on %s) or settings.token is set and sent as \"Authorization: Bearer TOKEN\"; "+
			"use 'thorp logs' on the host instead", addr)
	}
	return http.StatusUnauthorized, "logs need \"Authorization: Bearer TOKEN\" with settings.token when settings.http is not a loopback address"
}

// isLoopback reports whether addr (host:port or host) is a loopback IP or
// "localhost". An empty or wildcard host listens on every interface, so it
// is not loopback.
func isLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		host = addr
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
