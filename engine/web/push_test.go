package web

import (
	"compress/gzip"
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

// pushReceiver is a loopback HTTP server that hands each pushed body,
// gunzipped, to got, until the test ends.
func pushReceiver(t *testing.T, got func(body string)) *httptest.Server {
	t.Helper()
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				t.Errorf("gzip: %v", err)
				return
			}
			body = zr
		}
		b, _ := io.ReadAll(body)
		got(string(b))
	}))
	t.Cleanup(recv.Close)
	return recv
}

func TestServer_PushSendsMetricsWithLabels(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	recv := pushReceiver(t, func(b string) {
		mu.Lock()
		bodies = append(bodies, b)
		mu.Unlock()
	})
	src := &fakeSource{}
	src.set(comp("api", engine.StateRunning))
	s := New(src, Options{Addr: "127.0.0.1:0", Started: time.Now()})
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := s.Push(ctx, recv.URL+"/api/v1/import/prometheus", 100*time.Millisecond, map[string]string{"host": "web-1"})
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		mu.Lock()
		n := len(bodies)
		var last string
		if n > 0 {
			last = bodies[n-1]
		}
		mu.Unlock()
		if n > 0 {
			if !strings.Contains(last, `thorp_component_up{component="api",host="web-1"}`) &&
				!strings.Contains(last, `thorp_component_up{host="web-1",component="api"}`) {
				t.Fatalf("push body lacks the labelled series:\n%.2000s", last)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("nothing pushed within 10s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	cancel()
	wait()
	if _, err := s.Push(context.Background(), "::not a url", time.Second, nil); err == nil {
		t.Fatal("a bad push URL was accepted")
	}
}

// TestServer_Push_LabelValuesEscapedOnce pushes to a real loopback receiver
// with label values holding quotes, backslashes and newlines: the pushed
// text must parse with exactly those values.
func TestServer_Push_LabelValuesEscapedOnce(t *testing.T) {
	labels := map[string]string{
		"host":  "web-1",
		"quote": `say "hi"`,
		"path":  `C:\srv\app\`,
		"lines": "one\ntwo\n",
		"mixed": "a\\\"b\"\n\\n",
	}
	bodies := make(chan string, 1)
	recv := pushReceiver(t, func(b string) {
		select {
		case bodies <- b:
		default:
		}
	})
	src := &fakeSource{}
	src.set(comp("api", engine.StateRunning))
	s := New(src, Options{Addr: "127.0.0.1:0", Started: time.Now()})
	ctx, cancel := context.WithCancel(context.Background())
	wait, err := s.Push(ctx, recv.URL+"/api/v1/import/prometheus", 100*time.Millisecond, labels)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); wait() }()
	var body string
	select {
	case body = <-bodies:
	case <-time.After(10 * time.Second):
		t.Fatal("nothing pushed within 10s")
	}
	want := map[string]string{"component": "api"}
	for k, v := range labels {
		want[k] = v
	}
	samples := find(parseExposition(t, body), "thorp_component_up", want)
	if len(samples) != 1 {
		t.Fatalf("no thorp_component_up with exactly the pushed labels %q in:\n%.3000s", want, body)
	}
	for k, v := range samples[0].labels {
		if want[k] != v {
			t.Errorf("label %s = %q, want %q", k, v, want[k])
		}
	}
}
