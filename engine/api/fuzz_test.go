package api

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// fuzzRequestTimeout bounds one request: long enough for a quick action,
// short enough that ?wait= and ?follow=1 end fast.
const fuzzRequestTimeout = 100 * time.Millisecond

// FuzzHandler drives the control API handler (mutable, with a reloader)
// with arbitrary methods, paths, queries, headers and bodies against a live
// supervisor. Every answer is well-formed: a JSON object (or, for
// ?follow=1, a server-sent event stream), with a status below 500 except
// the documented 504 (the request's context ended first) and ServeMux's
// redirects of unclean paths (3xx with a Location). It never panics.
func FuzzHandler(f *testing.F) {
	for _, s := range []struct{ method, path, query, body string }{
		{"GET", "/api/v1/info", "", ""},
		{"GET", "/api/v1/components", "", ""},
		{"GET", "/api/v1/components/svc", "", ""},
		{"GET", "/api/v1/components/nope", "", ""},
		{"GET", "/api/v1/events", "since=3&component=svc", ""},
		{"GET", "/api/v1/events", "since=garbage&wait=5ms", ""},
		{"GET", "/api/v1/events", "follow=1", ""},
		{"POST", "/api/v1/components/svc/restart", "no_wait=1", ""},
		{"POST", "/api/v1/components/svc,nope/stop", "", "{}"},
		{"POST", "/api/v1/components/all/signal", "signal=SIGBOGUS", ""},
		{"POST", "/api/v1/components/svc/explode", "", ""},
		{"POST", "/api/v1/rotate", "component=svc", ""},
		{"POST", "/api/v1/flush", "component=nope", ""},
		{"POST", "/api/v1/reload-config", "", `{"x":1}`},
		{"DELETE", "/api/v1/info", "", ""},
		{"GET", "/%2e%2e/api/v1/info", "%zz", "\x00"},
	} {
		f.Add(s.method, s.path, s.query, s.body)
	}
	_, sup := startAPI(f, true)
	h := NewHandler(sup, Info{PID: os.Getpid(), Version: "fuzz"}, true)
	h.SetReloader(func(ctx context.Context) (engine.ReloadReport, config.Problems, error) {
		return engine.ReloadReport{}, nil, nil
	})
	f.Fuzz(func(t *testing.T, method, path, query, body string) {
		if method == "" || strings.IndexFunc(method, func(r rune) bool { return r <= ' ' || r >= 0x7f || strings.ContainsRune(`()<>@,;:\"/[]?={}`, r) }) >= 0 {
			return // a server rejects such a request line before any handler
		}
		ctx, cancel := context.WithTimeout(context.Background(), fuzzRequestTimeout)
		defer cancel()
		r := httptest.NewRequestWithContext(ctx, http.MethodGet, "/", bytes.NewReader([]byte(body)))
		r.Method = method
		r.URL = &url.URL{Path: path, RawQuery: query}
		r.RequestURI = r.URL.RequestURI()
		r.Header.Set("Last-Event-ID", query)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		res := w.Result()
		switch code := res.StatusCode; {
		case code >= 300 && code < 400:
			if res.Header.Get("Location") == "" {
				t.Fatalf("%s %q ?%q: redirect %d without Location", method, path, query, code)
			}
			return
		case code >= 500 && code != http.StatusGatewayTimeout:
			t.Fatalf("%s %q ?%q: status %d: %s", method, path, query, code, w.Body.Bytes())
		}
		if ct := res.Header.Get("Content-Type"); ct == "text/event-stream" {
			for line := range strings.SplitSeq(w.Body.String(), "\n") {
				if line != "" && !strings.HasPrefix(line, "retry: ") && !strings.HasPrefix(line, "id: ") && !strings.HasPrefix(line, "data: {") && !strings.HasPrefix(line, ": ") {
					t.Fatalf("%s %q ?%q: bad event stream line %q", method, path, query, line)
				}
			}
			return
		} else if ct != "application/json" {
			t.Fatalf("%s %q ?%q: status %d, Content-Type %q: %q", method, path, query, res.StatusCode, ct, w.Body.Bytes())
		}
		var v map[string]any
		dec := json.NewDecoder(w.Body)
		if err := dec.Decode(&v); err != nil || dec.More() {
			t.Fatalf("%s %q ?%q: status %d, not one JSON object (%v): %q", method, path, query, res.StatusCode, err, w.Body.Bytes())
		}
		if msg, isErr := v["error"]; res.StatusCode >= 400 && (!isErr || msg == "") {
			t.Fatalf("%s %q ?%q: status %d without an error message: %q", method, path, query, res.StatusCode, w.Body.Bytes())
		}
	})
}
