package main

import (
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// settings.metrics_push from a thorp.lua to a receiver standing in for
// VictoriaMetrics' import endpoint: label values written in Lua with a
// quote, backslashes and a newline arrive escaped as the text format
// requires, before the component label, in one exact line.
func TestRun_MetricsPushToImportEndpoint(t *testing.T) {
	bodies := make(chan string, 16)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || r.URL.Path != "/api/v1/import/prometheus" || r.Header.Get("Content-Encoding") != "gzip" {
			t.Errorf("push: %s %s (Content-Encoding %q)", r.Method, r.URL.Path, r.Header.Get("Content-Encoding"))
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		zr, err := gzip.NewReader(r.Body)
		if err != nil {
			t.Errorf("gzip: %v", err)
			return
		}
		b, err := io.ReadAll(zr)
		if err != nil {
			t.Errorf("reading the push: %v", err)
		}
		w.WriteHeader(http.StatusNoContent)
		select {
		case bodies <- string(b):
		default:
		}
	}))
	t.Cleanup(recv.Close)
	cfg := writeConfig(t, fmt.Sprintf(`
settings {
  http = "127.0.0.1:%d",
  metrics_push = {
    url = "%s/api/v1/import/prometheus",
    interval = "1s",
    labels = { host = "web-1", note = "say \"hi\" C:\\srv\\\nnext" },
  },
}
component "app" {
  command = { thorp.self, "simulate", "chatty", "--lines", "0", "--rate", "1" },
}
`, freeTCPPort(t), recv.URL))
	startThorpRunning(t, cfg)
	want := `thorp_component_up{host="web-1",note="say \"hi\" C:\\srv\\\nnext",component="app"} 1` + "\n"
	deadline := time.After(30 * time.Second)
	var last string
	for {
		select {
		case last = <-bodies:
			if strings.Contains(last, "\n"+want) {
				return
			}
		case <-deadline:
			t.Fatalf("no push within 30s had the line\n%s\nlast push:\n%.3000s", want, last)
		}
	}
}
