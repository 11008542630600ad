package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestTagsAndAutostart: @tag selects components in start, stop, restart,
// signal, status, describe and logs; an unknown tag exits 1; autostart =
// false is defined, shown stopped and started only by thorp start.
func TestTagsAndAutostart(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "web" { command = "echo web-says-hi; exec sleep 1000", tags = { "front", "http" } }
component "api" { command = "echo api-says-hi; exec sleep 1000", tags = { "http" } }
component "db" { command = { "sleep", "1000" } }
component "worker" { command = { "sleep", "1000" }, autostart = false, tags = { "bg" } }
`)
	startThorp(t, cfg)
	waitFor(t, 10*time.Second, "web, api and db running", func() bool {
		n := 0
		for _, c := range status(t, cfg).Components {
			if c.State == "running" {
				n++
			}
		}
		return n == 3
	})
	out, _, code := thorpCmd(t, "status", "-c", cfg)
	if code != 0 || !strings.Contains(out, "worker: autostart = false: start it with thorp start worker") {
		t.Fatalf("status: exit %d\n%s", code, out)
	}
	if st := status(t, cfg); st.Components[3].State != "stopped" || st.Components[3].PID != 0 {
		t.Fatalf("worker was started: %+v", st.Components[3])
	}

	// status @http shows only the tagged ones.
	out, _, code = thorpCmd(t, "status", "@http", "--json", "-c", cfg)
	var st struct {
		Components []struct {
			Name string   `json:"name"`
			Tags []string `json:"tags"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(out), &st); code != 0 || err != nil || len(st.Components) != 2 ||
		st.Components[0].Name != "web" || st.Components[1].Name != "api" || strings.Join(st.Components[0].Tags, ",") != "front,http" {
		t.Fatalf("status @http: exit %d %v\n%s", code, err, out)
	}

	// stop @http stops both and leaves db.
	if _, errOut, code := thorpCmd(t, "stop", "@http", "-c", cfg); code != 0 {
		t.Fatalf("stop @http: exit %d %s", code, errOut)
	}
	byName := func() map[string]string {
		m := map[string]string{}
		for _, c := range status(t, cfg).Components {
			m[c.Name] = c.State
		}
		return m
	}
	if m := byName(); m["web"] != "stopped" || m["api"] != "stopped" || m["db"] != "running" {
		t.Fatalf("after stop @http: %v", m)
	}
	if _, errOut, code := thorpCmd(t, "start", "@http", "@bg", "-c", cfg); code != 0 {
		t.Fatalf("start @http @bg: exit %d %s", code, errOut)
	}
	if m := byName(); m["web"] != "running" || m["api"] != "running" || m["worker"] != "running" {
		t.Fatalf("after start @http @bg: %v", m)
	}
	if _, errOut, code := thorpCmd(t, "restart", "@front", "-c", cfg); code != 0 {
		t.Fatalf("restart @front: exit %d %s", code, errOut)
	}
	if _, errOut, code := thorpCmd(t, "signal", "HUP", "@bg", "-c", cfg); code != 0 {
		t.Fatalf("signal HUP @bg: exit %d %s", code, errOut)
	}

	// describe @http describes each; the tags are shown.
	out, _, code = thorpCmd(t, "describe", "@http", "-c", cfg)
	if code != 0 || strings.Count(out, "tags:") != 2 || !strings.Contains(out, "front, http") || !strings.Contains(out, "restart (manual)") {
		t.Fatalf("describe @http: exit %d\n%s", code, out)
	}
	// logs @http reads both components' files.
	out, _, code = thorpCmd(t, "logs", "@http", "-n", "5", "-c", cfg)
	if code != 0 || !strings.Contains(out, "web-says-hi") || !strings.Contains(out, "api-says-hi") {
		t.Fatalf("logs @http: exit %d\n%s", code, out)
	}

	// An unknown tag is exit 1 everywhere, naming the known tags.
	for _, args := range [][]string{
		{"start", "@nope"}, {"stop", "@nope"}, {"restart", "@nope"}, {"signal", "HUP", "@nope"},
		{"status", "@nope"}, {"describe", "@nope"}, {"logs", "@nope"},
	} {
		_, errOut, code := thorpCmd(t, append(args, "-c", cfg)...)
		if code != 1 || !strings.Contains(errOut, "@nope") || !strings.Contains(errOut, "@http") {
			t.Errorf("%v: exit %d %q", args, code, errOut)
		}
	}
}

// TestWatch: a change under watch.paths restarts the component with
// reason watch; a missing path is a check error at its line.
func TestWatch(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "app" {
  command = "exec sleep 1000",
  watch = { paths = { "src" }, delay = "100ms" },
}
`)
	src := filepath.Join(filepath.Dir(cfg), "src")
	out, errOut, code := thorpCmd(t, "check", "-c", cfg)
	if code != 1 || !strings.Contains(out+errOut, "thorp.lua:2: component \"app\": watch.paths:") || !strings.Contains(out+errOut, src) {
		t.Fatalf("check with src missing: exit %d\n%s%s", code, out, errOut)
	}
	if err := os.MkdirAll(filepath.Join(src, "node_modules"), 0o755); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := thorpCmd(t, "check", "-c", cfg); code != 0 {
		t.Fatalf("check: exit %d\n%s%s", code, out, errOut)
	}
	startThorpRunning(t, cfg)
	pid := status(t, cfg).Components[0].PID
	if err := os.WriteFile(filepath.Join(src, "node_modules", "x.js"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "app.js"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "a watch restart", func() bool {
		c := status(t, cfg).Components[0]
		return c.RestartsByReason["watch"] == 1 && c.State == "running" && c.PID != pid
	})
	out, _, _ = thorpCmd(t, "describe", "app", "-c", cfg)
	if !strings.Contains(out, filepath.Join(src, "app.js")+" changed") {
		t.Fatalf("describe does not say what changed:\n%s", out)
	}
}

// TestUp_AutostartFalse: thorp up is done once the autostarted components
// run; a component waiting for a not-autostarted one does not hold it up.
func TestUp_AutostartFalse(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "db" { command = { "sleep", "1000" } }
component "job" { command = { "sleep", "1000" }, autostart = false }
component "report" { command = { "sleep", "1000" }, depends_on = { "job" } }
`)
	upThorp(t, cfg)
	m := map[string]string{}
	for _, c := range status(t, cfg).Components {
		m[c.Name] = c.State
	}
	if m["db"] != "running" || m["job"] != "stopped" || m["report"] != "starting" {
		t.Fatalf("after up: %v", m)
	}
	out, _, _ := thorpCmd(t, "describe", "report", "-c", cfg)
	if !strings.Contains(out, "waiting for [job] to be running") {
		t.Fatalf("describe report:\n%s", out)
	}
	if _, errOut, code := thorpCmd(t, "start", "job", "report", "-c", cfg); code != 0 {
		t.Fatalf("start job report: exit %d %s", code, errOut)
	}
	for _, c := range status(t, cfg).Components {
		if c.State != "running" {
			t.Fatalf("%s is %s after start", c.Name, c.State)
		}
	}
}
