package api

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"syscall"

	"github.com/thorp-dev/thorp/engine"
)

// ErrNotRunning means no thorp answers on the control socket.
var ErrNotRunning = errors.New("no running thorp")

// Client talks to a running thorp over its control socket. It is safe for
// concurrent use.
type Client struct {
	socket string
	http   *http.Client
}

// NewClient returns a client for the control socket at path.
func NewClient(path string) *Client {
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		},
		DisableCompression: true,
	}
	return &Client{socket: path, http: &http.Client{Transport: tr}}
}

// APIError is an error the server answered with.
type APIError struct {
	Status  int
	Message string
}

// Error returns the message the server sent.
func (e *APIError) Error() string { return e.Message }

func (c *Client) do(ctx context.Context, method, path string, q url.Values, out any) error {
	resp, err := c.send(ctx, method, path, q)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode >= 300 {
		if out != nil {
			_ = json.Unmarshal(body, out) // error bodies may carry details (reload problems)
		}
		return responseError(resp.StatusCode, body)
	}
	if out == nil {
		return nil
	}
	return json.Unmarshal(body, out)
}

// responseError is the APIError of a response with status code and body.
func responseError(code int, body []byte) *APIError {
	var e struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(body))
	}
	return &APIError{Status: code, Message: e.Error}
}

// send makes a request and returns the response, whose body the caller
// closes. A thorp that is not there is ErrNotRunning.
func (c *Client) send(ctx context.Context, method, path string, q url.Values) (*http.Response, error) {
	u := "http://thorp" + path
	if len(q) > 0 {
		u += "?" + q.Encode()
	}
	req, err := http.NewRequestWithContext(ctx, method, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := c.http.Do(req)
	if err != nil {
		if errors.Is(err, syscall.ENOENT) || errors.Is(err, syscall.ECONNREFUSED) {
			return nil, fmt.Errorf("%w for this config (nothing listens on %s); start one with 'thorp run' or 'thorp up'", ErrNotRunning, c.socket)
		}
		return nil, fmt.Errorf("control socket %s: %w", c.socket, err)
	}
	return resp, nil
}

// Info returns what the running thorp says about itself.
func (c *Client) Info(ctx context.Context) (Info, error) {
	var info Info
	err := c.do(ctx, http.MethodGet, "/api/v1/info", nil, &info)
	return info, err
}

// Components returns every component's status.
func (c *Client) Components(ctx context.Context) ([]engine.Status, error) {
	var out struct {
		Components []engine.Status `json:"components"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/components", nil, &out)
	return out.Components, err
}

// Describe returns one component's detail.
func (c *Client) Describe(ctx context.Context, name string) (engine.Detail, error) {
	var d engine.Detail
	err := c.do(ctx, http.MethodGet, "/api/v1/components/"+url.PathEscape(name), nil, &d)
	return d, err
}

// DescribeTag returns the detail of every component tagged tag ("@web"),
// in declaration order.
func (c *Client) DescribeTag(ctx context.Context, tag string) ([]engine.Detail, error) {
	var ds []engine.Detail
	err := c.do(ctx, http.MethodGet, "/api/v1/components/"+url.PathEscape(tag), nil, &ds)
	return ds, err
}

// Events returns events after seq; wait > "" blocks server-side up to that duration.
func (c *Client) Events(ctx context.Context, since uint64, component, wait string) ([]engine.Event, error) {
	q := url.Values{"since": {fmt.Sprint(since)}}
	if component != "" {
		q.Set("component", component)
	}
	if wait != "" {
		q.Set("wait", wait)
	}
	var out struct {
		Events []engine.Event `json:"events"`
	}
	err := c.do(ctx, http.MethodGet, "/api/v1/events", q, &out)
	return out.Events, err
}

// Act runs action (start, stop, restart, reload) on names ("all" for every
// component); with wait it returns when the outcome is known.
func (c *Client) Act(ctx context.Context, action string, names []string, wait bool) ([]engine.Status, error) {
	q := url.Values{}
	if !wait {
		q.Set("no_wait", "1")
	}
	var out struct {
		Components []engine.Status `json:"components"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/components/"+url.PathEscape(strings.Join(names, ","))+"/"+action, q, &out)
	return out.Components, err
}

// Signal sends sig (a name like "SIGHUP" or "HUP") to names' process
// groups and returns the status of the components it signalled.
func (c *Client) Signal(ctx context.Context, sig string, names []string) ([]engine.Status, error) {
	q := url.Values{"signal": {sig}}
	var out struct {
		Components []engine.Status `json:"components"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/components/"+url.PathEscape(strings.Join(names, ","))+"/signal", q, &out)
	return out.Components, err
}

// Reset zeroes the restart counters and last restart reason of names
// ("all" for every component) and returns their status.
func (c *Client) Reset(ctx context.Context, names []string) ([]engine.Status, error) {
	var out struct {
		Components []engine.Status `json:"components"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/components/"+url.PathEscape(strings.Join(names, ","))+"/reset", nil, &out)
	return out.Components, err
}

// Scale makes name run n instances until its config's instances value
// changes; with wait it returns once the added instances run or the
// removed ones are gone, with the component's status.
func (c *Client) Scale(ctx context.Context, name string, n int, wait bool) ([]engine.Status, error) {
	q := url.Values{"instances": {fmt.Sprint(n)}}
	if !wait {
		q.Set("no_wait", "1")
	}
	var out struct {
		Components []engine.Status `json:"components"`
	}
	err := c.do(ctx, http.MethodPost, "/api/v1/components/"+url.PathEscape(name)+"/scale", q, &out)
	return out.Components, err
}

// ReloadConfig asks thorp to re-read and apply its config file. A refused
// file is not an error here: res.OK is false and res.Errors lists why.
func (c *Client) ReloadConfig(ctx context.Context) (ReloadResult, error) {
	var res ReloadResult
	err := c.do(ctx, http.MethodPost, "/api/v1/reload-config", nil, &res)
	var apiErr *APIError
	if errors.As(err, &apiErr) && apiErr.Status == http.StatusUnprocessableEntity {
		return res, nil
	}
	return res, err
}

// Rotate rotates the logs of names (all when empty).
func (c *Client) Rotate(ctx context.Context, names []string) error {
	return c.logAction(ctx, "rotate", names)
}

// Flush empties the current logs of names (all when empty).
func (c *Client) Flush(ctx context.Context, names []string) error {
	return c.logAction(ctx, "flush", names)
}

func (c *Client) logAction(ctx context.Context, action string, names []string) error {
	q := url.Values{}
	if len(names) > 0 {
		q.Set("component", strings.Join(names, ","))
	}
	return c.do(ctx, http.MethodPost, "/api/v1/"+action, q, nil)
}
