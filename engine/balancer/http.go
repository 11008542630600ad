package balancer

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/thorp-dev/thorp/engine/promlabel"
)

// http mode's server timeouts: no write timeout, so that long responses
// and streams are not cut (the idle timeout is in park.go).
const (
	readHeaderTimeout = 30 * time.Second
	// backendIdle closes idle keep-alive connections to a backend before
	// the backend would (Node.js closes them after 5 s): a request sent
	// on a connection the backend is closing fails.
	backendIdle       = 4 * time.Second
	maxIdlePerBackend = 256
)

// statusClientGone counts, in Stats.Requests, requests whose client went
// away before a response came (nginx's 499); nothing is sent.
const statusClientGone = 499

// errNoBackend is the proxy error of a request that found no backend in
// rotation within the queue timeout; it is answered 503.
var errNoBackend = errors.New("no backend in rotation")

// httpProxy is http mode: an http.Server in front of an
// httputil.ReverseProxy whose Transport is the httpProxy itself, which
// picks a backend per request.
type httpProxy struct {
	b   *Balancer
	srv *http.Server
	rp  *httputil.ReverseProxy

	set   *metrics.Set
	hist  *metrics.PrometheusHistogram
	codes [600]atomic.Uint64 // responses by status code

	// Parking (park.go).
	returned      *returnedConns
	sinceCollect  atomic.Int64 // connections parked since the last collection
	collectMu     sync.Mutex
	collect       *time.Timer // the scheduled collection
	lastCollect   time.Time
	collectClosed bool
}

func newHTTPProxy(b *Balancer, component string) *httpProxy {
	h := &httpProxy{b: b, set: metrics.NewSet(), returned: newReturnedConns(b.ln.Addr())}
	h.hist = h.set.NewPrometheusHistogram(`thorp_proxy_request_duration_seconds{component="` + promlabel.Escape(component) + `"}`)
	errorLog := log.New(b.warn, "", 0)
	h.rp = &httputil.ReverseProxy{
		Rewrite:        rewrite,
		Transport:      h,
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.errorHandler,
		ErrorLog:       errorLog,
		BufferPool:     bufferPool{},
	}
	h.srv = &http.Server{
		Handler:           h,
		ReadHeaderTimeout: readHeaderTimeout,
		IdleTimeout:       parkAfter, // then the connection is parked
		ErrorLog:          errorLog,
		BaseContext:       func(net.Listener) context.Context { return b.ctx },
		ConnState:         h.connState,
	}
	return h
}

// newTransport returns the keep-alive pool of one backend for requests
// with a body.
func (h *httpProxy) newTransport() *http.Transport {
	return &http.Transport{
		DialContext:           dialBackend,
		MaxIdleConnsPerHost:   maxIdlePerBackend,
		IdleConnTimeout:       backendIdle,
		DisableCompression:    true,
		ExpectContinueTimeout: time.Second,
	}
}

// serve runs the http.Server until Close, on the listener and on the
// parked connections handed back.
func (h *httpProxy) serve() {
	defer h.b.wg.Done()
	defer close(h.b.accepted)
	h.b.wg.Add(1)
	go func() {
		defer h.b.wg.Done()
		h.srv.Serve(h.returned) // returns at Close
	}()
	if err := h.srv.Serve(clientListener{h.b.ln, h}); !errors.Is(err, http.ErrServerClosed) && !h.b.ln.stopped.Load() {
		h.b.warn.warn("accept", "proxy listener failed, no longer accepting", "err", err)
	}
}

// close stops the server and closes every client connection; Close has
// cancelled every request, which ends upgraded connections too.
func (h *httpProxy) close() error {
	h.stopCollect()
	return h.srv.Close()
}

// connState counts client connections (a parked one handed back is not
// new) and makes each one's goroutine part of the Balancer's wait group
// while it serves requests.
func (h *httpProxy) connState(c net.Conn, state http.ConnState) {
	cc, _ := c.(*clientConn)
	switch state {
	case http.StateNew:
		if cc == nil || !cc.returned {
			h.b.connections.Add(1)
		}
		h.b.wg.Add(1)
	case http.StateHijacked, http.StateClosed:
		h.b.wg.Done()
	}
	if cc != nil {
		cc.connState(state)
	}
}

// ServeHTTP proxies one request and records its duration; a response cut
// short by either side is counted as a reset.
func (h *httpProxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.b.wg.Add(1) // a hijacked connection's handler outlives its ConnState
	defer h.b.wg.Done()
	start := time.Now()
	defer func() {
		h.hist.UpdateDuration(start)
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				h.b.count(kindReset)
			}
			panic(v)
		}
	}()
	h.rp.ServeHTTP(w, r)
}

