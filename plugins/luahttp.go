package plugins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/thorp-dev/thorp/engine/config"
)

// MaxHTTPBody is the largest response body thorp.http returns; a longer
// one is a Lua error.
const MaxHTTPBody = config.MiB

// maxRedirects is how many redirects thorp.http follows.
const maxRedirects = 10

var httpFields = []string{"method", "url", "headers", "body", "json", "timeout"}

// luaHTTP is thorp.http{ method, url, headers, body | json, timeout }:
// one request to an allowed host, returning { status, headers, body }.
// It waits on the owner goroutine, holding the call's deadline off for
// its timeout.
func (e *evaluator) luaHTTP(L *lua.LState, null lua.LValue) int {
	const fn = "thorp.http"
	e.refuseWhileLoading(L, fn)
	t := argTable(L, fn, `thorp.http{ url = "http://127.0.0.1:8080/hook", method = "POST", json = { text = "hi" } }`, httpFields...)
	method := strings.ToUpper(optString(L, fn, t, "method", http.MethodGet))
	rawURL := optString(L, fn, t, "url", "")
	headers := stringMap(L, fn, t, "headers")
	timeout := waitTimeout(L, fn, t)
	if rawURL == "" {
		L.RaiseError("%s: url is required", fn)
	}

	var body string
	contentType := ""
	switch b, j := t.RawGetString("body"), t.RawGetString("json"); {
	case b != lua.LNil && j != lua.LNil:
		L.RaiseError("%s: give body or json, not both", fn)
	case j != lua.LNil:
		data, err := encodeJSON(j, null)
		if err != nil {
			L.RaiseError("%s: json: %v", fn, err)
		}
		body, contentType = string(data), "application/json"
	case b != lua.LNil:
		body = optString(L, fn, t, "body", "")
	}

	u, err := url.Parse(rawURL)
	switch {
	case err != nil:
		L.RaiseError("%s: bad url: %v", fn, err)
	case u.Scheme != "http" && u.Scheme != "https":
		L.RaiseError("%s: url %q: the scheme must be http or https", fn, rawURL)
	case u.Hostname() == "":
		L.RaiseError("%s: url %q has no host", fn, rawURL)
	case !e.grants.host(u.Hostname()):
		L.RaiseError("%s: host %q is not in settings.plugins.allow_hosts (loopback is always allowed)", fn, u.Hostname())
	}
	ctx, cancel := context.WithTimeout(callContext(L), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, u.String(), strings.NewReader(body))
	if err != nil {
		L.RaiseError("%s: %v", fn, err)
	}
	req.Header.Set("User-Agent", "thorp/"+e.opts.Version)
	for k, v := range headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v // net/http takes the Host header from here only
			continue
		}
		req.Header.Set(k, v)
	}
	if contentType != "" && req.Header.Get("Content-Type") == "" {
		req.Header.Set("Content-Type", contentType)
	}

	release := deadlineOf(L.Context()).hold(timeout)
	resp, data, err := e.fetch(req)
	release()
	if err != nil {
		L.RaiseError("%s: %s %s: %s", fn, method, u.Redacted(), httpError(err, ctx, timeout))
	}
	res := L.CreateTable(0, 3)
	res.RawSetString("status", lua.LNumber(resp.StatusCode))
	h := L.CreateTable(0, len(resp.Header))
	for k, vs := range resp.Header {
		h.RawSetString(strings.ToLower(k), lua.LString(strings.Join(vs, ", ")))
	}
	res.RawSetString("headers", h)
	res.RawSetString("body", lua.LString(data))
	L.Push(res)
	return 1
}

// fetch does req, following redirects only to allowed hosts, and reads
// the response body up to MaxHTTPBody. The connection is not kept: no
// goroutine of the transport outlives the call.
func (e *evaluator) fetch(req *http.Request) (*http.Response, []byte, error) {
	tr := &http.Transport{
		Proxy:               http.ProxyFromEnvironment,
		DisableKeepAlives:   true,
		ForceAttemptHTTP2:   true,
		TLSHandshakeTimeout: 10 * time.Second,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{
		Transport: tr,
		CheckRedirect: func(next *http.Request, via []*http.Request) error {
			if len(via) >= maxRedirects {
				return fmt.Errorf("stopped after %d redirects", maxRedirects)
			}
			if h := next.URL.Hostname(); !e.grants.host(h) {
				return fmt.Errorf("redirect to host %q, which is not in settings.plugins.allow_hosts", h)
			}
			return nil
		},
	}
	resp, err := client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, int64(MaxHTTPBody)+1))
	if err != nil {
		return nil, nil, fmt.Errorf("reading the response body: %w", err)
	}
	if len(data) > int(MaxHTTPBody) {
		return nil, nil, fmt.Errorf("response body over %s", MaxHTTPBody)
	}
	return resp, data, nil
}

// httpError says why a request failed, without repeating its URL.
func httpError(err error, ctx context.Context, timeout time.Duration) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded) && errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("no response within %s (its timeout)", timeout)
	case ctx.Err() != nil && errors.Is(err, context.Canceled):
		return "cancelled (the call was stopped)"
	}
	return err.Error()
}

// callContext is the context of the call running in L (its deadline's
// and the state's closing), Background when none is installed.
func callContext(L *lua.LState) context.Context {
	if ctx := L.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
