// Package api is thorp's control API: JSON over HTTP, served on the control
// unix socket (full control) and by the HTTP server of package web (writes
// only with the token, env values hidden). The CLI talks to it through
// Client. docs/api.md lists the endpoints.
//
// GET /api/v1/events?follow=1 is a stream of server-sent events that waits
// on the engine's event ring (Supervisor.WaitEvent) instead of polling; it
// ends when the request's context does, so a server that cancels its
// requests' base context before Shutdown ends the streams cleanly.
// Client.Follow reads it.
//
// Query parameters are read strictly (Query): one an endpoint does not
// take, one given twice, or a value that does not parse is a 400 naming it.
//
// Handler is safe for concurrent use; each request runs on its own
// goroutine and calls the Supervisor, which serialises per component.
package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/sockfile"
	"github.com/thorp-dev/thorp/policies"
)

// Info describes the running thorp, for `thorp version` and `up`.
type Info struct {
	PID     int       `json:"pid"`
	Version string    `json:"version"`
	Config  string    `json:"config"`
	Started time.Time `json:"started"`
	// Profile is the active env profile (config.Config.Profile), "" for
	// none; thorp keeps it for its life.
	Profile string `json:"profile,omitempty"`
	// Listening lists the addresses this thorp holds, as configured, so
	// `thorp check` does not call them busy: TCP host:port (http, tcp://
	// sockets) and unix:///path (the control socket, unix:// sockets).
	Listening []string `json:"listening"`
}

// Handler serves /api/v1 for one Supervisor.
type Handler struct {
	sup     *engine.Supervisor
	info    Info
	mutable bool
	redact  bool // hide env values (for TCP, where the socket's 0600 does not protect them)
	mux     *http.ServeMux

	reloadMu sync.RWMutex
	reloader Reloader
}

// Reloader re-reads the config file and applies it. A file that is refused
// comes back as problems (with a nil error); nothing was changed then.
type Reloader func(ctx context.Context) (engine.ReloadReport, config.Problems, error)

// ReloadResult is the answer of POST /api/v1/reload-config.
type ReloadResult struct {
	OK       bool                `json:"ok"`
	Report   engine.ReloadReport `json:"report"`
	Errors   config.Problems     `json:"errors"`
	Warnings config.Problems     `json:"warnings"`
	Error    string              `json:"error,omitempty"`
}

// SetReloader installs what POST /api/v1/reload-config runs. Safe for
// concurrent use.
func (h *Handler) SetReloader(r Reloader) {
	h.reloadMu.Lock()
	h.reloader = r
	h.reloadMu.Unlock()
}

// NewHandler returns the API for sup. mutable allows the POST endpoints.
func NewHandler(sup *engine.Supervisor, info Info, mutable bool) *Handler {
	return newHandler(sup, info, mutable, false)
}

// NewPublicHandler returns the API for the TCP server: mutations allowed
// (the web server gates them behind settings.token) and the values of
// components' env hidden, since anyone who reaches the port may read it.
func NewPublicHandler(sup *engine.Supervisor, info Info) *Handler {
	return newHandler(sup, info, true, true)
}

func newHandler(sup *engine.Supervisor, info Info, mutable, redact bool) *Handler {
	h := &Handler{sup: sup, info: info, mutable: mutable, redact: redact, mux: http.NewServeMux()}
	h.mux.HandleFunc("GET /api/v1/info", h.getInfo)
	h.mux.HandleFunc("GET /api/v1/components", h.listComponents)
	h.mux.HandleFunc("GET /api/v1/components/{name}", h.getComponent)
	h.mux.HandleFunc("GET /api/v1/components/{name}/history", h.getHistory)
	h.mux.HandleFunc("GET /api/v1/events", h.listEvents)
	h.mux.HandleFunc("POST /api/v1/components/{name}/{action}", h.mutating(h.act))
	h.mux.HandleFunc("POST /api/v1/rotate", h.mutating(h.logAction(h.sup.Rotate)))
	h.mux.HandleFunc("POST /api/v1/flush", h.mutating(h.logAction(h.sup.Flush)))
	h.mux.HandleFunc("POST /api/v1/reload-config", h.mutating(h.reloadConfig))
	h.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such endpoint %s %s", r.Method, r.URL.Path))
	})
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, 1<<20)
	h.mux.ServeHTTP(w, r)
}

