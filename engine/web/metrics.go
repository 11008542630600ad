package web

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/policies"
)

// family describes one metric family for the # HELP and # TYPE lines.
type family struct {
	typ, help string
}

// families are the metric families thorp itself exposes (DESIGN "HTTP",
// "Metrics"). Every per-component family has the label component.
var families = map[string]family{
	"thorp_component_up":                           {"gauge", "1 when the component is running (ready), else 0."},
	"thorp_component_state":                        {"gauge", "1 for the component's current lifecycle state, 0 for the others."},
	"thorp_component_restarts_total":               {"counter", "Restarts of the component, by reason."},
	"thorp_component_memory_bytes":                 {"gauge", "Memory of the component's whole process tree."},
	"thorp_component_memory_limit_bytes":           {"gauge", "The component's max_memory_restart; 0 when unset."},
	"thorp_component_memory_growth_bytes_per_hour": {"gauge", "Recent growth rate of the component's memory."},
	"thorp_component_cpu_seconds_total":            {"counter", "CPU time used by the component's process tree."},
	"thorp_component_uptime_seconds":               {"gauge", "Time since the component's current process started; 0 when not running."},
	"thorp_component_last_exit_code":               {"gauge", "Exit code of the component's last exit; -1 when killed by a signal, 0 when it never exited."},
	"thorp_log_bytes_total":                        {"counter", "Bytes written to the component's log, by stream."},
	"thorp_log_rotations_total":                    {"counter", "Rotations of the component's log, by stream."},
	"thorp_log_dropped_bytes_total":                {"counter", "Log bytes that could not be written (full disk, missing dir), by stream."},
	"thorp_config_last_reload_success":             {"gauge", "1 when the last config load or reload succeeded, else 0."},
	"thorp_config_last_reload_timestamp_seconds":   {"gauge", "Unix time of the last config load or reload attempt."},
}

// states are the lifecycle states of thorp_component_state.
var states = []engine.State{
	engine.StateStarting, engine.StateRunning, engine.StateStopping,
	engine.StateStopped, engine.StateBackoff, engine.StateErrored,
}

// logStreams are pre-created for every component; "err" stays 0 with merge_logs.
var logStreams = []string{"out", "err"}

// rebuildRatio: when more than 1/rebuildRatio of the components went away
// since the last scrape, the Set is rebuilt rather than pruned one series at
// a time (each removal is linear in the Set's size).
const rebuildRatio = 4

// metricsState keeps a metrics.Set in step with the current components: a
// scrape updates the series of every component and unregisters those of
// removed ones. It is safe for concurrent use; scrapes are serialised.
type metricsState struct {
	mu       sync.Mutex
	set      *metrics.Set
	gen      uint64
	comps    map[string]*componentSeries
	reloadOK *metrics.Gauge
	reloadAt *metrics.Gauge
	started  time.Time
	buf      bytes.Buffer // scratch for the Set's output
	lastSize int          // size of the previous scrape, to size the next
}

func newMetricsState(started time.Time) *metricsState {
	m := &metricsState{set: metrics.NewSet(), started: started}
	m.reset()
	return m
}

// reset empties the Set and registers the process-wide series.
func (m *metricsState) reset() {
	m.set.UnregisterAllMetrics()
	m.comps = map[string]*componentSeries{}
	m.reloadOK = m.set.GetOrCreateGauge("thorp_config_last_reload_success", nil)
	m.reloadAt = m.set.GetOrCreateGauge("thorp_config_last_reload_timestamp_seconds", nil)
}

// componentSeries holds one component's registered series.
type componentSeries struct {
	label    string   // `component="NAME"`, escaped
	names    []string // every registered series, for removal
	seen     uint64   // the scrape generation that last saw the component
	up       *metrics.Gauge
	memory   *metrics.Gauge
	limit    *metrics.Gauge
	growth   *metrics.Gauge
	uptime   *metrics.Gauge
	lastExit *metrics.Gauge
	cpu      *metrics.FloatCounter
	states   map[engine.State]*metrics.Gauge
	restarts map[string]*metrics.Counter
	logs     map[string]*logSeries
}

