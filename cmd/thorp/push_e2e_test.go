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
// requires, before the component label, in one exact line. And every label
// name of thorp's own series in the push (a balancer's included) is one
// thorp check refuses as a push label, which would give a series that
// label twice.
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
	proxyPort := freeTCPPort(t)
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
component "web" {
  command = { thorp.self, "simulate", "http", "--port-env", "PORT" },
  proxy = { listen = "tcp://127.0.0.1:%d", mode = "http" },
}
`, freeTCPPort(t), recv.URL, proxyPort))
	startThorpRunning(t, cfg)
	// One request through the balancer, so that its series by status code
	// and its histogram exist.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", proxyPort))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	want := `thorp_component_up{host="web-1",note="say \"hi\" C:\\srv\\\nnext",component="app"} 1` + "\n"
	deadline := time.After(30 * time.Second)
	var last string
	for !strings.Contains(last, "\n"+want) || !strings.Contains(last, "\nthorp_proxy_request_duration_seconds_bucket{") {
		select {
		case last = <-bodies:
		case <-deadline:
			t.Fatalf("no push within 30s had the line\n%s\nand the balancer's histogram; last push:\n%.3000s", want, last)
		}
	}

	names := map[string]bool{}
	for _, s := range parseSamples(last) {
		for name := range s.labels {
			if name != "host" && name != "note" {
				names[name] = true
			}
		}
	}
	if !names["component"] || !names["code"] || !names["le"] {
		t.Fatalf("labels of the push %v lack component, code or le", names)
	}
	var lua strings.Builder
	for name := range names {
		fmt.Fprintf(&lua, "%s = \"x\", ", name)
	}
	check := writeConfig(t, fmt.Sprintf(`settings { http = "", metrics_push = { url = "http://127.0.0.1:1/api/v1/import/prometheus", labels = { %s } } }
component "a" { command = { thorp.self, "simulate", "http" } }
`, lua.String()))
	out, errOut, code := thorpCmd(t, "check", "-c", check)
	if code == exitOK {
		t.Fatalf("thorp check accepted push labels named as thorp's own:\n%s", out)
	}
	for name := range names {
		if msg := fmt.Sprintf("%q is a label of thorp's own series", name); !strings.Contains(out+errOut, msg) {
			t.Errorf("thorp check does not refuse the push label %q, which thorp's series have", name)
		}
	}
}
