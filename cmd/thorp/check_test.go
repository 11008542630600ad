package main

import (
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

// One run reports the config's errors and the host problems of every part
// whose own config is valid, sorted by line: no fix-and-rerun round trip.
func TestCheck_OneRound(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	cfg := writeConfig(t, `settings { http = "`+busy.Addr().String()+`" }
component "broken" { command = { "/nonexistent/binary" }, kill_timeout = "7x" }
component "nocmd" { command = { "no-such-program-thorp-test" } }
component "web" { command = { "node", "server.js" } }
component "good" { command = { "sleep", "1" } }
`)
	dir := filepath.Dir(cfg)
	out, _, code := thorpCmd(t, "check", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	want := []string{
		`error: ` + cfg + `:1: http: port ` + portOf(t, busy.Addr()) + ` is busy`,
		`error: ` + cfg + `:2: component "broken": kill_timeout: "7x" is not a duration`,
		`error: ` + cfg + `:3: component "nocmd": command: "no-such-program-thorp-test" not found in PATH`,
		`error: ` + cfg + `:4: component "web": command: node's script server.js does not exist in ` + dir,
	}
	lines := withoutCgroups(out)
	if len(lines) != len(want)+1 {
		t.Fatalf("got %d lines, want %d errors and the summary:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want %q…", i+1, lines[i], w)
		}
	}
	// A component with a config error gets no host checks.
	if strings.Contains(out, "/nonexistent/binary") {
		t.Errorf("host checks ran for a component with a config error:\n%s", out)
	}
	if !strings.Contains(lines[len(lines)-1], "4 error(s)") {
		t.Errorf("summary: %q", lines[len(lines)-1])
	}

	// With server.js in place and the rest fixed, the same file passes.
	if err := os.WriteFile(filepath.Join(dir, "server.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(cfg, []byte(`settings { http = "" }
component "web" { command = { "node", "server.js" } }
`), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, _, code := thorpCmd(t, "check", "-c", cfg); code != exitOK {
		t.Errorf("fixed config: exit %d\n%s", code, out)
	}
}

// Settings with an error of their own get no host checks; the components
// still do.
func TestCheck_BadSettingsStillChecksComponents(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "nope" }
component "nocmd" { command = { "no-such-program-thorp-test" } }
`)
	out, _, code := thorpCmd(t, "check", "-c", cfg, "--json")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	var got struct {
		Errors []struct {
			Line           int
			Component, Key string
			Message        string
		}
	}
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	var keys []string
	for _, e := range got.Errors {
		keys = append(keys, strconv.Itoa(e.Line)+":"+e.Component+":"+e.Key)
	}
	if !slices.Equal(keys, []string{"1::http", "2:nocmd:command"}) {
		t.Errorf("errors %q, want the http error and the missing command\n%s", keys, out)
	}
}

// A THORP_* variable or a --set flag with a bad value is named as such,
// never reported at a thorp.lua line it did not come from.
func TestCheck_EnvAndFlagProblemsNamedAsSuch(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "a" { command = { "sleep", "1" } }
`)
	t.Setenv("THORP_HTTP", "bad")
	out, _, code := thorpCmd(t, "check", "-c", cfg, "--set", "logs.max_size=12XB", "--set", "logs.retain_days=-1")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		`error: THORP_HTTP: "bad" is not host:port`,
		`error: --set logs.max_size=12XB: "12XB" is not a size`,
		`error: --set logs.retain_days=-1: must be 0 or more, got -1`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if regexp.MustCompile(`thorp\.lua:\d`).MatchString(out) {
		t.Errorf("a problem of the environment or a flag is reported at a thorp.lua line:\n%s", out)
	}
	// The JSON form says where the value came from.
	out, _, _ = thorpCmd(t, "check", "-c", cfg, "--json")
	if !strings.Contains(out, `"source": "THORP_HTTP"`) {
		t.Errorf("JSON lacks the source:\n%s", out)
	}
}

func portOf(t *testing.T, a net.Addr) string {
	t.Helper()
	_, port, err := net.SplitHostPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// Drop-in files take part in the same round: their host problems are at
// their own file:line, and the environment's problems come first.
func TestCheck_OneRoundAcrossIncludes(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
include("conf.d/*.lua")
component "main" { command = { "python3", "app.py" }, kill_timeout = "x" }
`)
	dir := filepath.Dir(cfg)
	if err := os.Mkdir(filepath.Join(dir, "conf.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "conf.d", "web.lua"), []byte("\ncomponent \"web\" { command = { \"sh\", \"server.sh\" } }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	t.Setenv("THORP_LOGS__RETAIN_DAYS", "many")
	out, _, code := thorpCmd(t, "check", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	want := []string{
		`error: THORP_LOGS__RETAIN_DAYS: expected a whole number, got "many"`,
		`error: ` + filepath.Join(dir, "conf.d", "web.lua") + `:2: component "web": command: sh's script server.sh does not exist in ` + dir,
		`error: ` + cfg + `:3: component "main": kill_timeout: "x" is not a duration`,
	}
	lines := withoutCgroups(out)
	if len(lines) != len(want)+1 {
		t.Fatalf("got %d lines, want %d errors and the summary:\n%s", len(lines), len(want), out)
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want %q…", i+1, lines[i], w)
		}
	}
}

// withoutCgroups is check's output without its cgroups section, line by line.
func withoutCgroups(out string) []string {
	var lines []string
	in := false
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		switch {
		case l == "cgroups:":
			in = true
		case in && strings.HasPrefix(l, "  "):
		default:
			in = false
			lines = append(lines, l)
		}
	}
	return lines
}
