package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/policies"
)

// sample is one parsed exposition line.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

var metricName = regexp.MustCompile(`^[a-zA-Z_:][a-zA-Z0-9_:]*$`)

// parseExposition checks that every line of text is "# HELP name text",
// "# TYPE name type" or "name{labels} value" and returns the samples. It
// also checks that HELP and TYPE come at most once per family, before its
// samples.
func parseExposition(t *testing.T, text string) []sample {
	t.Helper()
	var out []sample
	help, typ := map[string]bool{}, map[string]bool{}
	sampled := map[string]bool{}
	for i, line := range strings.Split(strings.TrimSuffix(text, "\n"), "\n") {
		fail := func(why string) { t.Fatalf("line %d %q: %s", i+1, line, why) }
		if rest, ok := strings.CutPrefix(line, "# HELP "); ok {
			name, _, _ := strings.Cut(rest, " ")
			if !metricName.MatchString(name) || help[name] || sampled[name] {
				fail("bad, repeated or late HELP")
			}
			help[name] = true
			continue
		}
		if rest, ok := strings.CutPrefix(line, "# TYPE "); ok {
			name, kind, _ := strings.Cut(rest, " ")
			switch kind {
			case "counter", "gauge", "untyped", "summary", "histogram":
			default:
				fail("bad type")
			}
			if !metricName.MatchString(name) || typ[name] || sampled[name] {
				fail("bad, repeated or late TYPE")
			}
			typ[name] = true
			continue
		}
		if strings.HasPrefix(line, "#") {
			fail("unexpected comment")
		}
		s := sample{labels: map[string]string{}}
		end := strings.IndexAny(line, "{ ")
		if end < 0 {
			fail("no value")
		}
		s.name = line[:end]
		if !metricName.MatchString(s.name) {
			fail("bad metric name")
		}
		rest := line[end:]
		if rest[0] == '{' {
			rest = rest[1:]
			for !strings.HasPrefix(rest, "}") {
				eq := strings.Index(rest, `="`)
				if eq < 0 || !metricName.MatchString(rest[:eq]) {
					fail("bad label name")
				}
				lname := rest[:eq]
				rest = rest[eq+2:]
				var v strings.Builder
				for {
					if rest == "" {
						fail("unterminated label value")
					}
					c := rest[0]
					rest = rest[1:]
					if c == '"' {
						break
					}
					if c == '\\' {
						if rest == "" {
							fail("dangling escape")
						}
						switch rest[0] {
						case '\\', '"':
							v.WriteByte(rest[0])
						case 'n':
							v.WriteByte('\n')
						default:
							fail("bad escape")
						}
						rest = rest[1:]
						continue
					}
					v.WriteByte(c)
				}
				if _, dup := s.labels[lname]; dup {
					fail("duplicate label")
				}
				s.labels[lname] = v.String()
				rest = strings.TrimLeft(strings.TrimPrefix(rest, ","), " ")
			}
			rest = rest[1:]
		}
		f := strings.Fields(rest)
		if len(f) != 1 {
			fail("want exactly one value")
		}
		v, err := strconv.ParseFloat(f[0], 64)
		if err != nil {
			fail(err.Error())
		}
		s.value = v
		sampled[s.name] = true
		out = append(out, s)
	}
	return out
}

// find returns the samples of name whose labels include want.
func find(samples []sample, name string, want map[string]string) []sample {
	var out []sample
next:
	for _, s := range samples {
		if s.name != name {
			continue
		}
		for k, v := range want {
			if s.labels[k] != v {
				continue next
			}
		}
		out = append(out, s)
	}
	return out
}

