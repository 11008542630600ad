package main

import (
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

var upPID = regexp.MustCompile(`thorp is up \(pid (\d+)\)`)

// upThorp runs 'thorp up' and returns the pid of the thorp it started. A
// cleanup stops it if the test did not.
func upThorp(t *testing.T, cfg string) int {
	t.Helper()
	out, errOut, code := thorpCmd(t, "up", "-c", cfg)
	if code != exitOK {
		t.Fatalf("thorp up: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	m := upPID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("thorp up printed no pid:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	cleanupThorp(t, cfg, pid)
	return pid
}

// cleanupThorp stops the detached thorp pid at the end of the test, by
// 'thorp down' and, failing that, SIGKILL.
func cleanupThorp(t *testing.T, cfg string, pid int) {
	t.Helper()
	t.Cleanup(func() {
		if !alive(pid) {
			return
		}
		thorpCmd(t, "down", "-c", cfg, "--timeout", "20s")
		if alive(pid) {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
	})
}

func TestUpDown_RoundTrip(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "a" { command = {"sleep","1000"} }
component "b" { command = {"sleep","1000"}, depends_on = {"a"} }
`)
	pid := upThorp(t, cfg)
	if !alive(pid) {
		t.Fatalf("thorp (pid %d) is not running after up", pid)
	}
	st := status(t, cfg)
	if len(st.Components) != 2 {
		t.Fatalf("components %+v", st.Components)
	}
	var compPIDs []int
	for _, c := range st.Components {
		if c.State != "running" || !alive(c.PID) {
			t.Errorf("%s: state %s pid %d alive=%v after up", c.Name, c.State, c.PID, alive(c.PID))
		}
		compPIDs = append(compPIDs, c.PID)
	}

	out, errOut, code := thorpCmd(t, "up", "-c", cfg)
	if code != exitOK || !strings.Contains(errOut, "already running (pid "+strconv.Itoa(pid)+")") {
		t.Errorf("second up: exit %d, stderr %q", code, errOut)
	}
	if !strings.Contains(out, "NAME") || !strings.Contains(out, "running") {
		t.Errorf("second up printed no status table:\n%s", out)
	}

	out, errOut, code = thorpCmd(t, "down", "-c", cfg)
	if code != exitOK || !strings.Contains(out, "thorp (pid "+strconv.Itoa(pid)+") stopped") {
		t.Fatalf("down: exit %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	// down returns once thorp's process is gone; thorp waits for its
	// components before it exits.
	if alive(pid) {
		t.Errorf("thorp (pid %d) still runs after down", pid)
	}
	for _, p := range compPIDs {
		waitFor(t, 5*time.Second, "component pid "+strconv.Itoa(p)+" to be gone", func() bool { return !alive(p) })
	}

	_, errOut, code = thorpCmd(t, "down", "-c", cfg)
	if code != exitNoThorp || !strings.Contains(errOut, "no thorp is running for "+cfg) {
		t.Errorf("down with nothing running: exit %d, stderr %q; want 3", code, errOut)
	}
}

// A component whose command is missing does not stop thorp from coming up;
// up reports it, exits 1 and leaves thorp running for 'thorp down'.
func TestUp_ComponentErrored(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "ok" { command = {"sleep","1000"} }
component "bad" { command = {"/nonexistent/thorp-test-cmd"}, max_restarts = 1, restart_delay = "100ms" }
`)
	out, errOut, code := thorpCmd(t, "up", "-c", cfg, "--timeout", "20s")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	if !strings.Contains(errOut, "bad is errored") || !strings.Contains(errOut, "thorp-test-cmd") {
		t.Errorf("stderr does not name the errored component and its command:\n%s", errOut)
	}
	m := regexp.MustCompile(`thorp itself is up \(pid (\d+)\)`).FindStringSubmatch(errOut)
	if m == nil {
		t.Fatalf("stderr does not say thorp is up:\n%s", errOut)
	}
	pid, _ := strconv.Atoi(m[1])
	cleanupThorp(t, cfg, pid)
	if !alive(pid) {
		t.Fatalf("thorp (pid %d) is not running", pid)
	}
	if _, errOut, code := thorpCmd(t, "down", "-c", cfg); code != exitOK {
		t.Errorf("down: exit %d: %s", code, errOut)
	}
}

func TestUp_BadConfigStartsNothing(t *testing.T) {
	cfg := writeConfig(t, "settings { http = \"\" }\ncomponent \"a\" {\n  command = {\"sleep\", \"1000\"},\n  kill_timeout = \"7x\",\n}\n")
	_, errOut, code := thorpCmd(t, "up", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	if !strings.Contains(errOut, "thorp.lua:2:") || !strings.Contains(errOut, "kill_timeout") {
		t.Errorf("stderr lacks file:line and the key:\n%s", errOut)
	}
	if _, _, code := thorpCmd(t, "status", "-c", cfg); code != exitNoThorp {
		t.Errorf("status after a failed up: exit %d, want 3 (nothing started)", code)
	}
}

// thorp run fails before its log is open (here: the control socket cannot
// be created); up shows why, from the console log.
func TestUp_ThorpExitsEarly(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "", control = "/proc/thorp-nonexistent/thorp.sock" }
component "a" { command = {"sleep","1000"} }
`)
	_, errOut, code := thorpCmd(t, "up", "-c", cfg, "--timeout", "20s")
	if code != exitFailed {
		t.Fatalf("exit %d, want 1: %s", code, errOut)
	}
	for _, want := range []string{"exited before it was up", "exit code 1", consoleLog, "/proc/thorp-nonexistent"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr lacks %q:\n%s", want, errOut)
		}
	}
}

func TestDown_NothingRunning(t *testing.T) {
	cfg := writeConfig(t, `component "a" { command = {"sleep","1000"} }`)
	_, errOut, code := thorpCmd(t, "down", "-c", cfg)
	if code != exitNoThorp || !strings.Contains(errOut, "no thorp is running") {
		t.Errorf("exit %d, stderr %q; want 3", code, errOut)
	}
}

func TestUpDown_Usage(t *testing.T) {
	cfg := writeConfig(t, `component "a" { command = {"sleep","1000"} }`)
	for _, args := range [][]string{{"up", "extra"}, {"down", "extra"}, {"up", "--timeout", "soon"}} {
		if _, _, code := thorpCmd(t, append(args, "-c", cfg)...); code != exitUsage {
			t.Errorf("thorp %v: exit %d, want 2", args, code)
		}
	}
}

func TestUnitFromCgroup(t *testing.T) {
	cases := []struct{ in, want string }{
		{"0::/system.slice/thorp.service\n", "thorp.service"},
		{"12:pids:/\n1:name=systemd:/system.slice/web-thorp.service\n", "web-thorp.service"},
		{"0::/system.slice/thorp.service/sub\n", "thorp.service"},
		{"0::/user.slice/user-1000.slice/session-2.scope\n", ""},
		{"0::/user.slice/user-1000.slice/user@1000.service/app.slice/x.service\n", ""},
		{"0::/\n", ""},
		{"0::/docker/abc\n", ""},
		{"", ""},
	}
	for _, c := range cases {
		if got := unitFromCgroup(c.in); got != c.want {
			t.Errorf("unitFromCgroup(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestDetachedEnv_DropsServiceManagerVariables(t *testing.T) {
	got := detachedEnv([]string{"PATH=/bin", "NOTIFY_SOCKET=/run/n", "WATCHDOG_USEC=1", "LISTEN_FDS=2", "HOME=/root", "THORP_HTTP="})
	want := []string{"PATH=/bin", "HOME=/root", "THORP_HTTP="}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("got %q, want %q", got, want)
	}
}
