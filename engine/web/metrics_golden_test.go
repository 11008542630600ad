package web

import (
	"bytes"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/thorp-dev/thorp/engine"
)

// fixedWriter is a MetricsWriter of another part of thorp with one family.
type fixedWriter string

func (f fixedWriter) WriteMetrics(w io.Writer) { io.WriteString(w, string(f)) }

// fixedHistogram stands in for the balancers' histograms.
type fixedHistogram string

func (f fixedHistogram) WriteProxyMetrics(w io.Writer) { io.WriteString(w, string(f)) }

// goldenStatuses are components that reach every branch of the exposition
// writer: names that need escaping and sort differently once escaped,
// restart reasons and log streams beyond the pre-created ones, instances,
// a balancer, whole and fractional values, negatives, infinities and NaN.
func goldenStatuses() []engine.Status {
	api := comp("api", engine.StateRunning)
	api.RestartsByReason = map[string]int{"memory": 3, "crash": 1}
	api.MemoryLimitBytes = 150e6
	api.MemoryGrowthBytesPerHour = 1.5e6
	api.CPUSeconds = 2.25
	api.UptimeSeconds = 86400.001
	api.LastExit = &engine.ExitInfo{Code: -1, Signal: "SIGKILL", Time: time.Unix(1700000000, 0)}
	api.Instances = []engine.InstanceStatus{
		{Index: 0, MemoryBytes: 32 << 20, Connections: 2},
		{Index: 1, MemoryBytes: -5, Connections: 0},
		{Index: 10, MemoryBytes: 1, Connections: 7},
	}
	api.Proxy = &engine.ProxyStatus{ConnectionsTotal: 42,
		Errors:   map[string]uint64{"refused": 1, "reset": 0, "timeout": 0, "no_backend": 3},
		Requests: map[string]uint64{"200": 40, "502": 1, "404": 1 << 40}}
	odd := comp("we\"ird\\name\n", engine.StateBackoff)
	odd.LastExit = &engine.ExitInfo{Code: 255}
	odd.MemoryGrowthBytesPerHour = math.Inf(1)
	odd.CPUSeconds = 1e-7
	odd.RestartsByReason = map[string]int{"zz-odd": 2, "aaa": 1}
	odd.Logs = append(odd.Logs, engine.LogStatus{Stream: "zz", Bytes: 9}, engine.LogStatus{Stream: "a-extra", Rotations: -1})
	slash := comp(`a\b`, engine.StateStopped)
	slash.MemoryGrowthBytesPerHour = -3500
	slash.CPUSeconds = 123456789.125
	slash.UptimeSeconds = math.NaN()
	slash.Logs[0].Path = "/nonexistent-thorp-golden/dir/a.log" // no statfs, no series
	upper := comp("Zeta", engine.StateErrored)
	upper.MemoryGrowthBytesPerHour = 1e21
	upper.CPUSeconds = math.Inf(-1)
	upper.Logs = nil
	plain := comp("a", engine.StateStarting)
	plain.MemoryBytes = math.MaxInt64
	plain.CPUSeconds = 0.1 + 0.2
	return []engine.Status{api, odd, slash, upper, plain, comp("worker", engine.StateRunning)}
}

// TestMetrics_Golden checks thorp's families for goldenStatuses byte for
// byte against testdata/metrics.golden, written by the exposition writer
// before it stopped building a string per series (-update rewrites it;
// check the diff by hand: it is what every scraper parses).
func TestMetrics_Golden(t *testing.T) {
	more := fixedWriter("# HELP thorp_alerts_sent_total Alerts sent.\n# TYPE thorp_alerts_sent_total counter\nthorp_alerts_sent_total{sink=\"x\"} 4\n")
	hist := fixedHistogram(`thorp_proxy_request_duration_seconds_bucket{component="api",le="0.005"} 40` + "\n" +
		`thorp_proxy_request_duration_seconds_bucket{component="api",le="+Inf"} 41` + "\n" +
		`thorp_proxy_request_duration_seconds_sum{component="api"} 0.5` + "\n" +
		`thorp_proxy_request_duration_seconds_count{component="api"} 41` + "\n")
	reload := reloadSource{ok: false, at: time.Unix(1700000000, 250e6)}
	m := newMetricsState(time.Unix(1, 0), []MetricsWriter{more})
	var out bytes.Buffer
	m.writeFamilies(&out, goldenStatuses(), reload, hist)
	// A second write through the same state, with one component fewer,
	// must not carry anything over from the first.
	var again bytes.Buffer
	m.writeFamilies(&again, goldenStatuses()[1:], reload, hist)
	m.writeFamilies(&again, goldenStatuses(), reload, hist)
	got := out.String()
	if !bytes.HasSuffix(again.Bytes(), out.Bytes()) {
		t.Errorf("a second write differs from the first:\n%s", lineDiff(got, again.String()[again.Len()-out.Len():]))
	}
	parseExposition(t, got)

	checkGolden(t, "metrics.golden", "exposition", got)
}