func scrape(t *testing.T, base string) (string, []sample) {
	t.Helper()
	code, body, resp := do(t, "GET", base+"/metrics", nil)
	if code != 200 {
		t.Fatalf("/metrics: %d %s", code, body)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	return string(body), parseExposition(t, string(body))
}

func TestServer_Metrics_Families(t *testing.T) {
	api := comp("api", engine.StateRunning)
	api.RestartsByReason = map[string]int{"memory": 3, "crash": 1}
	api.Restarts = 4
	api.MemoryLimitBytes = 150e6
	api.MemoryGrowthBytesPerHour = 1.5e6
	api.CPUSeconds = 2.25
	api.LastExit = &engine.ExitInfo{Code: -1, Signal: "SIGKILL", Time: time.Now()}
	odd := comp(`we"ird\name`+"\n", engine.StateBackoff)
	odd.LastExit = &engine.ExitInfo{Code: 3}
	src := &fakeSource{}
	src.set(api, odd)
	at := time.Unix(1700000000, 0)
	_, base := startServer(t, reloadSource{fakeSource: src, ok: false, at: at}, Options{})
	_, samples := scrape(t, base)

	perComponent := []string{
		"thorp_component_up", "thorp_component_restarts_total", "thorp_component_memory_bytes",
		"thorp_component_memory_limit_bytes", "thorp_component_memory_growth_bytes_per_hour",
		"thorp_component_cpu_seconds_total", "thorp_component_uptime_seconds",
		"thorp_log_bytes_total", "thorp_log_rotations_total", "thorp_log_dropped_bytes_total",
		"thorp_component_state", "thorp_component_last_exit_code",
	}
	for _, name := range []string{api.Name, odd.Name} {
		c := map[string]string{"component": name}
		for _, fam := range perComponent {
			if len(find(samples, fam, c)) == 0 {
				t.Errorf("%s{component=%q} missing", fam, name)
			}
		}
		for _, r := range policies.Reasons {
			if n := len(find(samples, "thorp_component_restarts_total", map[string]string{"component": name, "reason": string(r)})); n != 1 {
				t.Errorf("restarts reason %s of %q: %d series, want 1", r, name, n)
			}
		}
		for _, st := range states {
			if n := len(find(samples, "thorp_component_state", map[string]string{"component": name, "state": string(st)})); n != 1 {
				t.Errorf("state %s of %q: %d series, want 1", st, name, n)
			}
		}
		for _, fam := range []string{"thorp_log_bytes_total", "thorp_log_rotations_total", "thorp_log_dropped_bytes_total"} {
			for _, stream := range []string{"out", "err"} {
				if n := len(find(samples, fam, map[string]string{"component": name, "stream": stream})); n != 1 {
					t.Errorf("%s stream %s of %q: %d series, want 1", fam, stream, name, n)
				}
			}
		}
	}

	values := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"thorp_component_up", map[string]string{"component": "api"}, 1},
		{"thorp_component_up", map[string]string{"component": odd.Name}, 0},
		{"thorp_component_restarts_total", map[string]string{"component": "api", "reason": "memory"}, 3},
		{"thorp_component_restarts_total", map[string]string{"component": "api", "reason": "cron"}, 0},
		{"thorp_component_memory_bytes", map[string]string{"component": "api"}, 64 << 20},
		{"thorp_component_memory_limit_bytes", map[string]string{"component": "api"}, 150e6},
		{"thorp_component_memory_growth_bytes_per_hour", map[string]string{"component": "api"}, 1.5e6},
		{"thorp_component_cpu_seconds_total", map[string]string{"component": "api"}, 2.25},
		{"thorp_component_uptime_seconds", map[string]string{"component": "api"}, 12.5},
		{"thorp_component_state", map[string]string{"component": "api", "state": "running"}, 1},
		{"thorp_component_state", map[string]string{"component": "api", "state": "backoff"}, 0},
		{"thorp_component_state", map[string]string{"component": odd.Name, "state": "backoff"}, 1},
		{"thorp_component_last_exit_code", map[string]string{"component": "api"}, -1},
		{"thorp_component_last_exit_code", map[string]string{"component": odd.Name}, 3},
		{"thorp_log_bytes_total", map[string]string{"component": "api", "stream": "out"}, 100},
		{"thorp_log_rotations_total", map[string]string{"component": "api", "stream": "out"}, 1},
		{"thorp_log_dropped_bytes_total", map[string]string{"component": "api", "stream": "err"}, 3},
		{"thorp_config_last_reload_success", nil, 0},
		{"thorp_config_last_reload_timestamp_seconds", nil, float64(at.Unix())},
	}
	for _, v := range values {
		got := find(samples, v.name, v.labels)
		if len(got) != 1 || got[0].value != v.want {
			t.Errorf("%s%v = %v, want one series with %v", v.name, v.labels, got, v.want)
		}
	}
	for _, fam := range []string{"go_goroutines", "process_resident_memory_bytes"} {
		if len(find(samples, fam, nil)) == 0 {
			t.Errorf("Go/process metric %s missing", fam)
		}
	}
}

