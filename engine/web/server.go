// Package web is thorp's HTTP server on settings.http: GET /health and
// /health/NAME for probes, GET /metrics in Prometheus text format, and the
// /api/v1 control API, read-only over TCP unless settings.token is set.
//
// Concurrency model: a Server owns one http.Server that may serve several
// listeners over its life (Rebind swaps them); every request runs on its own
// goroutine and only reads from the Source, which must be safe for
// concurrent use. A scrape of /metrics writes every series from one status
// snapshot and registers nothing, so scrapes do not wait for each other.
// Listen, Serve, Rebind, SetToken, Shutdown and Close may be called from any
// goroutine. GET /api/v1/events?follow=1 streams events (see package api)
// under the same rules as the other reads; Shutdown ends such streams.
//
// Every request first passes the Host rule (host.go): the server answers
// only its own address, localhost and settings.http_hosts (421 otherwise),
// and refuses writes from a foreign Origin (403).
package web

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
)

// MaxBodyBytes caps the body of any request; larger ones get 413.
const MaxBodyBytes = 1 << 20

// Source is what the web server reads; *engine.Supervisor satisfies it.
// Its methods must be safe for concurrent use.
type Source interface {
	Status() []engine.Status
	Describe(name string) (engine.Detail, error)
}

// StatusAppender is optional: if the Source also implements it (as
// engine.Supervisor does), /metrics and the push take their status
// snapshot in the memory of a previous one (engine.Supervisor.AppendStatus).
type StatusAppender interface {
	AppendStatus(dst []engine.Status) []engine.Status
}

// ReloadInfo is optional: if the Source also implements it, the reload
// metrics use it; otherwise thorp_config_last_reload_success is 1 and the
// timestamp is the server's start.
type ReloadInfo interface {
	LastReload() (ok bool, at time.Time)
}

// ProxyMetrics is optional: if the Source also implements it, the metrics
// include the balancers' request-duration histograms, which it writes
// without # HELP and # TYPE lines.
type ProxyMetrics interface {
	WriteProxyMetrics(w io.Writer)
}

// MetricsWriter writes whole metric families (# HELP, # TYPE and the
// samples) of a part of thorp other than the supervisor, such as the alert
// dispatcher. WriteMetrics must be safe for concurrent use.
type MetricsWriter interface {
	WriteMetrics(w io.Writer)
}

// Options configure a Server.
type Options struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:9615".
	Addr string
	// Token, when not empty, allows mutating /api/v1 calls that carry
	// "Authorization: Bearer <Token>". Without it the API is read-only.
	Token string
	// Hosts are the names (settings.http_hosts, "name" or "name:port") the
	// server answers besides its own address and localhost; see SetHosts.
	Hosts []string
	// Started is when thorp started, for /health's uptime; zero means New's time.
	Started time.Time
	// API serves /api/v1; it must be a mutable handler (api.NewHandler(sup,
	// info, true)): the Server itself rejects writes that lack the token,
	// before they reach API. Nil answers 404 under /api/v1.
	API http.Handler
	// Logger receives the server's own errors; nil discards them.
	Logger *slog.Logger
	// Metrics are written into /metrics (and the push) before thorp's
	// component families.
	Metrics []MetricsWriter
}

// Server is thorp's HTTP server. Create it with New, bind with Listen,
// run Serve until Close. Its methods are safe for concurrent use.
type Server struct {
	src     Source
	api     http.Handler
	log     *slog.Logger
	started time.Time
	token   atomic.Pointer[[sha256.Size]byte] // nil: no token configured
	hosts   atomic.Pointer[[]allowedHost]     // settings.http_hosts
	handler http.Handler
	srv     *http.Server
	metrics *metricsState

	// base is the context of every request; Shutdown and Close cancel it
	// so long requests (event streams) end.
	base       context.Context
	cancelBase context.CancelFunc

	mu       sync.Mutex
	addr     string    // configured address
	ln       *listener // current listener; nil before Listen or after Rebind("")
	serving  bool      // Serve is running
	closed   bool
	done     chan struct{} // closed by Close
	serveErr chan error    // unexpected Serve failures of the current listener
	wg       sync.WaitGroup
}

// listener is a net.Listener the Server may retire on Rebind; a retired
// listener's Serve error is expected and ignored. It closes once: a
// retired listener is closed by switchTo and, when http.Server still
// tracks it (its Serve loop has not returned yet), again by Close.
type listener struct {
	net.Listener
	retired  atomic.Bool
	once     sync.Once
	closeErr error
}

