package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestTags_EverywhereANameIs: @TAG selects exactly the tagged components
// in every command that takes a name (restart, reload, signal, stop,
// start, reset, scale, flush, rotate, status, describe, logs, env) and in
// /api/v1 (GET components?component=, GET components/@TAG, POST
// components/@TAG/ACTION, events?component=); an unknown tag is exit 1
// (404) naming the known tags, and changes nothing.
func TestTags_EverywhereANameIs(t *testing.T) {
	port := freeTCPPort(t)
	const token = "0123456789abcdef"
	cfg := writeConfig(t, fmt.Sprintf(`settings { http = "127.0.0.1:%d", token = %q }
component "web" { command = "echo web-says-hi; exec sleep 1000", tags = { "front", "http" }, env = { WHO = "web" } }
component "api" { command = "echo api-says-hi; exec sleep 1000", tags = { "http" }, env = { WHO = "api" } }
component "db" { command = "echo db-says-hi; exec sleep 1000", env = { WHO = "db" } }
`, port, token))
	startThorpRunning(t, cfg)
	run := func(args ...string) string {
		t.Helper()
		out, errOut, code := thorpCmd(t, append(args, "-c", cfg)...)
		if code != exitOK {
			t.Fatalf("thorp %v: exit %d\n%s%s", args, code, out, errOut)
		}
		return out
	}
	type comp struct {
		pid, restarts, instances int
		state                    string
		byReason                 map[string]int
	}
	comps := func() map[string]comp {
		t.Helper()
		m := map[string]comp{}
		for _, c := range status(t, cfg).Components {
			m[c.Name] = comp{c.PID, c.Restarts, len(c.Instances), c.State, c.RestartsByReason}
		}
		return m
	}
	// changed checks that exactly want got a new pid since before.
	changed := func(what string, before map[string]comp, want ...string) {
		t.Helper()
		after := comps()
		for _, n := range []string{"web", "api", "db"} {
			if moved := after[n].pid != before[n].pid; moved != slices.Contains(want, n) {
				t.Errorf("%s: %s pid %d → %d (want a new pid for %v only)", what, n, before[n].pid, after[n].pid, want)
			}
		}
	}

	before := comps()
	run("restart", "@front")
	changed("restart @front", before, "web")
	before = comps()
	run("reload", "@http")
	changed("reload @http", before, "web", "api")
	if m := comps(); m["web"].byReason["reload"] != 1 || m["api"].byReason["reload"] != 1 || m["db"].byReason["reload"] != 0 {
		t.Errorf("reload @http: reasons web %v api %v db %v", m["web"].byReason, m["api"].byReason, m["db"].byReason)
	}

	// signal names what it signalled: web's process only (SIGCONT changes nothing).
	if out := run("signal", "CONT", "@front"); out != fmt.Sprintf("sent SIGCONT to web (pid %d)\n", comps()["web"].pid) {
		t.Errorf("signal CONT @front: %q", out)
	}

	run("restart", "db")
	run("reset", "@http")
	if m := comps(); m["web"].restarts != 0 || m["api"].restarts != 0 || m["db"].restarts != 1 {
		t.Errorf("reset @http: restarts web %d api %d db %d, want 0 0 1", m["web"].restarts, m["api"].restarts, m["db"].restarts)
	}

	run("stop", "@http")
	if m := comps(); m["web"].state != "stopped" || m["api"].state != "stopped" || m["db"].state != "running" {
		t.Errorf("stop @http: web %s api %s db %s", m["web"].state, m["api"].state, m["db"].state)
	}
	run("start", "@http")
	if m := comps(); m["web"].state != "running" || m["api"].state != "running" {
		t.Errorf("start @http: web %s api %s", m["web"].state, m["api"].state)
	}

	run("scale", "@front", "2")
	if m := comps(); m["web"].instances != 2 || m["api"].instances != 1 || m["db"].instances != 1 {
		t.Errorf("scale @front 2: instances web %d api %d db %d", m["web"].instances, m["api"].instances, m["db"].instances)
	}
	run("scale", "@front", "1")

	// Read commands show the tagged ones only.
	out := run("logs", "@front", "-n", "20")
	if !strings.Contains(out, "web-says-hi") || strings.Contains(out, "api-says-hi") || strings.Contains(out, "db-says-hi") {
		t.Errorf("logs @front:\n%s", out)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(run("status", "@http", "--json")), &st); err != nil || len(st.Components) != 2 ||
		st.Components[0].Name != "web" || st.Components[1].Name != "api" {
		t.Errorf("status @http --json: %v %+v", err, st.Components)
	}
	described := regexp.MustCompile(`(?m)^name:\s+(\S+)$`).FindAllStringSubmatch(run("describe", "@http"), -1)
	if len(described) != 2 || described[0][1] != "web" || described[1][1] != "api" {
		t.Errorf("describe @http describes %v, want web and api", described)
	}
	if out := run("env", "@http"); out != "# web\nWHO=web\n\n# api\nWHO=api\n" {
		t.Errorf("env @http: %q", out)
	}

	// flush empties web's log only; rotate sets aside web's and api's.
	logs := filepath.Join(filepath.Dir(cfg), "logs")
	if out := run("flush", "@front"); out != "flush: done for @front\n" {
		t.Errorf("flush @front: %q", out)
	}
	for name, empty := range map[string]bool{"web": true, "api": false, "db": false} {
		if fi, err := os.Stat(filepath.Join(logs, name+"-out.log")); err != nil || (fi.Size() == 0) != empty {
			t.Errorf("after flush @front, %s-out.log: %v (want empty: %v)", name, err, empty)
		}
	}
	run("rotate", "@http")
	for name, rotated := range map[string]bool{"api": true, "db": false} {
		if set, _ := filepath.Glob(filepath.Join(logs, name+"-out-*")); (len(set) > 0) != rotated {
			t.Errorf("after rotate @http, %s's rotated out logs: %v (want some: %v)", name, set, rotated)
		}
	}

	// /api/v1 over TCP, as a dashboard or script would use it.
	call := func(method, path string, v any) int {
		t.Helper()
		req, err := http.NewRequest(method, fmt.Sprintf("http://127.0.0.1:%d%s", port, path), nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode == http.StatusOK && json.Unmarshal(body, v) != nil {
			t.Fatalf("%s %s: not JSON: %s", method, path, body)
		}
		return resp.StatusCode
	}
	type named struct {
		Name   string         `json:"name"`
		PID    int            `json:"pid"`
		Config map[string]any `json:"config"`
	}
	var list struct {
		Components []named `json:"components"`
	}
	if code := call("GET", "/api/v1/components?component=@http", &list); code != http.StatusOK || len(list.Components) != 2 ||
		list.Components[0].Name != "web" || list.Components[1].Name != "api" {
		t.Errorf("GET components?component=@http: %d %+v", code, list.Components)
	}
	var details []named
	if code := call("GET", "/api/v1/components/@front", &details); code != http.StatusOK || len(details) != 1 || details[0].Name != "web" ||
		fmt.Sprint(details[0].Config["env"]) != "map[WHO:(hidden)]" {
		t.Errorf("GET components/@front: %d %+v", code, details)
	}
	before = comps()
	list.Components = nil
	if code := call("POST", "/api/v1/components/@front/restart", &list); code != http.StatusOK || len(list.Components) != 1 || list.Components[0].Name != "web" {
		t.Errorf("POST components/@front/restart: %d %+v", code, list.Components)
	}
	changed("POST @front/restart", before, "web")
	var evs struct {
		Events []struct {
			Component string `json:"component"`
		} `json:"events"`
	}
	if code := call("GET", "/api/v1/events?component=@front", &evs); code != http.StatusOK || len(evs.Events) == 0 {
		t.Errorf("GET events?component=@front: %d, %d events", code, len(evs.Events))
	}
	for _, ev := range evs.Events {
		if ev.Component != "web" {
			t.Errorf("an event of %q among @front's", ev.Component)
		}
	}
	for _, path := range []string{"/api/v1/components?component=@nope", "/api/v1/components/@nope", "/api/v1/events?component=@nope"} {
		if code := call("GET", path, nil); code != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", path, code)
		}
	}

	// An unknown tag is exit 1 everywhere, names the known tags, does nothing.
	before = comps()
	for _, args := range [][]string{
		{"restart", "@nope"}, {"reload", "@nope"}, {"stop", "@nope"}, {"start", "@nope"}, {"signal", "HUP", "@nope"},
		{"reset", "@nope"}, {"scale", "@nope", "2"}, {"flush", "@nope"}, {"rotate", "@nope"},
		{"status", "@nope"}, {"describe", "@nope"}, {"logs", "@nope"}, {"env", "@nope"},
	} {
		_, errOut, code := thorpCmd(t, append(args, "-c", cfg)...)
		if code != exitFailed || !strings.Contains(errOut, "@nope") || !strings.Contains(errOut, "@http") {
			t.Errorf("thorp %v: exit %d %q", args, code, errOut)
		}
	}
	changed("the unknown tags", before)
}
