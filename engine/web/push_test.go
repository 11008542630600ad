package web

import (
	"compress/gzip"
	"context"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

func TestServer_Push_BadURL(t *testing.T) {
	s := New(&fakeSource{}, Options{Addr: "127.0.0.1:0"})
	if _, err := s.Push(context.Background(), "::not a url", time.Second, nil); err == nil || !strings.Contains(err.Error(), "settings.metrics_push.url") {
		t.Fatalf("a bad push URL: %v, want an error naming settings.metrics_push.url", err)
	}
}

var updateGolden = flag.Bool("update", false, "rewrite testdata/*.golden (check the diff by hand: it is what VictoriaMetrics receives)")

// pushed is one request a pushReceiver got.
type pushed struct {
	method, path, contentType, contentEncoding string
	body                                       string
}

// TestServer_Push_ByteForByte pushes to a loopback receiver standing in for
// VictoriaMetrics' /api/v1/import/prometheus and checks what arrives: a
// gzipped POST of the text format whose thorp families are, byte for byte,
// testdata/push.golden (a component name and push label values holding
// `"`, `\` and newlines escaped as the format requires, the push's labels,
// sorted by name, first in every series), and whose every other series (Go
// runtime, process) parses with exactly the push's labels added once.
func TestServer_Push_ByteForByte(t *testing.T) {
	labels := map[string]string{
		"host": "web-1",
		"note": "say \"hi\" C:\\srv\\\nnext\\\tü",
		"dc":   `eu-west`,
	}
	got := make(chan pushed, 1)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p := pushed{method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"), contentEncoding: r.Header.Get("Content-Encoding")}
		var body io.Reader = r.Body
		if p.contentEncoding == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip: %v", err)
				w.WriteHeader(http.StatusBadRequest)
				return
			}
			body = zr
		}
		b, err := io.ReadAll(body)
		if err != nil {
			t.Errorf("reading the push: %v", err)
		}
		p.body = string(b)
		w.WriteHeader(http.StatusNoContent) // what VictoriaMetrics answers
		select {
		case got <- p:
		default:
		}
	}))
	t.Cleanup(recv.Close)

	api := comp("api", engine.StateRunning)
	api.RestartsByReason = map[string]int{"memory": 3}
	api.Restarts = 3
	api.MemoryLimitBytes = 150e6
	api.Instances = []engine.InstanceStatus{{Index: 0, MemoryBytes: 64 << 20}}
	odd := comp("we\"ird\\name\n", engine.StateBackoff)
	odd.Healthy = false
	odd.LastExit = &engine.ExitInfo{Code: 3}
	src := &fakeSource{}
	src.set(api, odd)
	s := New(src, Options{Addr: "127.0.0.1:0", Started: time.Unix(1700000000, 500e6)})
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := s.Push(ctx, recv.URL+"/api/v1/import/prometheus", 50*time.Millisecond, labels)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wait() }()
	var p pushed
	select {
	case p = <-got:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing pushed within 10s")
	}
	if p.method != http.MethodPost || p.path != "/api/v1/import/prometheus" || p.contentEncoding != "gzip" || p.contentType != "text/plain" {
		t.Errorf("push: %s %s, Content-Type %q, Content-Encoding %q; want POST /api/v1/import/prometheus, text/plain, gzip", p.method, p.path, p.contentType, p.contentEncoding)
	}

	// thorp's families come first, the Go runtime's from go_ on.
	i := strings.Index(p.body, "\ngo_")
	if j := strings.Index(p.body, "\n# HELP go_"); j >= 0 && (i < 0 || j < i) {
		i = j
	}
	if i < 0 {
		t.Fatalf("no Go runtime metrics in the push:\n%.3000s", p.body)
	}
	thorpPart := p.body[:i+1]
	checkGolden(t, "push.golden", "pushed text", thorpPart)

	// Every series, thorp's and the runtime's, carries the push's labels
	// exactly once with exactly their values.
	samples := parseExposition(t, p.body)
	for _, smp := range samples {
		for k, v := range labels {
			if smp.labels[k] != v {
				t.Fatalf("%s%v: label %s = %q, want %q", smp.name, smp.labels, k, smp.labels[k], v)
			}
		}
	}
	if n := len(find(samples, "thorp_component_up", map[string]string{"component": odd.Name})); n != 1 {
		t.Errorf("%d series of the component named %q, want 1", n, odd.Name)
	}
}

// lineDiff lists the lines of want and got that differ, by line number.
func lineDiff(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  want %q\n  got  %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}