// Close closes the listener the first time and returns that result every time.
func (l *listener) Close() error {
	l.once.Do(func() { l.closeErr = l.Listener.Close() })
	return l.closeErr
}

// New returns a Server reading from src. Nothing is bound until Listen.
func New(src Source, opts Options) *Server {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	started := opts.Started
	if started.IsZero() {
		started = time.Now()
	}
	s := &Server{
		src:      src,
		api:      opts.API,
		log:      log,
		started:  started,
		addr:     opts.Addr,
		done:     make(chan struct{}),
		serveErr: make(chan error, 1),
	}
	s.SetToken(opts.Token)
	s.SetHosts(opts.Hosts)
	s.metrics = newMetricsState(started, opts.Metrics)
	s.handler = s.routes()
	s.srv = api.NewServer(s.handler)
	s.base, s.cancelBase = context.WithCancel(context.Background())
	s.srv.BaseContext = func(net.Listener) context.Context { return s.base }
	s.srv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	return s
}

// SetToken replaces the bearer token that allows mutating API calls ("" makes
// the API read-only), e.g. after a config reload. Safe for concurrent use.
func (s *Server) SetToken(token string) {
	if token == "" {
		s.token.Store(nil)
		return
	}
	sum := sha256.Sum256([]byte(token))
	s.token.Store(&sum)
}

// Handler returns the server's routes, for tests with httptest or for
// serving on another listener. Safe for concurrent use.
func (s *Server) Handler() http.Handler { return s.handler }

// Listen binds the configured address. A busy port is an error naming the
// port and, when it can be found, the process holding it. Calling Listen
// again while bound is an error.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return errors.New("http server: closed")
	}
	if s.ln != nil {
		return fmt.Errorf("http server: already listening on %s", s.ln.Addr())
	}
	ln, err := listen(s.addr)
	if err != nil {
		return err
	}
	s.ln = ln
	return nil
}

// listen binds addr, explaining a busy port.
func listen(addr string) (*listener, error) {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("http server: %w", explainListenError(addr, err))
	}
	return &listener{Listener: l}, nil
}

// Serve serves HTTP until Close, calling Listen first if needed. It returns
// nil after Close, or the error that stopped the current listener.
// Calling it twice concurrently is an error.
func (s *Server) Serve() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("http server: already serving")
	}
	if s.ln == nil && s.addr != "" {
		ln, err := listen(s.addr)
		if err != nil {
			s.mu.Unlock()
			return err
		}
		s.ln = ln
	}
	s.serving = true
	if s.ln != nil {
		s.serveLocked(s.ln)
	}
	s.mu.Unlock()

	var err error
	select {
	case <-s.done:
	case err = <-s.serveErr:
		_ = s.Close()
	}
	s.wg.Wait()
	return err
}

// serveLocked serves ln on its own goroutine; s.mu must be held.
func (s *Server) serveLocked(ln *listener) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		err := s.srv.Serve(ln)
		if err == nil || errors.Is(err, http.ErrServerClosed) || ln.retired.Load() {
			return
		}
		select {
		case s.serveErr <- fmt.Errorf("http server on %s: %w", ln.Addr(), err):
		default:
		}
	}()
}

// Addr returns the bound address (useful with port 0), or "" when not bound.
func (s *Server) Addr() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Rebind moves the server to addr, for a config reload: it binds addr first
// and only then closes the old listener, so on failure the old one keeps
// serving. Connections already accepted finish on their own. An unchanged
// addr does nothing; "" stops listening (Serve keeps waiting for Close).
func (s *Server) Rebind(addr string) error {
	commit, _, err := s.PrepareRebind(addr)
	if err != nil {
		return err
	}
	commit()
	return nil
}

// PrepareRebind is Rebind in two steps, so that a reload can bind
// everything before it changes anything: it binds addr (when the server
// listens and addr changed) and changes nothing else. commit moves the
// server to addr and closes the old listener; abort closes what was bound.
// Exactly one of them must be called.
func (s *Server) PrepareRebind(addr string) (commit, abort func(), err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, nil, errors.New("http server: closed")
	}
	if addr == s.addr && (s.ln != nil || addr == "") {
		return func() {}, func() {}, nil
	}
	var ln *listener
	if addr != "" && (s.ln != nil || s.serving) {
		if ln, err = listen(addr); err != nil {
			return nil, nil, fmt.Errorf("rebind from %s: %w", s.addr, err)
		}
	}
	commit = func() { s.switchTo(addr, ln) }
	abort = func() {
		if ln != nil {
			_ = ln.Close()
		}
	}
	return commit, abort, nil
}

