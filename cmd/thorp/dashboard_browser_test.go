package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/thorp-dev/thorp/engine"
)

// TestDashboard_InABrowser opens the dashboard of a live `thorp run` in
// headless Chromium: a component that leaks past its limit (two instances,
// recycled every few seconds) and a steady one, with a token. It relies on
// the page's DOM hooks (docs/api.md, "The dashboard").
func TestDashboard_InABrowser(t *testing.T) {
	port := freeTCPPort(t)
	const token = "browser-test-token-3f9c2a7d"
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "127.0.0.1:%d", token = %q }
component "leaky" {
  command = { %q, "simulate", "leak", "--rate", "20MB/s" },
  instances = 2,
  max_memory_restart = "60MB",
}
component "steady" { command = { "sleep", "1000" } }
`, port, token, thorpBin))
	b := newBrowser(t)
	startThorpRunning(t, cfg)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	shots := t.TempDir()
	limit := componentStatus(t, cfg, "leaky").MemoryLimitBytes

	// The page renders every component and instance.
	wide := b.newTab("1280x800", 1280, 800, false)
	loadDashboard(t, wide, url)
	checkRows(t, wide, status(t, cfg))

	// Selected before the recycle, the chart draws the limit line and,
	// after it, a restart marker.
	selectComponent(wide, "leaky")
	recycle := waitEvent(t, port, "leaky", 60*time.Second, func(ev engine.Event) bool {
		return ev.Type == engine.EventRestart && ev.Reason == "memory"
	})
	t.Logf("recycled: leaky[%d] %s", recycle.Instance, recycle.Message)
	checkChart(t, wide, limit, 30*time.Second)
	wide.screenshot(shots, "dashboard")

	restartThroughPage(t, wide, cfg, token, "steady")

	// A page opened after the recycle shows the history thorp kept: the
	// markers are there at once, not only for restarts it saw happen.
	phone := b.newTab("390x844", 390, 844, true)
	loadDashboard(t, phone, url)
	selectComponent(phone, "leaky")
	checkChart(t, phone, limit, 10*time.Second)
	phone.screenshot(shots, "dashboard")

	if errs := b.consoleErrors(); len(errs) > 0 {
		t.Errorf("console errors:\n%s", joinLines(errs))
	}
}

// loadDashboard opens url in the tab, waits for its first full render and logs the
// time it took from navigation start.
func loadDashboard(t *testing.T, tb *tab, url string) {
	t.Helper()
	tb.do(30*time.Second, "loading "+url, chromedp.Navigate(url),
		chromedp.WaitVisible(chromedp.CSS(`body[data-ready="1"]`)))
	ms := eval[float64](tb, 5*time.Second, "window.__thorpReadyMs")
	t.Logf("%s: time to first render %.0f ms (navigation start to body[data-ready]; loopback)", tb.name, ms)
}

// checkRows checks that the table has one row per component and one per
// instance, as thorp status reports them.
func checkRows(t *testing.T, tb *tab, st statusJSON) {
	t.Helper()
	type rows struct {
		Components int   `json:"components"`
		Instances  []int `json:"instances"`
	}
	got := eval[map[string]rows](tb, 5*time.Second, `(function () {
  var out = {};
  document.querySelectorAll("table#components tr[data-component]").forEach(function (tr) {
    var c = out[tr.dataset.component] = out[tr.dataset.component] || { components: 0, instances: [] };
    if (tr.dataset.instance === undefined) { c.components++; } else { c.instances.push(Number(tr.dataset.instance)); }
  });
  return out;
})()`)
	if len(got) != len(st.Components) {
		t.Errorf("%s: table rows of %d components %v, want %d", tb.name, len(got), got, len(st.Components))
	}
	for _, c := range st.Components {
		var want []int
		for _, in := range c.Instances {
			want = append(want, in.Index)
		}
		r := got[c.Name]
		slices.Sort(r.Instances)
		if r.Components != 1 || !slices.Equal(r.Instances, want) {
			t.Errorf("%s: %s has %d component rows and instance rows %v, want 1 and %v", tb.name, c.Name, r.Components, r.Instances, want)
		}
	}
}

// selectComponent clicks the component's row and waits for its detail.
func selectComponent(tb *tab, name string) {
	tb.b.t.Helper()
	detail := fmt.Sprintf(`section#detail[data-component=%q]`, name)
	tb.do(10*time.Second, "selecting "+name,
		chromedp.Click(chromedp.CSS(fmt.Sprintf(`table#components tr[data-component=%q]:not([data-instance])`, name))),
		chromedp.WaitVisible(chromedp.CSS(detail+" #memory-chart")),
		chromedp.WaitVisible(chromedp.CSS(detail+" #cpu-chart")))
}

