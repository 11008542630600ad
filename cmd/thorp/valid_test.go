package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/policies"
)

// problemLines returns the lines of out that report a problem with key.
func problemLines(out, key string) []string {
	var got []string
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "error: ") && strings.Contains(l, ": "+key+": ") {
			got = append(got, l)
		}
	}
	return got
}

// runRefuses runs `thorp run -c cfg` (through prefix, e.g. setpriv, when
// given), which must exit 1 within 30s, and returns its stderr and peak RSS.
func runRefuses(t *testing.T, prefix []string, cfg string) (string, int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	args := append(append([]string{}, prefix...), thorpBin, "run", "-c", cfg)
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	var errb strings.Builder
	cmd.Stdout, cmd.Stderr = io.Discard, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitFailed {
		t.Fatalf("thorp run: %v, want exit 1 (a refusal)\n%s", err, errb.String())
	}
	ru := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	return errb.String(), ru.Maxrss * 1024
}

// The issue: instances = 2^53 passed check and killed run out of memory.
func TestCheckRun_InstancesCeiling(t *testing.T) {
	cfg := writeConfig(t, `
settings { http = "" }
component "web" {
  command = { "sleep", "60" },
  instances = 2^53,
}
`)
	out, _, code := thorpCmd(t, "check", "-c", cfg)
	want := `thorp.lua:3: component "web": instances: 9007199254740992 is more than the ceiling of 1024 instances per component`
	if code != exitFailed || !strings.Contains(out, want) {
		t.Fatalf("check: exit %d, want 1 and %q:\n%s", code, want, out)
	}
	start := time.Now()
	errOut, rss := runRefuses(t, nil, cfg)
	if !strings.Contains(errOut, want) {
		t.Fatalf("run must refuse with check's message %q:\n%s", want, errOut)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("run took %s to refuse", took)
	}
	// A child's peak RSS counts the test binary's pages it shared before
	// exec, so it is compared with that of `thorp version` started alike.
	base := exec.Command(thorpBin, "version")
	if err := base.Run(); err != nil {
		t.Fatal(err)
	}
	baseRSS := base.ProcessState.SysUsage().(*syscall.Rusage).Maxrss * 1024
	if rss > baseRSS+64<<20 {
		t.Errorf("run peaked at %d MiB refusing the config (thorp version: %d MiB); it must allocate nothing per instance", rss>>20, baseRSS>>20)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "logs")); err == nil {
		t.Error("run created logs/: it must refuse before starting anything")
	}
}