func TestServer_Metrics_NoReloadInfo(t *testing.T) {
	src := &fakeSource{}
	started := time.Now()
	_, base := startServer(t, src, Options{})
	_, samples := scrape(t, base)
	if s := find(samples, "thorp_config_last_reload_success", nil); len(s) != 1 || s[0].value != 1 {
		t.Errorf("reload success = %v, want 1", s)
	}
	if s := find(samples, "thorp_config_last_reload_timestamp_seconds", nil); len(s) != 1 || s[0].value < float64(started.Unix()-1) {
		t.Errorf("reload timestamp = %v, want about %d", s, started.Unix())
	}
}

func TestServer_Metrics_RemovedComponent(t *testing.T) {
	tests := []struct {
		name        string
		keep, drop  int
		dropPrefix  string
		description string
	}{
		{"one-of-eleven", 10, 1, "gone", "one of eleven removed"},
		{"most", 5, 20, "gone", "most removed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &fakeSource{}
			var all, kept []engine.Status
			for i := range tt.keep {
				all = append(all, comp(fmt.Sprintf("keep%d", i), engine.StateRunning))
			}
			kept = append(kept, all...)
			for i := range tt.drop {
				all = append(all, comp(fmt.Sprintf("%s%d", tt.dropPrefix, i), engine.StateRunning))
			}
			src.set(all...)
			_, base := startServer(t, src, Options{})
			text, _ := scrape(t, base)
			if !strings.Contains(text, `component="gone0"`) {
				t.Fatal("first scrape lacks the component to remove")
			}
			src.set(kept...)
			text, samples := scrape(t, base)
			if strings.Contains(text, `component="gone`) {
				t.Errorf("%s: series of removed components remain", tt.description)
			}
			for _, st := range kept {
				if len(find(samples, "thorp_component_up", map[string]string{"component": st.Name})) != 1 {
					t.Errorf("%s: %s lost its series", tt.description, st.Name)
				}
			}
			// Coming back starts its series again.
			src.set(all...)
			if text, _ := scrape(t, base); !strings.Contains(text, `thorp_component_up{component="gone0"} 1`) {
				t.Error("re-added component has no series")
			}
		})
	}
}

func TestServer_Metrics_NewRestartReasonAndStream(t *testing.T) {
	st := comp("api", engine.StateRunning)
	st.RestartsByReason = map[string]int{"odd-reason": 2}
	st.Logs = append(st.Logs, engine.LogStatus{Stream: "extra", Bytes: 9})
	src := &fakeSource{}
	src.set(st)
	_, base := startServer(t, src, Options{})
	_, samples := scrape(t, base)
	if s := find(samples, "thorp_component_restarts_total", map[string]string{"reason": "odd-reason"}); len(s) != 1 || s[0].value != 2 {
		t.Errorf("unknown reason: %v", s)
	}
	if s := find(samples, "thorp_log_bytes_total", map[string]string{"stream": "extra"}); len(s) != 1 || s[0].value != 9 {
		t.Errorf("extra stream: %v", s)
	}
}

// TestServer_Metrics_Promtool runs promtool's parser and linter on a scrape
// when promtool is installed (Debian: apt-get install prometheus).
func TestServer_Metrics_Promtool(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed")
	}
	src := &fakeSource{}
	a := comp("api", engine.StateRunning)
	a.LastExit = &engine.ExitInfo{Code: 1}
	a.Instances = []engine.InstanceStatus{{Index: 0, MemoryBytes: 1 << 20}}
	a.Logs[0].Path = filepath.Join(t.TempDir(), "api.log")
	src.set(a, comp(`odd "name"`, engine.StateErrored), comp("batch", engine.StateStopped))
	_, base := startServer(t, src, Options{})
	text, _ := scrape(t, base)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(text)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out.String())
	}
}