// rewrite sets the X-Forwarded headers; the backend's address is set by
// RoundTrip and the client's Host header is kept.
func rewrite(pr *httputil.ProxyRequest) {
	pr.SetXForwarded()
	pr.Out.URL.Scheme = "http"
}

// RoundTrip sends req to a backend, picked per request, and retries it on
// another backend when it failed before a response and may be sent again.
func (h *httpProxy) RoundTrip(req *http.Request) (*http.Response, error) {
	var (
		res  *http.Response
		err  error
		body = req.Body
	)
	switch h.b.dispatch(req.Context().Done(), func(be *Backend) outcome {
		req.URL.Host = be.addr
		if body != nil && body != http.NoBody {
			// The Transport writes the body while it reads the response,
			// which a backend may send before reading all of the body.
			req.Body = &attemptBody{ReadCloser: body}
			res, err = be.tr.RoundTrip(req)
		} else {
			res, err = be.conns.roundTrip(req)
		}
		if err == nil {
			res.Body = newBody(res.Body, be)
			return succeeded
		}
		be.release()
		if req.Context().Err() != nil {
			return failed
		}
		kind := errKind(err)
		if kind < 0 {
			kind = kindReset
		}
		h.b.count(kind)
		h.b.warn.warn("backend "+be.addr, "proxy request to backend failed", "instance", be.instance, "pid", be.pid, "addr", be.addr, "err", err)
		var op *net.OpError
		switch {
		case errors.As(err, &op) && op.Op == "dial":
			return retry // never reached the backend: its body, if any, is unread
		case replayable(req):
			return retryOnce
		}
		return failed
	}) {
	case served:
		return res, nil
	case noBackend:
		return nil, errNoBackend
	case gone:
		return nil, req.Context().Err()
	}
	return nil, err
}

// attemptBody is a request body as one attempt sees it: the Transport
// closes it when the attempt ends, which leaves the body itself open (and
// still unread when the dial failed) for the next attempt. ReverseProxy
// closes the body itself.
type attemptBody struct {
	io.ReadCloser
	closed atomic.Bool
}

var errAttemptOver = errors.New("read from the body of a failed attempt")

func (a *attemptBody) Read(p []byte) (int, error) {
	if a.closed.Load() {
		return 0, errAttemptOver
	}
	return a.ReadCloser.Read(p)
}

func (a *attemptBody) Close() error {
	a.closed.Store(true)
	return nil
}

// replayable reports whether req, which reached a backend and failed
// before any response, may be sent to another: it has no body and is
// idempotent.
func replayable(req *http.Request) bool {
	if req.Body != nil && req.Body != http.NoBody {
		return false // attemptBody: maybe partly sent
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

// modifyResponse counts the response by status code.
func (h *httpProxy) modifyResponse(res *http.Response) error {
	h.countCode(res.StatusCode)
	return nil
}

// errorHandler answers a request that got no response: 503 when no
// backend was in rotation, 502 otherwise.
func (h *httpProxy) errorHandler(w http.ResponseWriter, r *http.Request, err error) {
	code := http.StatusBadGateway
	switch {
	case r.Context().Err() != nil:
		h.countCode(statusClientGone)
		h.b.count(kindReset)
		return
	case errors.Is(err, errNoBackend):
		code = http.StatusServiceUnavailable
	default:
		h.b.warn.warn("proxy error", "proxy request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	h.countCode(code)
	http.Error(w, http.StatusText(code), code)
}

func (h *httpProxy) countCode(code int) {
	if code >= 0 && code < len(h.codes) {
		h.codes[code].Add(1)
	}
}

// requests returns the responses by status code.
func (h *httpProxy) requests() map[string]uint64 {
	out := map[string]uint64{}
	for code := range h.codes {
		if n := h.codes[code].Load(); n > 0 {
			out[strconv.Itoa(code)] = n
		}
	}
	return out
}

// body is a response body that counts its request as active on be until
// it is closed.
type body struct {
	io.ReadCloser
	be     *Backend
	closed atomic.Bool
}

// upgradeBody is the body of a 101 response: the upgraded connection,
// which ReverseProxy needs to write to as well.
type upgradeBody struct {
	*body
	io.Writer
}

func newBody(rc io.ReadCloser, be *Backend) io.ReadCloser {
	b := &body{ReadCloser: rc, be: be}
	if w, ok := rc.(io.Writer); ok {
		return upgradeBody{b, w}
	}
	return b
}

// Close closes the body and ends the request on its backend, once.
func (b *body) Close() error {
	err := b.ReadCloser.Close()
	if !b.closed.Swap(true) {
		b.be.release()
	}
	return err
}

// bufferPool lends ReverseProxy its copy buffers.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { return new([32 << 10]byte) }}

func (bufferPool) Get() []byte  { return buffers.Get().(*[32 << 10]byte)[:] }
func (bufferPool) Put(b []byte) { buffers.Put((*[32 << 10]byte)(b)) }