func (h *Handler) mutating(next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !h.mutable {
			writeError(w, http.StatusForbidden, "this endpoint is read-only; use the control socket or configure settings.token")
			return
		}
		next(w, r)
	}
}

// query parses r's query for an endpoint taking the allowed parameters;
// on a problem it answers 400 naming the parameter and returns nil.
func query(w http.ResponseWriter, r *http.Request, allowed ...string) *Query {
	q := NewQuery(r, allowed...)
	if err := q.Err(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return nil
	}
	return q
}

// refused answers 400 when reading q's values found a problem, reporting
// whether it did.
func (q *Query) refused(w http.ResponseWriter) bool {
	if err := q.Err(); err != nil {
		writeError(w, http.StatusBadRequest, err.Error())
		return true
	}
	return false
}

// componentParam reads the names of ?component= (names, "@TAG"s or all,
// separated by commas; nil when absent) for an endpoint taking only that
// parameter; on a problem it answers 400 and ok is false.
func componentParam(w http.ResponseWriter, r *http.Request) (names []string, ok bool) {
	q := query(w, r, "component")
	if q == nil {
		return nil, false
	}
	names = q.Names("component")
	return names, !q.refused(w)
}

func (h *Handler) getInfo(w http.ResponseWriter, r *http.Request) {
	if query(w, r) == nil {
		return
	}
	writeJSON(w, http.StatusOK, h.info)
}

// listComponents answers GET /api/v1/components: every component, or
// those ?component= selects (names, "@TAG"s or all, separated by commas;
// one that selects nothing is a 404).
func (h *Handler) listComponents(w http.ResponseWriter, r *http.Request) {
	names, ok := componentParam(w, r)
	if !ok {
		return
	}
	if names == nil {
		writeJSON(w, http.StatusOK, map[string]any{"components": h.sup.Status()})
		return
	}
	if _, err := h.sup.Resolve(names); err != nil {
		writeErr(w, err)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"components": h.selected(names)})
}

// getComponent answers GET /api/v1/components/NAME with the component's
// detail (describe --json NAME), and GET /api/v1/components/@TAG with a
// list of the details of every component tagged TAG (describe --json @TAG).
func (h *Handler) getComponent(w http.ResponseWriter, r *http.Request) {
	if query(w, r) == nil {
		return
	}
	name := r.PathValue("name")
	if !strings.HasPrefix(name, config.TagPrefix) {
		d, err := h.describe(name)
		if err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, d)
		return
	}
	tagged, err := h.sup.Resolve([]string{name})
	if err != nil {
		writeErr(w, err)
		return
	}
	details := make([]engine.Detail, 0, len(tagged))
	for _, n := range tagged {
		d, err := h.describe(n)
		if err != nil {
			writeErr(w, err)
			return
		}
		details = append(details, d)
	}
	writeJSON(w, http.StatusOK, details)
}

// describe returns a component's detail, its env values (env and every
// env_<profile>) hidden when this server redacts them.
func (h *Handler) describe(name string) (engine.Detail, error) {
	d, err := h.sup.Describe(name)
	if err != nil {
		return d, err
	}
	for key, v := range d.Config {
		env, ok := v.(map[string]any)
		if !ok || !h.redact || key != "env" && !strings.HasPrefix(key, "env_") {
			continue
		}
		hidden := make(map[string]any, len(env))
		for k := range env {
			hidden[k] = "(hidden)"
		}
		d.Config[key] = hidden // env and every env_<profile>
	}
	return d, nil
}

