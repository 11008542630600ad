package web

import (
	"bytes"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/promlabel"
	"github.com/thorp-dev/thorp/policies"
)

// family is one metric family thorp exposes (DESIGN "HTTP", "Metrics"):
// its name, its type and its # HELP text. Every per-component family has
// the label component.
type family struct {
	name, typ, help string
}

// The families, in the order they are written (by name, as Prometheus
// clients and the library's own Set sort them).
var (
	famCPU        = family{"thorp_component_cpu_seconds_total", "counter", "CPU time used by the component's process tree."}
	famHealthy    = family{"thorp_component_healthy", "gauge", "1 when the component is neither errored nor failing its health check (as /health/NAME), else 0."}
	famLastExit   = family{"thorp_component_last_exit_code", "gauge", "Exit code of the component's last exit; -1 when killed by a signal, 0 when it never exited."}
	famMemory     = family{"thorp_component_memory_bytes", "gauge", "Memory of the component's whole process tree."}
	famGrowth     = family{"thorp_component_memory_growth_bytes_per_hour", "gauge", "Recent growth rate of the component's memory."}
	famLimit      = family{"thorp_component_memory_limit_bytes", "gauge", "The component's max_memory_restart; 0 when unset."}
	famRestarts   = family{"thorp_component_restarts_total", "counter", "Restarts of the component, by reason."}
	famState      = family{"thorp_component_state", "gauge", "1 for the component's current lifecycle state, 0 for the others."}
	famUp         = family{"thorp_component_up", "gauge", "1 when the component is running (ready), else 0."}
	famUptime     = family{"thorp_component_uptime_seconds", "gauge", "Time since the component's current process started; 0 when not running."}
	famReloadOK   = family{"thorp_config_last_reload_success", "gauge", "1 when the last config load or reload succeeded, else 0."}
	famReloadAt   = family{"thorp_config_last_reload_timestamp_seconds", "gauge", "Unix time of the last config load or reload attempt."}
	famInstMemory = family{"thorp_instance_memory_bytes", "gauge", "Memory of one instance's process tree, by index (THORP_INSTANCE); compare it with thorp_component_memory_limit_bytes, a limit per instance."}
	famLogBytes   = family{"thorp_log_bytes_total", "counter", "Bytes written to the component's log, by stream."}
	famLogDropped = family{"thorp_log_dropped_bytes_total", "counter", "Log bytes that could not be written (full disk, missing dir), by stream."}
	famLogRotated = family{"thorp_log_rotations_total", "counter", "Rotations of the component's log, by stream."}

	famProxyConns    = family{"thorp_proxy_connections", "gauge", "Open client connections through the component's balancer, by instance."}
	famProxyTotal    = family{"thorp_proxy_connections_total", "counter", "Client connections the component's balancer accepted."}
	famProxyErrors   = family{"thorp_proxy_errors_total", "counter", "Failures of the component's balancer, by kind (refused, reset, timeout, no_backend)."}
	famProxyDuration = family{"thorp_proxy_request_duration_seconds", "histogram", "Time from a request's arrival at the balancer to the end of its response (http mode)."}
	famProxyRequests = family{"thorp_proxy_requests_total", "counter", "Responses of the component's balancer in http mode, by status code."}
)

// states are the lifecycle states of thorp_component_state.
var states = []engine.State{
	engine.StateStarting, engine.StateRunning, engine.StateStopping,
	engine.StateStopped, engine.StateBackoff, engine.StateErrored,
}

// logStreams are pre-created for every component; "err" stays 0 with merge_logs.
var logStreams = []string{"out", "err"}

