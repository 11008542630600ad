package main

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

// TestRun_HTTPHostsFollowTheConfig: settings.http_hosts reaches the running
// HTTP server, and a reload replaces the names it answers.
func TestRun_HTTPHostsFollowTheConfig(t *testing.T) {
	port := freeTCPPort(t)
	body := `
settings { http = "127.0.0.1:%d", http_hosts = { %q } }
component "x" { command = { "sleep", "1000" } }
`
	cfg := writeConfig(t, fmt.Sprintf(body, port, "thorp.test"))
	startThorpRunning(t, cfg)
	status := func(host string) int {
		t.Helper()
		req, _ := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/api/v1/events", port), nil)
		req.Host = host
		resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
		if err != nil {
			t.Fatalf("Host %s: %v", host, err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	for host, want := range map[string]int{
		"thorp.test":                      http.StatusOK,
		fmt.Sprintf("localhost:%d", port): http.StatusOK,
		"other.test":                      http.StatusMisdirectedRequest,
		"evil.example":                    http.StatusMisdirectedRequest,
	} {
		if got := status(host); got != want {
			t.Errorf("Host %s: %d, want %d", host, got, want)
		}
	}
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(body, port, "other.test")), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != 0 {
		t.Fatalf("reload: exit %d\n%s%s", code, out, errOut)
	}
	if got := status("other.test"); got != http.StatusOK {
		t.Errorf("after the reload, Host other.test: %d, want 200", got)
	}
	if got := status("thorp.test"); got != http.StatusMisdirectedRequest {
		t.Errorf("after the reload, Host thorp.test: %d, want 421", got)
	}
}

// TestCheckAndRun_TokenRule: check and run refuse a short token or one with
// spaces alike, at the settings line, without printing the token.
func TestCheckAndRun_TokenRule(t *testing.T) {
	for _, token := range []string{"hunter2", " hunter2-hunter2-hunter2 "} {
		cfg := writeConfig(t, fmt.Sprintf("settings { http = \"\",\n  token = %q }\ncomponent \"x\" { command = { \"sleep\", \"1000\" } }\n", token))
		for _, cmd := range []string{"check", "run"} {
			out, errOut, code := thorpCmd(t, cmd, "-c", cfg)
			all := out + errOut
			if code == 0 || !strings.Contains(all, "thorp.lua:1: token: ") {
				t.Errorf("%s with token %q: exit %d, want a refusal at thorp.lua:1:\n%s", cmd, token, code, all)
			}
			if strings.Contains(all, "hunter2") {
				t.Errorf("%s prints the token:\n%s", cmd, all)
			}
		}
	}
	cfg := writeConfig(t, "settings { http = \"\" }\ncomponent \"x\" { command = { \"sleep\", \"1000\" } }\n")
	if out, errOut, code := thorpCmd(t, "check", "-c", cfg, "--set", "token=short"); code == 0 || !strings.Contains(out+errOut, "--set token=…: is 5 characters long") || strings.Contains(out+errOut, "short") {
		t.Errorf("check --set token=short: exit %d\n%s%s", code, out, errOut)
	}
}