// switchTo serves on ln (bound to addr; nil when not listening) instead of
// the current listener, which closes.
func (s *Server) switchTo(addr string, ln *listener) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		if ln != nil {
			_ = ln.Close()
		}
		return
	}
	old := s.ln
	s.addr, s.ln = addr, ln
	if ln != nil && s.serving {
		s.serveLocked(ln)
	}
	if old != nil {
		old.retired.Store(true)
		if err := old.Close(); err != nil {
			s.log.Warn("close old http listener", "addr", old.Addr().String(), "err", err)
		}
	}
}

// Close stops listening and closes every connection. It is safe to call
// twice; the second call does nothing.
func (s *Server) Close() error {
	return s.stop(false, context.Background())
}

// Shutdown stops listening, ends the requests in flight (their context is
// cancelled, which ends event streams) and waits for them until ctx ends;
// then it closes what is left, as Close does. It is safe to call twice and
// after Close; later calls do nothing.
func (s *Server) Shutdown(ctx context.Context) error {
	return s.stop(true, ctx)
}

// stop is Close or (graceful) Shutdown within ctx.
func (s *Server) stop(graceful bool, ctx context.Context) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	close(s.done)
	ln := s.ln
	serving := s.serving
	s.mu.Unlock()
	s.cancelBase()
	var err error
	if graceful {
		err = s.srv.Shutdown(ctx)
	}
	if !graceful || err != nil {
		err = s.srv.Close()
	}
	if ln != nil && !serving {
		// Never handed to http.Server, which would have closed it.
		err = errors.Join(err, ln.Close())
	}
	if err != nil {
		return fmt.Errorf("close http server: %w", err)
	}
	return nil
}

// routes builds the handler tree. Patterns carry no method so that wrong
// methods get a JSON 405 instead of net/http's plain-text one.
func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/health", readOnly(s.health))
	mux.HandleFunc("/health/{name}", readOnly(s.healthOf))
	mux.HandleFunc("/metrics", readOnly(s.serveMetrics))
	mux.HandleFunc("/api/v1/", s.gateAPI)
	s.routeDashboard(mux) // GET / and GET /api/v1/components/{name}/logs
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s %s", r.Method, r.URL.Path))
	})
	return s.guard(mux)
}

// guard applies the Host and Origin rules, caps the body size and turns a
// handler panic into a JSON 500.
func (s *Server) guard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if v == http.ErrAbortHandler {
					panic(v)
				}
				s.log.Error("http handler panic", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v))
				writeError(w, http.StatusInternalServerError, "internal error")
			}
		}()
		if !s.checkHost(w, r) {
			return
		}
		if r.ContentLength > MaxBodyBytes {
			w.Header().Set("Connection", "close")
			writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body over %d bytes", MaxBodyBytes))
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, MaxBodyBytes)
		next.ServeHTTP(w, r)
	})
}

// readOnly allows GET and HEAD only.
func readOnly(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			w.Header().Set("Allow", "GET, HEAD")
			writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s; use GET", r.Method, r.URL.Path))
			return
		}
		next(w, r)
	}
}

// gateAPI forwards reads to the API and writes only with the right token:
// 403 when no token is configured, 401 when it is missing or wrong.
func (s *Server) gateAPI(w http.ResponseWriter, r *http.Request) {
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodPost:
		want := s.token.Load()
		if want == nil {
			writeError(w, http.StatusForbidden, "the HTTP API is read-only; use the control socket or configure settings.token")
			return
		}
		got, ok := bearer(r)
		sum := sha256.Sum256([]byte(got))
		// Comparing hashes keeps the comparison constant-time in the
		// token's length too.
		if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="thorp"`)
			writeError(w, http.StatusUnauthorized, "missing or wrong bearer token")
			return
		}
	default:
		w.Header().Set("Allow", "GET, HEAD, POST")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("method %s not allowed on %s", r.Method, r.URL.Path))
		return
	}
	if s.api == nil {
		writeError(w, http.StatusNotFound, "the API is not available on this server")
		return
	}
	s.api.ServeHTTP(w, r)
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(r *http.Request) (string, bool) {
	h := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	tok = strings.TrimSpace(tok)
	return tok, tok != ""
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Compile-time check that the supervisor is a Source.
var _ Source = (*engine.Supervisor)(nil)