// listEvents returns events after ?since=SEQ; with ?wait=DURATION it blocks
// until at least one arrives or the duration passes (for `-f` style tails).
// With ?follow=1 it streams them instead (see followEvents).
func (h *Handler) listEvents(w http.ResponseWriter, r *http.Request) {
	q := query(w, r, "since", "component", "wait", "follow")
	if q == nil {
		return
	}
	since, names, follow, wait := q.Uint("since"), q.Names("component"), q.Bool("follow"), q.Duration("wait")
	if q.refused(w) {
		return
	}
	events, err := h.eventsOf(names)
	if err != nil {
		writeErr(w, err)
		return
	}
	if follow {
		h.followEvents(w, r, events, since, q.Has("since"))
		return
	}
	wait = min(wait, time.Minute)
	deadline := time.After(wait)
	for {
		ch := h.sup.WaitEvent()
		evs := events(since)
		if len(evs) > 0 || wait <= 0 {
			if evs == nil {
				evs = []engine.Event{}
			}
			writeJSON(w, http.StatusOK, map[string]any{"events": evs})
			return
		}
		select {
		case <-ch:
		case <-deadline:
			wait = 0
		case <-r.Context().Done():
			return
		}
	}
}

// eventsOf returns what reads the events after a sequence number of the
// components names selects (every component's when names is empty). A
// name is taken as given, so a component a reload adds later can be
// followed; an "@TAG" is resolved once, when the request arrives (an
// unknown tag is an error).
func (h *Handler) eventsOf(names []string) (func(since uint64) []engine.Event, error) {
	if len(names) == 0 {
		return func(since uint64) []engine.Event { return h.sup.Events(since, "", time.Time{}) }, nil
	}
	var sel []string
	for _, n := range names {
		if !strings.HasPrefix(n, config.TagPrefix) {
			sel = append(sel, n)
			continue
		}
		tagged, err := h.sup.Resolve([]string{n})
		if err != nil {
			return nil, err
		}
		sel = append(sel, tagged...)
	}
	slices.Sort(sel)
	sel = slices.Compact(sel)
	if len(sel) == 1 {
		return func(since uint64) []engine.Event { return h.sup.Events(since, sel[0], time.Time{}) }, nil
	}
	return func(since uint64) []engine.Event {
		var out []engine.Event
		for _, ev := range h.sup.Events(since, "", time.Time{}) {
			if slices.Contains(sel, ev.Component) {
				out = append(out, ev)
			}
		}
		return out
	}, nil
}

// Server-sent events: a comment line every streamHeartbeat keeps proxies and
// idle timers from cutting a quiet stream, and lets the server notice a
// client that went away; each write must finish within streamWriteTimeout.
const (
	streamHeartbeat    = 15 * time.Second
	streamWriteTimeout = 30 * time.Second
)

// followEvents answers GET /api/v1/events?follow=1 with a stream of
// server-sent events (text/event-stream): one "id: SEQ" and "data: EVENT
// JSON" pair per event, as they happen, until the client goes away or the
// server shuts down (the stream then ends cleanly). ?since=SEQ, or the
// Last-Event-ID header a reconnecting EventSource sends, first replays the
// stored events after SEQ; without either the stream starts with the next
// event. The response headers are sent at once: a client that has them
// will see every event from then on. It waits on the engine's event ring,
// never polls. since and replay come from ?since.
func (h *Handler) followEvents(w http.ResponseWriter, r *http.Request, events func(since uint64) []engine.Event, since uint64, replay bool) {
	// A reconnecting EventSource keeps its URL: its Last-Event-ID wins.
	if n, err := strconv.ParseUint(r.Header.Get("Last-Event-ID"), 10, 64); err == nil {
		since, replay = n, true
	}
	changed := h.sup.WaitEvent()
	if !replay {
		// Start after the newest event; changed was taken first, so an
		// event that lands meanwhile is not missed.
		if evs := h.sup.Events(0, "", time.Time{}); len(evs) > 0 {
			since = evs[len(evs)-1].Seq
		}
	}
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", "text/event-stream")
	hdr.Set("Cache-Control", "no-store")
	hdr.Set("X-Accel-Buffering", "no") // nginx: do not buffer the stream
	w.WriteHeader(http.StatusOK)
	// Tell EventSource to reconnect after 2s, and get the headers out now.
	if !h.streamWrite(w, rc, "retry: 2000\n\n") {
		return
	}
	beat := time.NewTicker(streamHeartbeat)
	defer beat.Stop()
	// send writes the events after since, reporting whether the client
	// still listens.
	send := func() bool {
		var b strings.Builder
		for _, ev := range events(since) {
			data, _ := json.Marshal(ev)
			fmt.Fprintf(&b, "id: %d\ndata: %s\n\n", ev.Seq, data)
			since = ev.Seq
		}
		return b.Len() == 0 || h.streamWrite(w, rc, b.String())
	}
	for {
		if !send() {
			return
		}
		select {
		case <-changed:
			changed = h.sup.WaitEvent() // before send reads, so nothing is missed
		case <-beat.C:
			if !h.streamWrite(w, rc, ": keepalive\n\n") {
				return
			}
		case <-r.Context().Done():
			// Shutting down or the client left: send what happened last
			// (the final stops), then end the stream.
			send()
			return
		}
	}
}

