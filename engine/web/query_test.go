package web

import (
	"net/http"
	"strings"
	"testing"

	"github.com/thorp-dev/thorp/engine/api"
)

// TestServer_BadQuery: over the HTTP server too, a bad query parameter is a
// 400 that names it: the API's (served by package api) and the log tail's.
func TestServer_BadQuery(t *testing.T) {
	sup := startSupervisor(t, "sleeper")
	_, base := startServer(t, sup, Options{API: api.NewPublicHandler(sup, api.Info{}), Token: "0123456789abcdef"})
	for _, tt := range []struct{ method, target, param string }{
		{"GET", "/api/v1/events?since=garbage", `"since"`},
		{"GET", "/api/v1/events?follow=1&since=garbage", `"since"`},
		{"GET", "/api/v1/events?wait=forever", `"wait"`},
		{"GET", "/api/v1/components?stream=out", `"stream"`},
		{"GET", "/api/v1/components/sleeper/logs?n=x", `"n"`},
		{"GET", "/api/v1/components/sleeper/logs?n=0", `"n"`},
		{"GET", "/api/v1/components/sleeper/logs?lines=5", `"lines"`},
		{"GET", "/api/v1/components/sleeper/logs?stream=both", `"stream"`},
		{"GET", "/api/v1/components/sleeper/logs?n=1&n=2", `"n"`},
		{"POST", "/api/v1/components/sleeper/restart?no_wait=soon", `"no_wait"`},
	} {
		code, body, resp := do(t, tt.method, base+tt.target, nil, "Authorization", "Bearer 0123456789abcdef")
		if code != http.StatusBadRequest {
			t.Errorf("%s %s: %d %s, want 400", tt.method, tt.target, code, body)
			continue
		}
		if msg := wantJSONError(t, resp, body); !strings.Contains(msg, tt.param) {
			t.Errorf("%s %s: %q does not name %s", tt.method, tt.target, msg, tt.param)
		}
	}
	if code, body, _ := do(t, "GET", base+"/api/v1/components/sleeper/logs?n=5&stream=err", nil); code != http.StatusOK {
		t.Errorf("good log query: %d %s", code, body)
	}
}