// metricsState writes the exposition text of GET /metrics and of the push.
// Nothing is registered: each scrape writes every series from the status
// snapshot it is given, after thorp's own # HELP and # TYPE lines, each
// sample as the library's WriteGaugeUint64, WriteCounterUint64 and
// WriteCounterFloat64 write it but appended straight to the scrape's
// buffer (the helpers take the series name as a string and format with
// fmt: three allocations a sample, 15,000 samples with 500 components).
// A removed component's series are gone from the next scrape. It is safe
// for concurrent use; scrapes do not wait for each other, except on the
// few lookups of labels.
//
// thorp never turns on metrics.ExposeMetadata: with it on, the helpers
// would write metadata before every sample.
type metricsState struct {
	started  time.Time       // the reload timestamp when the Source has no ReloadInfo
	more     []MetricsWriter // families of other parts (Options.Metrics)
	lastSize atomic.Int64    // size of a previous scrape, to size the next
	labels   componentLabels
}

func newMetricsState(started time.Time, more []MetricsWriter) *metricsState {
	return &metricsState{started: started, more: more}
}

// componentLabels keeps each component's escaped label between scrapes.
type componentLabels struct {
	mu     sync.Mutex
	byName map[string]string // name → `component="NAME"`, escaped; the components of the last scrape
}

// fill sets the label of every component in comps, reusing those of the
// previous scrape. When the components differ from the last scrape's
// (added, removed, renamed by a reload), it keeps only those of comps.
func (l *componentLabels) fill(comps []scrapeComponent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	known := 0
	for i := range comps {
		if label, ok := l.byName[comps[i].st.Name]; ok {
			comps[i].label = label
			known++
		}
	}
	if known == len(comps) && len(l.byName) == len(comps) {
		return
	}
	next := make(map[string]string, len(comps))
	for i := range comps {
		c := &comps[i]
		if c.label == "" {
			c.label = `component="` + promlabel.Escape(c.st.Name) + `"`
		}
		next[c.st.Name] = c.label
	}
	l.byName = next
}

// write appends the exposition text for sts to out: thorp's families with
// # HELP and # TYPE, then the Go runtime and process metrics.
func (m *metricsState) write(out *bytes.Buffer, sts []engine.Status, reload ReloadInfo, hist ProxyMetrics) {
	size := m.lastSize.Load()
	out.Grow(int(size + size/8))
	start := out.Len()
	m.writeFamilies(out, sts, reload, hist)
	var runtime bytes.Buffer
	metrics.WriteProcessMetrics(&runtime)
	describeRuntime(out, runtime.Bytes())
	m.lastSize.Store(int64(out.Len() - start))
}