// checkChart waits until the memory chart has drawn the limit line and at
// least one restart marker, and checks the line is at limit.
func checkChart(t *testing.T, tb *tab, limit int64, within time.Duration) {
	t.Helper()
	got := poll[string](tb, within, "the limit line and a restart marker on #memory-chart", `(function () {
  var c = document.querySelector("#memory-chart");
  return c && c.dataset.limit && Number(c.dataset.markers) >= 1 ? c.dataset.limit + " " + c.dataset.markers : "";
})()`)
	var line, markers int64
	if _, err := fmt.Sscan(got, &line, &markers); err != nil || line != limit {
		t.Errorf("%s: #memory-chart data-limit and data-markers %q, want a limit of %d", tb.name, got, limit)
	}
	t.Logf("%s: memory chart: limit %d, %d restart markers", tb.name, line, markers)
}

// restartThroughPage restarts component as a user does: the token typed in,
// the action clicked and confirmed; the restart must then be in the
// timeline, and thorp must have done it.
func restartThroughPage(t *testing.T, tb *tab, cfg, token, component string) {
	t.Helper()
	before := componentStatus(t, cfg, component)
	selectComponent(tb, component)
	detail := fmt.Sprintf(`section#detail[data-component=%q]`, component)
	action := detail + ` button[data-action="restart"]`
	if shown := eval[bool](tb, 5*time.Second, fmt.Sprintf(
		`(function (b) { return !!b && b.getClientRects().length > 0; })(document.querySelector(%q))`, action)); shown {
		t.Errorf("%s: the restart action is shown before the token is given", tb.name)
	}
	tb.do(20*time.Second, "restarting "+component+" with the token",
		chromedp.SendKeys(chromedp.CSS("input#token"), token+"\r"),
		chromedp.Click(chromedp.CSS(action)),
		chromedp.Click(chromedp.CSS(`dialog#confirm[open] button#confirm-yes`)),
		chromedp.WaitVisible(chromedp.CSS(fmt.Sprintf(`ol#timeline li[data-reason="manual"][data-component=%q]`, component))))
	// The timeline shows the restart event, which comes before the new
	// process runs: wait (bounded) for thorp to report the new pid.
	pid := func(c componentJSON) int { return c.Instances[0].PID }
	var after componentJSON
	deadline := time.Now().Add(10 * time.Second)
	for {
		after = componentStatus(t, cfg, component)
		if pid(after) != 0 && pid(after) != pid(before) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after.RestartsByReason["manual"] != before.RestartsByReason["manual"]+1 || pid(after) == pid(before) {
		t.Errorf("%s restarted from the page: pid %d → %d, manual restarts %d → %d",
			component, pid(before), pid(after), before.RestartsByReason["manual"], after.RestartsByReason["manual"])
	}
}

// apiGet decodes the JSON answer of GET path on thorp's HTTP API into v.
func apiGet(t testing.TB, port int, path string, v any) {
	t.Helper()
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", port, path))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", path, resp.Status)
	}
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", path, err)
	}
}

// waitEvent follows component's events on thorp's HTTP API until one
// matches, and returns it.
func waitEvent(t *testing.T, port int, component string, timeout time.Duration, match func(engine.Event) bool) engine.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var since uint64
	for time.Now().Before(deadline) {
		var out struct {
			Events []engine.Event `json:"events"`
		}
		apiGet(t, port, fmt.Sprintf("/api/v1/events?component=%s&since=%d&wait=5s", component, since), &out)
		for _, ev := range out.Events {
			if match(ev) {
				return ev
			}
			since = ev.Seq
		}
	}
	t.Fatalf("no matching event of %s within %s", component, timeout)
	return engine.Event{}
}

// joinLines is lines, one a line.
func joinLines(lines []string) string {
	out := ""
	for _, l := range lines {
		out += "  " + l + "\n"
	}
	return out
}