type logSeries struct {
	bytes, rotations, dropped *metrics.Counter
}

// series returns the full name of family's series for this component with
// the extra label name=value ("" for none).
func (c *componentSeries) series(family, name, value string) string {
	var b strings.Builder
	b.WriteString(family)
	b.WriteByte('{')
	b.WriteString(c.label)
	if name != "" {
		b.WriteByte(',')
		b.WriteString(name)
		b.WriteString(`="`)
		b.WriteString(escapeLabel(value))
		b.WriteByte('"')
	}
	b.WriteByte('}')
	s := b.String()
	c.names = append(c.names, s)
	return s
}

func newComponentSeries(set *metrics.Set, name string) *componentSeries {
	c := &componentSeries{
		label:    `component="` + escapeLabel(name) + `"`,
		states:   make(map[engine.State]*metrics.Gauge, len(states)),
		restarts: make(map[string]*metrics.Counter, len(policies.Reasons)),
		logs:     make(map[string]*logSeries, len(logStreams)),
	}
	c.up = set.GetOrCreateGauge(c.series("thorp_component_up", "", ""), nil)
	c.memory = set.GetOrCreateGauge(c.series("thorp_component_memory_bytes", "", ""), nil)
	c.limit = set.GetOrCreateGauge(c.series("thorp_component_memory_limit_bytes", "", ""), nil)
	c.growth = set.GetOrCreateGauge(c.series("thorp_component_memory_growth_bytes_per_hour", "", ""), nil)
	c.uptime = set.GetOrCreateGauge(c.series("thorp_component_uptime_seconds", "", ""), nil)
	c.lastExit = set.GetOrCreateGauge(c.series("thorp_component_last_exit_code", "", ""), nil)
	c.cpu = set.GetOrCreateFloatCounter(c.series("thorp_component_cpu_seconds_total", "", ""))
	for _, st := range states {
		c.states[st] = set.GetOrCreateGauge(c.series("thorp_component_state", "state", string(st)), nil)
	}
	for _, r := range policies.Reasons { // pre-created at 0 so rate() works from the first scrape
		c.restart(set, string(r))
	}
	for _, s := range logStreams {
		c.log(set, s)
	}
	return c
}

func (c *componentSeries) restart(set *metrics.Set, reason string) *metrics.Counter {
	if ctr := c.restarts[reason]; ctr != nil {
		return ctr
	}
	ctr := set.GetOrCreateCounter(c.series("thorp_component_restarts_total", "reason", reason))
	c.restarts[reason] = ctr
	return ctr
}

func (c *componentSeries) log(set *metrics.Set, stream string) *logSeries {
	if l := c.logs[stream]; l != nil {
		return l
	}
	l := &logSeries{
		bytes:     set.GetOrCreateCounter(c.series("thorp_log_bytes_total", "stream", stream)),
		rotations: set.GetOrCreateCounter(c.series("thorp_log_rotations_total", "stream", stream)),
		dropped:   set.GetOrCreateCounter(c.series("thorp_log_dropped_bytes_total", "stream", stream)),
	}
	c.logs[stream] = l
	return l
}

// update sets every series from st.
func (c *componentSeries) update(set *metrics.Set, st engine.Status) {
	c.up.Set(boolFloat(st.State == engine.StateRunning))
	c.memory.Set(float64(st.MemoryBytes))
	c.limit.Set(float64(st.MemoryLimitBytes))
	c.growth.Set(st.MemoryGrowthBytesPerHour)
	c.uptime.Set(st.UptimeSeconds)
	c.cpu.Set(st.CPUSeconds)
	code := 0
	if st.LastExit != nil {
		code = st.LastExit.Code
	}
	c.lastExit.Set(float64(code))
	for s, g := range c.states {
		g.Set(boolFloat(s == st.State))
	}
	for reason, ctr := range c.restarts {
		ctr.Set(nonNegative(int64(st.RestartsByReason[reason])))
	}
	for reason, n := range st.RestartsByReason {
		if c.restarts[reason] == nil {
			c.restart(set, reason).Set(nonNegative(int64(n)))
		}
	}
	for _, ls := range st.Logs {
		l := c.log(set, ls.Stream)
		l.bytes.Set(nonNegative(ls.Bytes))
		l.rotations.Set(nonNegative(ls.Rotations))
		l.dropped.Set(nonNegative(ls.DroppedBytes))
	}
}

