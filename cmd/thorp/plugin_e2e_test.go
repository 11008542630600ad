package main

import (
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestCheck_PluginProblemsAtTheirFileAndLine(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"thorp.lua": `settings { http = "" }
plugin "slack" { file = "plugins/slack.lua", webhook = thorp.env("SLACK_URL_UNSET") }
plugin "gone" {}
component "api" { command = "exec sleep 300" }
`,
		"plugins/slack.lua": `local opts = ...
if not opts.webhook then
  error("slack: webhook is required")
end
`,
	})
	out, errOut, code := thorpIn(t, dir, os.Environ(), "check")
	all := out + errOut
	if code == exitOK {
		t.Fatalf("check passed a plugin that fails to load:\n%s", all)
	}
	for _, want := range []string{
		"plugins/slack.lua:3: slack: webhook is required",
		`thorp.lua:3: plugin "gone": no file ` + filepath.Join(dir, "plugins", "gone.lua"),
	} {
		if !strings.Contains(all, want) {
			t.Errorf("check output lacks %q:\n%s", want, all)
		}
	}
}

func TestRun_StockRestartBudgetStopsAndAlerts(t *testing.T) {
	receiver := newAlertReceiver(t, 0, http.StatusOK)
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"thorp.lua": `settings { http = "" }
plugin "budget" { max = 2 }
component "flaky" { command = "sleep 0.2; exit 1", min_uptime = "0s", restart_delay = "100ms" }
component "steady" { command = "exec sleep 1000" }
`,
		// A plugin file using the stock library: the budget and its alerts.
		"plugins/budget.lua": `local opts = ...
require("thorp.policies.restart_budget"){ component = "flaky", max = opts.max, window = "1h" }
require("thorp.policies.notify_webhook"){ url = "` + receiver.URL + `" }
`,
	})
	cfg := filepath.Join(dir, "thorp.lua")
	startThorpRunning(t, cfg)
	waitFor(t, 20*time.Second, "flaky stopped by its restart budget", func() bool {
		st := status(t, cfg).Components[0]
		return st.State == "stopped" && st.Restarts == 3
	})
	waitFor(t, 10*time.Second, "the budget's alert at the webhook", func() bool { return len(receiver.accepted(t)) > 0 })
	got := receiver.accepted(t)[0]
	if got.Kind != "lua" || got.Component != "flaky" || got.Fields["restarts"] != "3" ||
		got.Message != "flaky restarted 3 times within 1h, over its budget of 2; stopping it" {
		t.Errorf("the webhook got %+v", got)
	}
	if st := status(t, cfg).Components[1]; st.State != "running" {
		t.Errorf("steady is %s; the budget is flaky's alone", st.State)
	}
	if log := thorpLog(cfg); !strings.Contains(log, "lua=thorp.policies.restart_budget:") {
		t.Errorf("thorp.log lacks the alert with the stock module's line:\n%s", log)
	}
}
