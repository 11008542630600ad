package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"
)

func TestRun_HookRestartsAnotherComponent(t *testing.T) {
	receiver := newAlertReceiver(t, 0, http.StatusOK)
	web := freeTCPPort(t)
	cfg := writeConfig(t, `
settings { http = "127.0.0.1:`+fmt.Sprint(web)+`", alerts = { webhook = "`+receiver.URL+`" } }
component "flaky" { command = "sleep 0.3; exit 1", min_uptime = "0s", restart_delay = "5s" }
component "other" { command = "exec sleep 1000" }
on("crash", function(ev)
  if ev.component ~= "flaky" then return end
  local st = thorp.status("other")
  thorp.log("other was " .. st.state .. " as pid " .. st.pid .. " with " .. #st.instances .. " instance(s)")
  thorp.restart("other", "crash of " .. ev.component)
  thorp.alert("flaky crashed", { component = "flaky", restarts = ev.restarts_last_hour })
end)
`)
	startThorpRunning(t, cfg)
	before := status(t, cfg).Components[1].PID
	waitFor(t, 15*time.Second, "the hook's restart of other", func() bool {
		st := status(t, cfg).Components[1]
		return st.RestartsByReason["manual"] >= 1 && st.State == "running" && st.PID != before && st.PID != 0
	})
	if alive(before) {
		t.Errorf("other's old pid %d survived the restart", before)
	}
	out, _, code := thorpCmd(t, "describe", "other", "-c", cfg)
	if code != 0 || !strings.Contains(out, "restart requested (manual): crash of flaky") {
		t.Errorf("describe other: exit %d, want the hook's reason in the restart event:\n%s", code, out)
	}
	out, _, code = thorpCmd(t, "describe", "flaky", "-c", cfg)
	if code != 0 || !strings.Contains(out, "flaky crashed") {
		t.Errorf("describe flaky: exit %d, want the hook's alert among its events:\n%s", code, out)
	}
	waitFor(t, 10*time.Second, "the hook's thorp.alert at the webhook", func() bool { return len(receiver.accepted(t)) > 0 })
	got := receiver.accepted(t)[0]
	if got.Kind != "lua" || got.Component != "flaky" || got.Message != "flaky crashed" || got.Fields["restarts"] != "1" || got.Fields["component"] != "flaky" {
		t.Errorf("the webhook got %+v, want thorp.alert's kind lua, component, message and fields", got)
	}
	log := thorpLog(cfg)
	if want := "with 1 instance(s)"; !strings.Contains(log, "other was running as pid ") || !strings.Contains(log, want) {
		t.Errorf("thorp.log lacks the hook's thorp.status line:\n%s", log)
	}
	// The hook's calls are in /metrics: the crash hook ran, without failing.
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", web))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`thorp_hook_calls_total{outcome="failed"} 0`, "thorp_hook_events_dropped_total 0"} {
		if !strings.Contains(string(body), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if !regexp.MustCompile(`(?m)^thorp_hook_calls_total\{outcome="ok"\} [1-9]`).Match(body) {
		t.Errorf("/metrics counts no successful hook call")
	}
}

func TestRun_TimersAndLogReachThorpLog(t *testing.T) {
	body := func(word string) string {
		return `
settings { http = "" }
component "idle" { command = "exec sleep 1000" }
thorp.log("loaded ` + word + `")
local n = 0
thorp.every("200ms", function()
  n = n + 1
  thorp.log("` + word + ` " .. n)
end)
`
	}
	cfg := writeConfig(t, body("tick"))
	startThorpRunning(t, cfg)
	waitFor(t, 10*time.Second, "the timer's third line in thorp.log", func() bool {
		return strings.Contains(thorpLog(cfg), "tick 3")
	})
	log := thorpLog(cfg)
	if !strings.Contains(log, `msg="loaded tick" lua=thorp.lua:4`) {
		t.Errorf("thorp.log(msg) did not write msg at info with its line:\n%s", log)
	}
	if !strings.Contains(log, `msg="tick 1" lua=thorp.lua:8`) {
		t.Errorf("the timer's line lacks its message or line:\n%s", log)
	}
	if strings.Contains(log, "msg=nil") {
		t.Errorf("thorp.log(msg) still logs msg=nil:\n%s", log)
	}

	// A reload installs the new config's timer and stops the old one's.
	if err := os.WriteFile(cfg, []byte(body("tock")), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != 0 {
		t.Fatalf("reload-config: exit %d %s", code, errOut)
	}
	waitFor(t, 10*time.Second, "the new timer's fourth line", func() bool {
		return strings.Contains(thorpLog(cfg), `msg="tock 4"`)
	})
	log = thorpLog(cfg)
	after := log[strings.Index(log, `msg="tock 2"`):]
	if strings.Contains(after, `msg="tick `) {
		t.Errorf("the old config's timer still fired after the reload:\n%s", after)
	}
}