// sync brings the Set in step with sts and the reload state.
func (m *metricsState) sync(sts []engine.Status, reload ReloadInfo) {
	m.gen++
	for _, st := range sts {
		c := m.comps[st.Name]
		if c == nil {
			c = newComponentSeries(m.set, st.Name)
			m.comps[st.Name] = c
		}
		c.seen = m.gen
		c.update(m.set, st)
	}
	var gone []string
	for name, c := range m.comps {
		if c.seen != m.gen {
			gone = append(gone, name)
		}
	}
	if len(gone) > 0 && len(gone)*rebuildRatio > len(m.comps) && len(gone) > 8 {
		m.reset()
		m.sync(sts, reload)
		return
	}
	for _, name := range gone {
		for _, n := range m.comps[name].names {
			m.set.UnregisterMetric(n)
		}
		delete(m.comps, name)
	}
	ok, at := true, m.started
	if reload != nil {
		ok, at = reload.LastReload()
		if at.IsZero() {
			at = m.started
		}
	}
	m.reloadOK.Set(boolFloat(ok))
	m.reloadAt.Set(float64(at.UnixNano()) / 1e9)
}

// write appends the exposition text for sts to out: thorp's families with
// # HELP and # TYPE, then the Go runtime and process metrics.
func (m *metricsState) write(out *bytes.Buffer, sts []engine.Status, reload ReloadInfo) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.sync(sts, reload)
	out.Grow(m.lastSize + m.lastSize/8)
	defer func() { m.lastSize = out.Len() }()
	m.buf.Reset()
	m.set.WritePrometheus(&m.buf)
	described := map[string]bool{}
	annotate(out, m.buf.Bytes(), described)
	m.buf.Reset()
	metrics.WriteProcessMetrics(&m.buf)
	annotate(out, m.buf.Bytes(), described)
}

// annotate copies exposition text from src to dst, adding # HELP and # TYPE
// before the first line of each family that has none: thorp's own families
// get their help and type from families; others (Go and process metrics,
// written without metadata unless metrics.ExposeMetadata is on) get a
// generic help line and stay untyped. Metadata lines already present for
// thorp's families are replaced by thorp's. described records the names
// that got a # HELP, so a name whose samples come back later (the
// library's push histograms interleave) never gets a second one.
func annotate(dst *bytes.Buffer, src []byte, described map[string]bool) {
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
			f := bytes.Fields(line)
			if len(f) >= 3 && (string(f[1]) == "HELP" || string(f[1]) == "TYPE") {
				if _, ours := families[string(f[2])]; ours {
					continue
				}
				cur, curMeta = f[2], true
			}
			dst.Write(line)
			continue
		}
		name := sampleName(line)
		if !bytes.Equal(name, cur) && !(curMeta && isPart(name, cur)) {
			cur, curMeta = name, false
			if described[string(name)] {
				// already described earlier in this exposition
			} else if fam, ok := families[string(name)]; ok {
				described[string(name)] = true
				fmt.Fprintf(dst, "# HELP %s %s\n# TYPE %s %s\n", name, fam.help, name, fam.typ)
			} else {
				described[string(name)] = true
				fmt.Fprintf(dst, "# HELP %s Go runtime or process metric %s.\n", name, name)
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

func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	var out bytes.Buffer
	reload, _ := s.src.(ReloadInfo)
	s.metrics.write(&out, s.src.Status(), reload)
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	if r.Method == http.MethodHead {
		return
	}
	_, _ = io.Copy(w, &out)
}

var labelEscaper = strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)

// escapeLabel escapes a label value for the text format.
func escapeLabel(v string) string { return labelEscaper.Replace(v) }

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