// writeFamilies appends thorp's families for sts to out: those of
// Options.Metrics, then the supervisor's, each with # HELP and # TYPE.
func (m *metricsState) writeFamilies(out *bytes.Buffer, sts []engine.Status, reload ReloadInfo, hist ProxyMetrics) {
	comps := m.newScrapeComponents(sts)
	for _, w := range m.more {
		w.WriteMetrics(out)
	}
	gauge := func(fam family, value func(st *engine.Status) float64) {
		writeMetadata(out, fam)
		for i := range comps {
			c := &comps[i]
			writeSeries(out, fam, c, "", "")
			writeGauge(out, value(c.st))
		}
	}
	logCounter := func(fam family, value func(ls *engine.LogStatus) int64) {
		writeMetadata(out, fam)
		for i := range comps {
			c := &comps[i]
			for _, stream := range c.streams {
				var v int64
				if ls := c.log(stream); ls != nil {
					v = value(ls)
				}
				writeSeries(out, fam, c, "stream", stream)
				writeUint(out, nonNegative(v))
			}
		}
	}

	writeMetadata(out, famCPU)
	for i := range comps {
		c := &comps[i]
		writeSeries(out, famCPU, c, "", "")
		writeFloat(out, c.st.CPUSeconds)
	}
	gauge(famHealthy, func(st *engine.Status) float64 { return boolFloat(st.Healthy) })
	gauge(famLastExit, func(st *engine.Status) float64 {
		if st.LastExit == nil {
			return 0
		}
		return float64(st.LastExit.Code)
	})
	gauge(famMemory, func(st *engine.Status) float64 { return float64(st.MemoryBytes) })
	gauge(famGrowth, func(st *engine.Status) float64 { return st.MemoryGrowthBytesPerHour })
	gauge(famLimit, func(st *engine.Status) float64 { return float64(st.MemoryLimitBytes) })
	writeMetadata(out, famRestarts)
	for i := range comps {
		c := &comps[i]
		for _, reason := range c.reasons {
			n := int64(c.st.RestartsByReason[reason])
			writeSeries(out, famRestarts, c, "reason", reason)
			writeUint(out, nonNegative(n))
		}
	}
	writeMetadata(out, famState)
	for i := range comps {
		c := &comps[i]
		for _, st := range sortedStates {
			writeSeries(out, famState, c, "state", string(st))
			writeGauge(out, boolFloat(c.st.State == st))
		}
	}
	gauge(famUp, func(st *engine.Status) float64 { return boolFloat(st.State == engine.StateRunning) })
	gauge(famUptime, func(st *engine.Status) float64 { return st.UptimeSeconds })

	ok, at := true, m.started
	if reload != nil {
		ok, at = reload.LastReload()
		if at.IsZero() {
			at = m.started
		}
	}
	writeMetadata(out, famReloadOK)
	out.WriteString(famReloadOK.name)
	out.WriteByte(' ')
	writeGauge(out, boolFloat(ok))
	writeMetadata(out, famReloadAt)
	out.WriteString(famReloadAt.name)
	out.WriteByte(' ')
	writeGauge(out, float64(at.UnixNano())/1e9)

	writeMetadata(out, famInstMemory)
	for i := range comps {
		c := &comps[i]
		for _, in := range c.st.Instances {
			writeSeries(out, famInstMemory, c, "index", strconv.Itoa(in.Index))
			writeUint(out, nonNegative(in.MemoryBytes))
		}
	}
	logCounter(famLogBytes, func(ls *engine.LogStatus) int64 { return ls.Bytes })
	logCounter(famLogDropped, func(ls *engine.LogStatus) int64 { return ls.DroppedBytes })
	writeLogFilesystems(out, comps)
	logCounter(famLogRotated, func(ls *engine.LogStatus) int64 { return ls.Rotations })
	writeProxy(out, comps, hist)
}

// writeProxy writes the thorp_proxy_* families of the proxied components
// in comps (nothing when there is none); hist writes the histograms.
func writeProxy(out *bytes.Buffer, comps []scrapeComponent, hist ProxyMetrics) {
	var proxied []*scrapeComponent
	for i := range comps {
		if comps[i].st.Proxy != nil {
			proxied = append(proxied, &comps[i])
		}
	}
	if len(proxied) == 0 {
		return
	}
	writeMetadata(out, famProxyConns)
	for _, c := range proxied {
		for _, in := range c.st.Instances {
			writeSeries(out, famProxyConns, c, "instance", strconv.Itoa(in.Index))
			writeGauge(out, float64(in.Connections))
		}
	}
	writeMetadata(out, famProxyTotal)
	for _, c := range proxied {
		writeSeries(out, famProxyTotal, c, "", "")
		writeUint(out, c.st.Proxy.ConnectionsTotal)
	}
	counters := func(fam family, key string, m func(*engine.ProxyStatus) map[string]uint64) {
		writeMetadata(out, fam)
		for _, c := range proxied {
			vals := m(c.st.Proxy)
			for _, k := range slices.Sorted(maps.Keys(vals)) {
				writeSeries(out, fam, c, key, k)
				writeUint(out, vals[k])
			}
		}
	}
	counters(famProxyErrors, "kind", func(ps *engine.ProxyStatus) map[string]uint64 { return ps.Errors })
	if hist != nil {
		var h bytes.Buffer
		hist.WriteProxyMetrics(&h)
		if h.Len() > 0 {
			writeMetadata(out, famProxyDuration)
			out.Write(h.Bytes())
		}
	}
	counters(famProxyRequests, "code", func(ps *engine.ProxyStatus) map[string]uint64 { return ps.Requests })
}

