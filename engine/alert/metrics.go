package alert

import (
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/VictoriaMetrics/metrics"
	"github.com/thorp-dev/thorp/engine/promlabel"
)

// alertsFamily is the metric of the dispatcher's outcomes.
const alertsFamily = "thorp_alerts_total"

// kinds and outcomes are pre-created at 0 in thorp_alerts_total, so rate()
// works from the first scrape.
var (
	kinds    = []string{"errored", "health", "lua", "memory", "restarts"}
	outcomes = []string{OutcomeDropped, OutcomeFailed, OutcomeLogged, OutcomeSent, OutcomeSuppressed}
)

// counters are the alerts by kind and outcome; safe for concurrent use.
type counters struct {
	mu sync.Mutex
	n  map[[2]string]uint64
}

func (c *counters) add(kind, outcome string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.n == nil {
		c.n = map[[2]string]uint64{}
	}
	c.n[[2]string{kind, outcome}]++
}

// snapshot returns the counts, with every known kind and outcome present.
func (c *counters) snapshot() map[[2]string]uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := maps.Clone(c.n)
	if out == nil {
		out = map[[2]string]uint64{}
	}
	for _, k := range kinds {
		for _, o := range outcomes {
			out[[2]string{k, o}] += 0
		}
	}
	return out
}

// WriteMetrics writes thorp_alerts_total{kind,outcome} in Prometheus text
// format, with its # HELP and # TYPE lines. Safe for concurrent use.
func (d *Dispatcher) WriteMetrics(w io.Writer) {
	counts := d.stats.snapshot()
	fmt.Fprintf(w, "# HELP %s Alerts raised, by kind and by what became of them (sent, failed, suppressed, dropped, logged).\n# TYPE %s counter\n",
		alertsFamily, alertsFamily)
	keys := slices.SortedFunc(maps.Keys(counts), func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	for _, k := range keys {
		metrics.WriteCounterUint64(w, fmt.Sprintf(`%s{kind="%s",outcome="%s"}`, alertsFamily, promlabel.Escape(k[0]), promlabel.Escape(k[1])), counts[k])
	}
}
