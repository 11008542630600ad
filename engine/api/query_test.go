package api

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// rawDo sends method target (path and raw query) over the control socket
// and returns the status and the error message of the answer.
func rawDo(t *testing.T, c *Client, method, target string) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, method, "http://thorp"+target, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var e struct {
		Error string `json:"error"`
	}
	_ = json.Unmarshal(body, &e)
	return resp.StatusCode, e.Error
}

// TestHandler_BadQuery: on the control socket every parameter the API takes
// is validated; a bad one is a 400 that names it, and changes nothing.
func TestHandler_BadQuery(t *testing.T) {
	sock, sup := startAPI(t, true)
	c := NewClient(sock)
	for _, tt := range []struct{ method, target, param string }{
		{"GET", "/api/v1/events?since=garbage", `"since"`},
		{"GET", "/api/v1/events?since=-1", `"since"`},
		{"GET", "/api/v1/events?since=1&since=2", `"since"`},
		{"GET", "/api/v1/events?follow=1&since=garbage", `"since"`},
		{"GET", "/api/v1/events?wait=soon", `"wait"`},
		{"GET", "/api/v1/events?wait=-1s", `"wait"`},
		{"GET", "/api/v1/events?follow=maybe", `"follow"`},
		{"GET", "/api/v1/events?component=no%20such%20name", `"component"`},
		{"GET", "/api/v1/events?component=", `"component"`},
		{"GET", "/api/v1/events?sinse=3", `"sinse"`},
		{"GET", "/api/v1/events?%zz", `query: `},
		{"GET", "/api/v1/info?x=1", `"x"`},
		{"GET", "/api/v1/components?window=1m", `"window"`},
		{"GET", "/api/v1/components?component=svc,bad!", `"component"`},
		{"GET", "/api/v1/components?component=", `"component"`},
		{"GET", "/api/v1/components/svc?lines=5", `"lines"`},
		{"POST", "/api/v1/components/svc/restart?no_wait=perhaps", `"no_wait"`},
		{"POST", "/api/v1/components/svc/stop?signal=HUP", `"signal"`},
		{"POST", "/api/v1/components/svc/signal?signal=NOPE", `"signal"`},
		{"POST", "/api/v1/components/svc/signal", `"signal"`},
		{"POST", "/api/v1/components/svc/signal?signal=HUP&no_wait=1", `"no_wait"`},
		{"POST", "/api/v1/rotate?component=svc,bad!", `"component"`},
		{"POST", "/api/v1/flush?components=svc", `"components"`},
		{"POST", "/api/v1/reload-config?force=1", `"force"`},
	} {
		code, msg := rawDo(t, c, tt.method, tt.target)
		if code != http.StatusBadRequest || !strings.Contains(msg, tt.param) {
			t.Errorf("%s %s: %d %q, want 400 naming %s", tt.method, tt.target, code, msg, tt.param)
		}
	}
	// Nothing of the above stopped or restarted anything.
	if st := sup.Status()[0]; st.Restarts != 0 || st.State == "stopped" {
		t.Errorf("a refused request changed the component: %+v", st)
	}
	// Good values still work.
	for _, tt := range []struct{ method, target string }{
		{"GET", "/api/v1/events?since=0&component=svc&wait=0s&follow=0"},
		{"GET", "/api/v1/events?since=18446744073709551615"},
		{"GET", "/api/v1/info"},
		{"GET", "/api/v1/components?component=svc"},
		{"POST", "/api/v1/rotate?component=svc"},
		{"POST", "/api/v1/flush"},
	} {
		if code, msg := rawDo(t, c, tt.method, tt.target); code != http.StatusOK {
			t.Errorf("%s %s: %d %q, want 200", tt.method, tt.target, code, msg)
		}
	}
}
