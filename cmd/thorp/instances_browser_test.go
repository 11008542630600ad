package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// The dashboard's rows read like thorp status: a component of three
// instances, one waiting to restart, is "running 2/3" with no pid or
// uptime of its own (never instance 0's under another's backoff) and its
// memory summed without the per-process limit; each instance row has its
// own state, pid, and memory against the limit.
func TestDashboard_InstanceRowsLikeStatus(t *testing.T) {
	port := freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(`settings { http = "127.0.0.1:%d" }
component "web" {
  command = [[if [ "$THORP_INSTANCE" = 1 ]; then exit 0; fi; exec sleep 1000]],
  instances = 3,
  restart_delay = "1h",
  max_memory_restart = "100MB",
}
`, port))
	b := newBrowser(t)
	startThorp(t, cfg)
	var web componentJSON
	waitFor(t, 30*time.Second, "instance 1 waiting to restart and the others' memory sampled", func() bool {
		web = componentStatus(t, cfg, "web")
		return len(web.Instances) == 3 && web.Instances[1].State == "backoff" &&
			web.Instances[0].MemoryB > 0 && web.Instances[2].MemoryB > 0
	})

	tb := b.newTab("1280x800", 1280, 800, false)
	loadDashboard(t, tb, fmt.Sprintf("http://127.0.0.1:%d/", port))
	// Cells: name, state, pid, uptime, restarts, memory, cpu, health.
	rows := eval[map[string][]string](tb, 5*time.Second, `(function () {
  var out = {};
  document.querySelectorAll('table#components tr[data-component="web"]').forEach(function (tr) {
    out[tr.dataset.instance === undefined ? "web" : "#" + tr.dataset.instance] =
      Array.prototype.map.call(tr.cells, function (td) { return td.textContent; });
  });
  return out;
})()`)
	if c := rows["web"]; len(c) != 8 || c[1] != "running 2/3" || c[2] != "-" || c[3] != "-" || strings.Contains(c[5], "/") {
		t.Errorf("web's row %q: want running 2/3, no pid or uptime, the memory sum without the limit", c)
	}
	if c := rows["#1"]; len(c) != 8 || c[1] != "backoff" || c[2] != "-" {
		t.Errorf("#1's row %q: want backoff without a pid", c)
	}
	for _, i := range []int{0, 2} {
		c := rows[fmt.Sprintf("#%d", i)]
		if len(c) != 8 || c[1] != "running" || c[2] != fmt.Sprint(web.Instances[i].PID) || !strings.Contains(c[5], " / ") {
			t.Errorf("#%d's row %q: want running, pid %d, memory against the limit", i, c, web.Instances[i].PID)
		}
	}
	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", joinLines(errs))
	}
}