// writeSeries writes the name of fam's series for c and the space before
// its value, with the extra label key=value when key is not "".
func writeSeries(out *bytes.Buffer, fam family, c *scrapeComponent, key, value string) {
	out.WriteString(fam.name)
	out.WriteByte('{')
	out.WriteString(c.label)
	if key != "" {
		out.WriteByte(',')
		out.WriteString(key)
		out.WriteString(`="`)
		out.WriteString(promlabel.Escape(value)) // value itself when nothing needs escaping
		out.WriteByte('"')
	}
	out.WriteString("} ")
}

// sortedStates are states by name, the order their series are written in.
var sortedStates = func() []engine.State {
	s := slices.Clone(states)
	slices.Sort(s)
	return s
}()

// scrapeComponent is one component of a scrape: its status, its escaped
// component label, and the reasons and streams it has series for.
type scrapeComponent struct {
	st      *engine.Status
	label   string   // `component="NAME"`, escaped
	reasons []string // policies.Reasons and any other reason in st, by name
	streams []string // logStreams and any other stream in st, by name
}

// newScrapeComponents returns the components of sts ordered by their
// escaped label, as the series of one family are sorted.
func (m *metricsState) newScrapeComponents(sts []engine.Status) []scrapeComponent {
	comps := make([]scrapeComponent, len(sts))
	for i := range sts {
		st := &sts[i]
		c := scrapeComponent{st: st, reasons: sortedReasons, streams: sortedStreams}
		for reason := range st.RestartsByReason {
			if !slices.Contains(sortedReasons, reason) {
				c.reasons = sortedUnion(c.reasons, reason)
			}
		}
		for _, ls := range st.Logs {
			if !slices.Contains(logStreams, ls.Stream) {
				c.streams = sortedUnion(c.streams, ls.Stream)
			}
		}
		comps[i] = c
	}
	m.labels.fill(comps)
	slices.SortFunc(comps, func(a, b scrapeComponent) int { return strings.Compare(a.label, b.label) })
	return comps
}

// log returns the component's status of stream, nil when it has none.
func (c *scrapeComponent) log(stream string) *engine.LogStatus {
	for i := range c.st.Logs {
		if c.st.Logs[i].Stream == stream {
			return &c.st.Logs[i]
		}
	}
	return nil
}

var (
	// sortedReasons are policies.Reasons by name: every component's
	// restarts are pre-created at 0 for each, so rate() works from the
	// first scrape.
	sortedReasons = func() []string {
		var names []string
		for _, r := range policies.Reasons {
			names = append(names, string(r))
		}
		return sortedUnion(names)
	}()
	sortedStreams = sortedUnion(logStreams)
)

// sortedUnion returns a new sorted slice of list and more, without duplicates.
func sortedUnion(list []string, more ...string) []string {
	out := append(slices.Clone(list), more...)
	slices.Sort(out)
	return slices.Compact(out)
}

// writeMetadata writes fam's # HELP and # TYPE lines.
func writeMetadata(w *bytes.Buffer, fam family) {
	w.WriteString("# HELP ")
	w.WriteString(fam.name)
	w.WriteByte(' ')
	w.WriteString(fam.help)
	w.WriteString("\n# TYPE ")
	w.WriteString(fam.name)
	w.WriteByte(' ')
	w.WriteString(fam.typ)
	w.WriteByte('\n')
}

// writeUint ends a sample with v as metrics.WriteCounterUint64 and
// WriteGaugeUint64 write it (%d).
func writeUint(w *bytes.Buffer, v uint64) {
	w.Write(strconv.AppendUint(w.AvailableBuffer(), v, 10))
	w.WriteByte('\n')
}

// writeFloat ends a sample with v as metrics.WriteCounterFloat64 and
// WriteGaugeFloat64 write it (%g: the shortest exact form, an exponent
// from 1e21 on).
func writeFloat(w *bytes.Buffer, v float64) {
	w.Write(strconv.AppendFloat(w.AvailableBuffer(), v, 'g', -1, 64))
	w.WriteByte('\n')
}