// checkGolden compares got, described as what, with testdata/name byte for
// byte; -update rewrites the file first (check its diff by hand).
func checkGolden(t *testing.T, name, what, got string) {
	t.Helper()
	golden := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (go test -run %s -update writes it; check it by hand)", err, t.Name())
	}
	if got != string(want) {
		t.Errorf("%s differs from %s (-update rewrites it):\n%s", what, golden, lineDiff(string(want), got))
	}
}

// TestSampleValues_AsTheLibrary checks that writeUint and writeFloat end a
// sample exactly as the library's WriteCounterUint64 and
// WriteCounterFloat64 do, for edge values and for random bit patterns.
func TestSampleValues_AsTheLibrary(t *testing.T) {
	floats := []float64{0, math.Copysign(0, -1), 1, -1, 0.1, 0.3, 2.25, 1e-7, 1e-5, 1e-4, 123456, 1e20, 1e21, 1.5e300,
		5e-324, math.MaxFloat64, -math.MaxFloat64, 1 << 63, math.Inf(1), math.Inf(-1), math.NaN(), 1700000000.25}
	uints := []uint64{0, 1, 9, 10, 255, 1 << 32, 1<<63 - 1, math.MaxUint64}
	rnd := rand.New(rand.NewPCG(1, 2))
	for range 10000 {
		bits := rnd.Uint64()
		floats = append(floats, math.Float64frombits(bits), float64(bits>>20)/1024)
		uints = append(uints, bits)
	}
	var got, want bytes.Buffer
	for _, v := range floats {
		got.Reset()
		want.Reset()
		got.WriteString("x ")
		writeFloat(&got, v)
		metrics.WriteCounterFloat64(&want, "x", v)
		if got.String() != want.String() {
			t.Fatalf("float %v (bits %#x): wrote %q, the library %q", v, math.Float64bits(v), got.String(), want.String())
		}
	}
	for _, v := range uints {
		got.Reset()
		want.Reset()
		got.WriteString("x ")
		writeUint(&got, v)
		metrics.WriteGaugeUint64(&want, "x", v)
		if got.String() != want.String() {
			t.Fatalf("uint %d: wrote %q, the library %q", v, got.String(), want.String())
		}
	}
}

// appendSource is a fakeSource that also fills a snapshot in the memory of
// a previous one, as engine.Supervisor.AppendStatus does.
type appendSource struct{ *fakeSource }

func (a appendSource) AppendStatus(dst []engine.Status) []engine.Status {
	for _, st := range a.Status() {
		dst = slices.Grow(dst, 1)
		spare := dst[:len(dst)+1][len(dst)].Instances
		if len(st.Instances) > 0 {
			st.Instances = append(spare[:0], st.Instances...)
		}
		dst = append(dst, st)
	}
	return dst
}

// thorpFamilies returns the part of an exposition before the Go runtime's
// metrics.
func thorpFamilies(t *testing.T, text string) string {
	t.Helper()
	i := strings.Index(text, "\n# HELP go_")
	if i < 0 {
		t.Fatalf("no Go runtime metrics:\n%.3000s", text)
	}
	return text[:i+1]
}

// TestServer_Metrics_ReusedSnapshot checks that scrapes through a
// StatusAppender, whose snapshots reuse the memory of earlier ones, write
// what scrapes of the plain snapshot write, as components and instances
// come and go.
func TestServer_Metrics_ReusedSnapshot(t *testing.T) {
	all := goldenStatuses()
	fewer := goldenStatuses()[:3]
	fewer[0].Instances = fewer[0].Instances[:1]
	src := &fakeSource{}
	reusing := New(appendSource{src}, Options{Started: time.Unix(1, 0)})
	plain := New(src, Options{Started: time.Unix(1, 0)})
	for round, sts := range [][]engine.Status{all, fewer, all, nil, fewer} {
		src.set(sts...)
		for range 3 { // the pool may hand back any earlier snapshot
			var got, want bytes.Buffer
			reusing.WriteMetrics(&got)
			plain.WriteMetrics(&want)
			if g, w := thorpFamilies(t, got.String()), thorpFamilies(t, want.String()); g != w {
				t.Fatalf("round %d: from a reused snapshot:\n%s", round, lineDiff(w, g))
			}
		}
	}
}

// TestServer_Metrics_ConcurrentScrapes runs scrapes side by side through
// the shared pools and label cache while the components change: each must
// write the families of one of the two sets, whole.
func TestServer_Metrics_ConcurrentScrapes(t *testing.T) {
	sets := [][]engine.Status{goldenStatuses(), goldenStatuses()[2:]}
	src := &fakeSource{}
	s := New(appendSource{src}, Options{Started: time.Unix(1, 0)})
	var want []string
	for _, set := range sets {
		src.set(set...)
		var b bytes.Buffer
		s.WriteMetrics(&b)
		want = append(want, thorpFamilies(t, b.String()))
	}
	var wg sync.WaitGroup
	errs := make(chan string, 4)
	for range 4 {
		wg.Go(func() {
			for i := range 50 {
				src.set(sets[i%2]...)
				var b bytes.Buffer
				s.WriteMetrics(&b)
				if got := b.String(); !strings.HasPrefix(got, want[0]) && !strings.HasPrefix(got, want[1]) {
					errs <- got
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for got := range errs {
		t.Errorf("a concurrent scrape wrote neither set:\n%.2000s", got)
	}
}