// The issue: user = "x" when not root: check rejected it, run started and
// crash-looped. Both now apply spawn.Credential through preflight. As root,
// thorp runs as nobody through setpriv.
func TestCheckRun_UserWhenNotRootSameRefusal(t *testing.T) {
	var prefix []string
	if os.Geteuid() == 0 {
		setpriv, err := exec.LookPath("setpriv")
		if err != nil {
			t.Skip("running as root without setpriv; preflight.Identities is the rule both use (TestIdentities_SameAsCheck)")
		}
		prefix = []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
		if err := os.Chmod(filepath.Dir(thorpBin), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir, err := os.MkdirTemp("", "thorp-user-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "thorp.lua")
	body := "settings { http = \"\" }\ncomponent \"web\" { command = { \"sleep\", \"60\" }, user = \"root\" }\n"
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	want := `thorp.lua:2: component "web": user: user is set but thorp is not running as root`

	args := append(append([]string{}, prefix...), thorpBin, "check", "-c", cfg)
	cmd := exec.Command(args[0], args[1:]...)
	out, _ := cmd.Output()
	if cmd.ProcessState.ExitCode() != exitFailed || !strings.Contains(string(out), want) {
		t.Fatalf("check: exit %d, want 1 and %q:\n%s", cmd.ProcessState.ExitCode(), want, out)
	}
	errOut, _ := runRefuses(t, prefix, cfg)
	if !strings.Contains(errOut, want) || !strings.Contains(errOut, "nothing was started") {
		t.Fatalf("run must refuse like check (%q):\n%s", want, errOut)
	}
}

// Every bad env name is reported, and a NUL byte in an env value, an argv
// item or the cwd is an error.
func TestCheck_EveryBadEnvNameAndNULBytes(t *testing.T) {
	cfg := writeConfig(t, `
settings { http = "" }
component "web" {
  command = { "sleep", "6\0" },
  cwd = "/tmp\0x",
  env = { ["A=B"] = "1", ["C=D"] = "2", ["E\0F"] = "3", OK = "4", NUL = "a\0b" },
}
`)
	out, _, code := thorpCmd(t, "check", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("check: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		`component "web": env: "A=B" is not a valid environment variable name`,
		`component "web": env: "C=D" is not a valid environment variable name`,
		`component "web": env: "E\x00F" is not a valid environment variable name`,
		`component "web": env.NUL: the value holds a NUL byte`,
		`component "web": command: item 2 holds a NUL byte`,
		`component "web": cwd: holds a NUL byte`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if n := len(problemLines(out, "env")); n != 3 {
		t.Errorf("%d env name problems, want 3", n)
	}
	if t.Failed() {
		t.Log(out)
	}
	errOut, _ := runRefuses(t, nil, cfg)
	if n := len(problemLines(errOut, "env")); n != 3 {
		t.Errorf("run reported %d env name problems, want 3 like check:\n%s", n, errOut)
	}
}

// A crafted state file is validated on load.
func TestRun_CraftedStateFileIsValidated(t *testing.T) {
	port := freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "127.0.0.1:%d" }
component "web" { command = { "sleep", "60" } }
`, port))
	dir := filepath.Dir(cfg)
	state := filepath.Join(dir, ".thorp", "state.json")
	if err := os.MkdirAll(filepath.Dir(state), 0o700); err != nil {
		t.Fatal(err)
	}
	crafted := `{"version": 1, "saved_at": "2026-01-01T00:00:00Z",
"components": {
  "web": {"restarts_by_reason": {"crash": 9223372036854775715, "manual": -5, "pwned\u001b[31m": 7},
          "last_restart_reason": "pwned\u001b[31m",
          "last_exit": {"code": 1, "signal": "SIG\u001b]0;owned\u0007", "time": "2026-01-01T00:00:00Z"}},
  "ghost": {"restarts_by_reason": {"crash": 3}}
},
"events": [
  {"seq": 1, "time": "2026-01-01T00:00:00Z", "component": "web", "type": "exit", "message": "bye\u001b[2J` + strings.Repeat("m", 10000) + `"},
  {"seq": 2, "time": "2026-01-01T00:00:00Z", "component": "web", "type": "restart", "reason": "evil\u001b[31m"},
  {"seq": 3, "time": "2026-01-01T00:00:00Z", "component": "ghost", "type": "exit"}
]}`
	if err := os.WriteFile(state, []byte(crafted), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startThorp(t, cfg)

	st := status(t, cfg)
	if len(st.Components) != 1 || st.Components[0].Name != "web" {
		t.Fatalf("components %+v, want only web", st.Components)
	}
	got := st.Components[0].RestartsByReason
	if got["crash"] != 1_000_000_000 || got["manual"] != 0 || len(got) != len(policies.Reasons) {
		t.Errorf("restarts_by_reason %v: want crash clamped to 1e9, manual to 0, only the %d known reasons", got, len(policies.Reasons))
	}
	for _, args := range [][]string{{"status"}, {"describe", "web"}} {
		out, _, code := thorpCmd(t, append(args, "-c", cfg)...)
		if code != 0 {
			t.Fatalf("thorp %v: exit %d", args, code)
		}
		if strings.ContainsAny(out, "\x1b\x07") {
			t.Errorf("thorp %v printed a raw control character:\n%q", args, out)
		}
		if strings.Contains(out, "pwned") || strings.Contains(out, "evil") || strings.Contains(out, "ghost") {
			t.Errorf("thorp %v shows an invented reason or component:\n%s", args, out)
		}
		if args[0] == "describe" && (!strings.Contains(out, `bye\x1b[2J`) || strings.Contains(out, strings.Repeat("m", 4097))) {
			t.Errorf("describe must show the event message escaped and cut to 4096 bytes:\n%.300s", out)
		}
	}
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if strings.Contains(string(body), "pwned") || strings.Contains(string(body), "ghost") {
		t.Errorf("/metrics has an invented label:\n%s", body)
	}
	if !strings.Contains(string(body), `reason="crash"} 1000000000`) {
		t.Errorf("/metrics lacks the clamped crash count")
	}
	log, _ := os.ReadFile(filepath.Join(dir, "logs", "thorp.log"))
	for _, want := range []string{"dropped an unknown restart reason", "clamped a restart count", "dropped a component that is not in the config", "cut an event message"} {
		if !strings.Contains(string(log), want) {
			t.Errorf("thorp.log lacks the warning %q", want)
		}
	}
	if strings.Contains(string(log), "\x1b") {
		t.Error("thorp.log holds a raw ESC from the state file")
	}
	if t.Failed() {
		t.Logf("thorp.log:\n%s\nstderr:\n%s", log, r.stderr)
	}
}

// A state file over the 1 MiB cap is set aside like a corrupt one.
func TestRun_OversizedStateFileIsSetAside(t *testing.T) {
	cfg := writeConfig(t, `
settings { http = "" }
component "web" { command = { "sleep", "60" } }
`)
	dir := filepath.Dir(cfg)
	state := filepath.Join(dir, ".thorp", "state.json")
	if err := os.MkdirAll(filepath.Dir(state), 0o700); err != nil {
		t.Fatal(err)
	}
	junk := `{"version": 1, "events": [` + strings.Repeat(`{"type":"exit","component":"web"},`, 10<<20/34) + `{}]}`
	if err := os.WriteFile(state, []byte(junk), 0o600); err != nil {
		t.Fatal(err)
	}
	startThorp(t, cfg)
	if st := status(t, cfg); len(st.Components) != 1 || st.Components[0].Restarts != 0 {
		t.Fatalf("status %+v", st)
	}
	aside, _ := filepath.Glob(state + ".corrupt-*")
	if len(aside) != 1 {
		t.Fatalf("set-aside files %v, want one", aside)
	}
	if fi, err := os.Stat(aside[0]); err != nil || fi.Size() != int64(len(junk)) {
		t.Errorf("the set-aside file must be the original: %v", err)
	}
	log, _ := os.ReadFile(filepath.Join(dir, "logs", "thorp.log"))
	if !strings.Contains(string(log), "state file unreadable") || !strings.Contains(string(log), "larger than 1048576 bytes") {
		t.Errorf("thorp.log lacks the warning:\n%s", log)
	}
}

// The issue: `thorp simulate hang` died with Go's deadlock error. It must
// hang as documented: ignore SIGTERM and SIGINT, end only by SIGKILL.
func TestSimulate_HangHangs(t *testing.T) {
	cmd := exec.Command(thorpBin, "simulate", "hang")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var errb strings.Builder
	cmd.Stderr = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _ = io.Copy(io.Discard, out)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	select {
	case err := <-done:
		t.Fatalf("hang exited within 2s: %v\n%s", err, errb.String())
	case <-time.After(2 * time.Second): // it must still be there: nothing to wait for
	}
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		if err := cmd.Process.Signal(sig); err != nil {
			t.Fatal(err)
		}
	}
	select {
	case err := <-done:
		t.Fatalf("hang exited on SIGTERM/SIGINT, which it documents it ignores: %v\n%s", err, errb.String())
	case <-time.After(300 * time.Millisecond):
	}
	_ = cmd.Process.Signal(syscall.SIGKILL)
	select {
	case err := <-done:
		ws := cmd.ProcessState.Sys().(syscall.WaitStatus)
		if !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
			t.Fatalf("hang ended with %v, want killed by SIGKILL", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("hang survived SIGKILL")
	}
	if strings.Contains(errb.String(), "deadlock") {
		t.Fatalf("stderr: %s", errb.String())
	}
}

// termSafe escapes every control character and keeps printable UTF-8.
func TestTermSafe(t *testing.T) {
	for in, want := range map[string]string{
		"web":                   "web",
		"héllo ✓":               "héllo ✓",
		"pwned\x1b[31m":         `pwned\x1b[31m`,
		"a\nb\tc\rd\x00\x7f":    `a\x0ab\x09c\x0dd\x00\x7f`,
		"c1\u009b2J":            `c1\u009b2J`,
		"bidi\u202egnp.exe":     `bidi\u202egnp.exe`,
		"bad\xffutf8":           `bad\xffutf8`,
		"title\x1b]0;x\x07done": `title\x1b]0;x\x07done`,
	} {
		if got := termSafe(in); got != want {
			t.Errorf("termSafe(%q) = %q, want %q", in, got, want)
		}
		if got := termSafe(termSafe(in)); got != termSafe(in) {
			t.Errorf("termSafe is not idempotent on %q", in)
		}
	}
}