// writeGauge ends a gauge sample with v as the library's Gauge writes it:
// whole numbers without an exponent.
func writeGauge(w *bytes.Buffer, v float64) {
	if v >= 0 && v < 1<<63 && v == float64(uint64(v)) {
		writeUint(w, uint64(v))
		return
	}
	writeFloat(w, v)
}

// describeRuntime copies the library's Go runtime and process metrics
// from src to dst, adding a # HELP line before the first sample of each
// family that has none (the library writes metadata only when
// metrics.ExposeMetadata is on), so that linters such as promtool accept
// the exposition; such families stay untyped. Metadata the library wrote
// is kept, and its summary and histogram series (_sum, _count, _bucket)
// stay under their family.
func describeRuntime(dst *bytes.Buffer, src []byte) {
	described := map[string]bool{}
	var cur []byte   // family of the previous line
	var curMeta bool // cur came with its own # TYPE, so _sum/_count/_bucket belong to it
	for len(src) > 0 {
		line := src
		if i := bytes.IndexByte(src, '\n'); i >= 0 {
			line, src = src[:i+1], src[i+1:]
		} else {
			src = nil
		}
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		if line[0] == '#' {
			if f := bytes.Fields(line); len(f) >= 3 && (string(f[1]) == "HELP" || string(f[1]) == "TYPE") {
				cur, curMeta = f[2], true
				described[string(f[2])] = true
			}
			dst.Write(line)
			continue
		}
		name := sampleName(line)
		if !bytes.Equal(name, cur) && !(curMeta && isPart(name, cur)) {
			cur, curMeta = name, false
			if !described[string(name)] { // a name whose samples come back later gets one HELP
				described[string(name)] = true
				dst.WriteString("# HELP ")
				dst.Write(name)
				dst.WriteString(" Go runtime or process metric ")
				dst.Write(name)
				dst.WriteString(".\n")
			}
		}
		dst.Write(line)
		if line[len(line)-1] != '\n' {
			dst.WriteByte('\n')
		}
	}
}

// sampleName returns the metric name of a sample line.
func sampleName(line []byte) []byte {
	i := bytes.IndexAny(line, "{ ")
	if i < 0 {
		return bytes.TrimSpace(line)
	}
	return line[:i]
}

// isPart reports whether name is a series of summary or histogram family.
func isPart(name, family []byte) bool {
	rest, ok := bytes.CutPrefix(name, family)
	return ok && (string(rest) == "_sum" || string(rest) == "_count" || string(rest) == "_bucket")
}

// scrapeBuffers keeps the buffers of finished scrapes, about a megabyte
// each with 500 components, so that a scrape does not allocate its own.
var scrapeBuffers = sync.Pool{New: func() any { return new(bytes.Buffer) }}

// scrapeStatuses keeps the status snapshots of finished scrapes, a few
// hundred kilobytes each with 500 components, for a StatusAppender to
// fill again.
var scrapeStatuses = sync.Pool{New: func() any { return new([]engine.Status) }}

// writeMetrics appends the exposition text to out, from a status snapshot
// in pooled memory when the Source can fill it.
func (s *Server) writeMetrics(out *bytes.Buffer) {
	reload, _ := s.src.(ReloadInfo)
	hist, _ := s.src.(ProxyMetrics)
	appender, ok := s.src.(StatusAppender)
	if !ok {
		s.metrics.write(out, s.src.Status(), reload, hist)
		return
	}
	kept := scrapeStatuses.Get().(*[]engine.Status)
	sts := appender.AppendStatus((*kept)[:0])
	s.metrics.write(out, sts, reload, hist)
	for i := range sts { // keep each instances array, let go of the rest
		sts[i] = engine.Status{Instances: sts[i].Instances[:0]}
	}
	*kept = sts[:0]
	scrapeStatuses.Put(kept)
}

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	out := scrapeBuffers.Get().(*bytes.Buffer)
	defer func() {
		out.Reset()
		scrapeBuffers.Put(out)
	}()
	s.writeMetrics(out)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = w.Write(out.Bytes())
}

func boolFloat(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

func nonNegative(n int64) uint64 {
	if n < 0 {
		return 0
	}
	return uint64(n)
}