func TestDescribeRuntime(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{
			"untyped",
			"go_goroutines 7\ngo_gc_duration_seconds{quantile=\"0\"} 0\ngo_gc_duration_seconds_sum 0\n",
			"# HELP go_goroutines Go runtime or process metric go_goroutines.\ngo_goroutines 7\n" +
				"# HELP go_gc_duration_seconds Go runtime or process metric go_gc_duration_seconds.\ngo_gc_duration_seconds{quantile=\"0\"} 0\n" +
				"# HELP go_gc_duration_seconds_sum Go runtime or process metric go_gc_duration_seconds_sum.\ngo_gc_duration_seconds_sum 0\n",
		},
		{
			"with-metadata",
			"# HELP go_gc_duration_seconds\n# TYPE go_gc_duration_seconds summary\ngo_gc_duration_seconds{quantile=\"0\"} 0\ngo_gc_duration_seconds_sum 0\ngo_gc_duration_seconds_count 0\n",
			"# HELP go_gc_duration_seconds\n# TYPE go_gc_duration_seconds summary\ngo_gc_duration_seconds{quantile=\"0\"} 0\ngo_gc_duration_seconds_sum 0\ngo_gc_duration_seconds_count 0\n",
		},
		{"no-trailing-newline", "go_x 1", "# HELP go_x Go runtime or process metric go_x.\ngo_x 1\n"},
		{"interleaved", "h_bucket{a=\"1\"} 1\nother 2\nh_bucket{a=\"2\"} 3\n",
			"# HELP h_bucket Go runtime or process metric h_bucket.\nh_bucket{a=\"1\"} 1\n" +
				"# HELP other Go runtime or process metric other.\nother 2\nh_bucket{a=\"2\"} 3\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			describeRuntime(&b, []byte(tt.in))
			if b.String() != tt.want {
				t.Errorf("got\n%s\nwant\n%s", b.String(), tt.want)
			}
		})
	}
}

// BenchmarkMetrics500 measures one GET /metrics from a real Supervisor
// with 500 running components, each from the request to the body's last
// byte on loopback: the status snapshot (Supervisor.Status, called by the
// handler for every scrape), the exposition text and the HTTP round trip.
// It reports the median, p90 and max of the scrapes; allocs/op and B/op
// are the handler's and the HTTP client's, not the body's buffer. steady
// scrapes back to back (the first is thorp's first scrape, on a new
// connection) and counts the garbage collections during its scrapes;
// after-gc collects garbage twice before each scrape, as happens between
// two scrapes 15 s apart, which empties the pools the handler reuses.
func BenchmarkMetrics500(b *testing.B) {
	names := make([]string, 500)
	for i := range names {
		names[i] = fmt.Sprintf("component-%03d", i)
	}
	sup := runSupervisor(b, names...)
	deadline := time.Now().Add(2 * time.Minute)
	for {
		changed := sup.WaitEvent()
		running := 0
		for _, st := range sup.Status() {
			if st.State == engine.StateRunning {
				running++
			}
		}
		if running == len(names) {
			break
		}
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d components running after 2 minutes", running, len(names))
		}
		select {
		case <-changed:
		case <-time.After(time.Second):
		}
	}
	s := New(sup, Options{Addr: "127.0.0.1:0"})
	if err := s.Listen(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.Serve() }()
	defer func() {
		s.Close()
		<-done
	}()
	url := "http://" + s.Addr() + "/metrics"
	b.Run("steady", func(b *testing.B) { benchScrapes(b, url, nil) })
	// A daemon scraped every 15 s has usually collected garbage between
	// two scrapes, which empties the pools of buffers and snapshots.
	b.Run("after-gc", func(b *testing.B) {
		benchScrapes(b, url, func() {
			runtime.GC()
			runtime.GC() // a pool's victim cache survives one collection
		})
	})
}

