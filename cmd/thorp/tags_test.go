package main

import (
	"encoding/json"
	"strings"
	"testing"
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
	waitFor(t, 10e9, "web, api and db running", func() bool {
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