// streamWrite writes and flushes s within streamWriteTimeout, reporting
// whether the client still listens.
func (h *Handler) streamWrite(w http.ResponseWriter, rc *http.ResponseController, s string) bool {
	_ = rc.SetWriteDeadline(time.Now().Add(streamWriteTimeout))
	if _, err := io.WriteString(w, s); err != nil {
		return false
	}
	return rc.Flush() == nil
}

func (h *Handler) act(w http.ResponseWriter, r *http.Request) {
	names := strings.Split(r.PathValue("name"), ",")
	action := r.PathValue("action")
	allowed := []string{"no_wait"}
	switch action {
	case "signal":
		allowed = []string{"signal"}
	case "reset":
		allowed = nil
	case "scale":
		allowed = []string{"instances", "no_wait"}
	}
	q := query(w, r, allowed...)
	if q == nil {
		return
	}
	wait := !q.Bool("no_wait")
	count := 0
	if action == "scale" {
		if !q.Has("instances") {
			writeError(w, http.StatusBadRequest, (&QueryError{Param: "instances", Msg: "missing; give the instance count, like ?instances=4"}).Error())
			return
		}
		count = q.Int("instances", 0, 1)
	}
	if q.refused(w) {
		return
	}
	ctx := r.Context()
	var (
		err      error
		answered []engine.Status // the components as the answer shows them; nil: as they are after the action
	)
	switch action {
	case "start":
		err = h.sup.Start(ctx, names, wait)
	case "stop":
		err = h.sup.Stop(ctx, names, wait)
	case "restart":
		err = h.sup.Restart(ctx, names, policies.ReasonManual, wait)
	case "reload":
		// Reason "reload": an overlap restart where restart_mode says so.
		err = h.sup.Restart(ctx, names, policies.ReasonReload, wait)
	case "signal":
		var sig config.Signal
		sig, err = config.ParseSignal(q.String("signal"))
		if err != nil {
			writeError(w, http.StatusBadRequest, (&QueryError{Param: "signal", Msg: err.Error()}).Error())
			return
		}
		// The answer names the processes signalled: a signal that ends
		// them (SIGHUP ends a sleep) must not leave "no process" behind.
		answered = h.selected(names)
		err = h.sup.Signal(ctx, names, syscall.Signal(sig))
	case "reset":
		err = h.sup.Reset(ctx, names)
	case "scale":
		if len(names) != 1 || names[0] == "all" {
			writeError(w, http.StatusBadRequest, "scale takes one component name or @tag, not all")
			return
		}
		if err = h.sup.Scale(ctx, names[0], count, wait); errors.Is(err, engine.ErrBadCount) {
			writeError(w, http.StatusBadRequest, (&QueryError{Param: "instances", Msg: err.Error()}).Error())
			return
		}
	default:
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown action %q; use start, stop, restart, reload, signal, reset or scale", action))
		return
	}
	if err != nil {
		writeErr(w, err)
		return
	}
	if answered == nil {
		answered = h.selected(names)
	}
	writeJSON(w, http.StatusOK, map[string]any{"components": answered})
}

// selected returns the status of the components names selects (names,
// "@TAG", "all"), in declaration order.
func (h *Handler) selected(names []string) []engine.Status {
	sel, _ := h.sup.Resolve(names)
	var out []engine.Status
	for _, st := range h.sup.Status() {
		if slices.Contains(sel, st.Name) {
			out = append(out, st)
		}
	}
	return out
}

// logAction serves rotate and flush: ?component=a,b (all when absent).
func (h *Handler) logAction(do func([]string) error) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		names, ok := componentParam(w, r)
		if !ok {
			return
		}
		if err := do(names); err != nil {
			writeErr(w, err)
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"ok": true})
	}
}