// benchScrapes times b.N scrapes of url, each from the request to the
// body's last byte, with before called untimed ahead of each when not nil.
func benchScrapes(b *testing.B, url string, before func()) {
	// The body is read into one buffer kept across scrapes: a scraper is
	// another process, so its allocations are left out of allocs/op and
	// of thorp's garbage collections.
	var body bytes.Buffer
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	gcs := mem.NumGC
	b.ReportAllocs()
	b.ResetTimer()
	var took []time.Duration
	for b.Loop() {
		if before != nil {
			b.StopTimer()
			before()
			b.StartTimer()
		}
		body.Reset()
		start := time.Now()
		resp, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, err = body.ReadFrom(resp.Body) // to the body's last byte
		took = append(took, time.Since(start))
		resp.Body.Close()
		if err != nil {
			b.Fatal(err)
		}
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	size := body.Len()
	b.StopTimer()
	runtime.ReadMemStats(&mem)
	gcs = mem.NumGC - gcs
	slices.Sort(took)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(took[len(took)/2]), "p50-ms")
	b.ReportMetric(ms(took[len(took)*9/10]), "p90-ms")
	b.ReportMetric(ms(took[len(took)-1]), "max-ms")
	b.ReportMetric(float64(size), "bytes/scrape")
	if before == nil {
		b.ReportMetric(float64(gcs), "GCs")
	}
}

// proxySource is a fakeSource with balancer histograms.
type proxySource struct {
	*fakeSource
	hist string
}

func (p proxySource) WriteProxyMetrics(w io.Writer) { io.WriteString(w, p.hist) }

func TestServer_Metrics_Proxy(t *testing.T) {
	api := comp("api", engine.StateRunning)
	api.Instances = []engine.InstanceStatus{
		{Index: 0, PID: 10, State: engine.StateRunning, Port: 40001, Rotation: engine.RotationIn, Connections: 2},
		{Index: 1, PID: 11, State: engine.StateRunning, Port: 40002, Rotation: engine.RotationIn, Connections: 0},
	}
	api.Proxy = &engine.ProxyStatus{Listen: "tcp://127.0.0.1:3000", Mode: "http", ConnectionsTotal: 42,
		Errors:   map[string]uint64{"refused": 1, "reset": 0, "timeout": 0, "no_backend": 3},
		Requests: map[string]uint64{"200": 40, "502": 1}}
	plain := comp("worker", engine.StateRunning)
	src := &fakeSource{}
	src.set(api, plain)
	hist := `thorp_proxy_request_duration_seconds_bucket{component="api",le="0.005"} 40` + "\n" +
		`thorp_proxy_request_duration_seconds_bucket{component="api",le="+Inf"} 41` + "\n" +
		`thorp_proxy_request_duration_seconds_sum{component="api"} 0.5` + "\n" +
		`thorp_proxy_request_duration_seconds_count{component="api"} 41` + "\n"
	_, base := startServer(t, proxySource{fakeSource: src, hist: hist}, Options{})
	text, samples := scrape(t, base)
	values := []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"thorp_proxy_connections", map[string]string{"component": "api", "instance": "0"}, 2},
		{"thorp_proxy_connections", map[string]string{"component": "api", "instance": "1"}, 0},
		{"thorp_proxy_connections_total", map[string]string{"component": "api"}, 42},
		{"thorp_proxy_errors_total", map[string]string{"component": "api", "kind": "no_backend"}, 3},
		{"thorp_proxy_errors_total", map[string]string{"component": "api", "kind": "reset"}, 0},
		{"thorp_proxy_requests_total", map[string]string{"component": "api", "code": "502"}, 1},
		{"thorp_proxy_request_duration_seconds_count", map[string]string{"component": "api"}, 41},
	}
	for _, v := range values {
		got := find(samples, v.name, v.labels)
		if len(got) != 1 || got[0].value != v.want {
			t.Errorf("%s%v = %v, want one series with %v", v.name, v.labels, got, v.want)
		}
	}
	if n := len(find(samples, "thorp_proxy_connections_total", map[string]string{"component": "worker"})); n != 0 {
		t.Errorf("a component without a proxy has %d proxy series", n)
	}
	if !strings.Contains(text, "# TYPE thorp_proxy_request_duration_seconds histogram\n") {
		t.Errorf("no histogram metadata:\n%s", text)
	}
}
