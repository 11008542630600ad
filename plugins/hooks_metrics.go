package plugins

import (
	"fmt"
	"io"

	"github.com/VictoriaMetrics/metrics"
)

// WriteMetrics writes the hooks' families for /metrics: calls by outcome
// and the events dropped because the hooks' queue was full. Safe for
// concurrent use.
func (h *HookRunner) WriteMetrics(w io.Writer) {
	fmt.Fprint(w, "# HELP thorp_hook_calls_total on() hook calls, by outcome (ok, failed: an error, a timeout or an overrun).\n# TYPE thorp_hook_calls_total counter\n")
	metrics.WriteCounterUint64(w, `thorp_hook_calls_total{outcome="ok"}`, uint64(h.calls[0].Load()))
	metrics.WriteCounterUint64(w, `thorp_hook_calls_total{outcome="failed"}`, uint64(h.calls[1].Load()))
	fmt.Fprintf(w, "# HELP thorp_hook_events_dropped_total Engine events the hooks never saw: their queue (%d) was full.\n# TYPE thorp_hook_events_dropped_total counter\n", hookQueue)
	metrics.WriteCounterUint64(w, "thorp_hook_events_dropped_total", uint64(h.dropped.Load()))
}