func (h *Handler) reloadConfig(w http.ResponseWriter, r *http.Request) {
	if query(w, r) == nil {
		return
	}
	h.reloadMu.RLock()
	reload := h.reloader
	h.reloadMu.RUnlock()
	if reload == nil {
		writeError(w, http.StatusNotImplemented, "this thorp cannot reload its config; restart it to apply changes")
		return
	}
	rep, problems, err := reload(r.Context())
	res := ReloadResult{OK: err == nil && problems.Err() == nil, Report: rep,
		Errors: nonNil(problems.Errors()), Warnings: nonNil(problems.Warnings())}
	code := http.StatusOK
	switch {
	case problems.Err() != nil:
		res.Error = "the config has errors; nothing was changed"
		code = http.StatusUnprocessableEntity
	case err != nil:
		res.Error = err.Error()
		code = http.StatusConflict
	}
	writeJSON(w, code, res)
}

// nonNil is s, or an empty slice for nil: JSON [] rather than null.
func nonNil[S ~[]E, E any](s S) S {
	if s == nil {
		return S{}
	}
	return s
}

func writeErr(w http.ResponseWriter, err error) {
	code := http.StatusInternalServerError
	switch {
	case errors.Is(err, engine.ErrUnknownComponent):
		code = http.StatusNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		code = http.StatusGatewayTimeout
	default:
		code = http.StatusConflict
	}
	writeError(w, code, err.Error())
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

// ListenControl creates the control socket at path with mode 0600. A stale
// socket (one nothing answers on) is removed first; a live one is an error
// naming the running thorp, and anything else at path (a regular file, a
// directory, a symlink) is an error and stays untouched (see
// engine/sockfile). Closing the listener removes the socket file only
// while it is still the one this call created.
func ListenControl(path string) (net.Listener, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("control socket directory: %w", err)
	}
	if err := sockfile.Clear(path); err != nil {
		if errors.Is(err, sockfile.ErrLive) {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			info, ierr := NewClient(path).Info(ctx)
			cancel()
			if ierr == nil {
				return nil, fmt.Errorf("a thorp (pid %d) is already running with this config's control socket %s; stop it with 'thorp down' or use another config", info.PID, path)
			}
		}
		return nil, fmt.Errorf("control socket: %w", err)
	}
	old := syscall.Umask(0o177)
	l, err := net.Listen("unix", path)
	syscall.Umask(old)
	if err != nil {
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	l.(*net.UnixListener).SetUnlinkOnClose(false) // removed by Bound.Remove
	bound, err := sockfile.Mark(path)
	if err == nil {
		err = os.Chmod(path, 0o600)
	}
	if err != nil {
		l.Close()
		_ = bound.Remove()
		return nil, fmt.Errorf("control socket %s: %w", path, err)
	}
	return &peerListener{Listener: l, uid: os.Geteuid(), bound: bound}, nil
}

// peerListener accepts only connections from thorp's own user or root,
// checked with SO_PEERCRED: the socket's 0600 mode is the first fence,
// this is the second (a mode widened by hand, a socket dir shared).
type peerListener struct {
	net.Listener
	uid   int
	bound sockfile.Bound
	once  sync.Once
}

// Close closes the listener and removes the socket file it created (once).
func (l *peerListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { _ = l.bound.Remove() })
	return err
}

// Accept returns the next connection from an allowed peer; others are
// closed at once.
func (l *peerListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if uid, ok := peerUID(c); ok && (uid == l.uid || uid == 0) {
			return c, nil
		}
		c.Close()
	}
}

// peerUID returns the uid of the process at the other end of a unix socket.
func peerUID(c net.Conn) (int, bool) {
	uc, ok := c.(*net.UnixConn)
	if !ok {
		return 0, false
	}
	raw, err := uc.SyscallConn()
	if err != nil {
		return 0, false
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil || cerr != nil {
		return 0, false
	}
	return int(cred.Uid), true
}

// NewServer returns an http.Server with thorp's timeouts around h.
func NewServer(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Mutations wait for processes (a stop can take kill_timeout), so
		// the write timeout is generous; reads answer at once.
		WriteTimeout:   10 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
}
