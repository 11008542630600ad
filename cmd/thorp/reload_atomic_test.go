package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestReloadConfig_FailedReloadChangesNothing is issue 9 item 6: a reload
// that changes a component's command, adds a health check and adds a held
// socket on a busy port must fail as a whole. The old process keeps
// running with its pid, the new health check never runs, the busy port is
// not touched, and thorp's log says the reload failed and nothing changed.
// Once the port is free the same file reloads, and the report counts the
// restart it now performs.
func TestReloadConfig_FailedReloadChangesNothing(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	port := busy.Addr().(*net.TCPAddr).Port
	before := `settings { http = "" }
component "web" { command = { "sleep", "1000" } }
`
	after := fmt.Sprintf(`settings { http = "" }
local function probe(ev) thorp.log("info", "new health check ran for " .. ev.component) return true end
component "web" { command = { "sleep", "1001" }, health = probe, sockets = { http = "tcp://127.0.0.1:%d" } }
`, port)
	cfg := writeConfig(t, before)
	startThorpRunning(t, cfg)
	logPath := filepath.Join(filepath.Dir(cfg), "logs", "thorp.log")
	readLog := func() string {
		data, _ := os.ReadFile(logPath)
		return string(data)
	}
	pid := status(t, cfg).Components[0].PID
	if pid == 0 {
		t.Fatal("web has no pid")
	}

	if err := os.WriteFile(cfg, []byte(after), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg)
	if code == 0 || !strings.Contains(errOut, "reload failed") || !strings.Contains(errOut, "nothing changed") {
		t.Fatalf("reload on a busy port: exit %d, want a failure saying nothing changed\n%s%s", code, out, errOut)
	}
	waitFor(t, 10*time.Second, "the failed reload in thorp's log", func() bool {
		return strings.Contains(readLog(), "nothing changed")
	})
	if l := readLog(); strings.Contains(l, "config reloaded") {
		t.Fatalf("thorp's log reports a reload that failed:\n%s", l)
	}
	// The busy port's owner is untouched: it still accepts.
	go func() {
		if c, err := net.Dial("tcp", busy.Addr().String()); err == nil {
			c.Close()
		}
	}()
	if c, err := busy.Accept(); err != nil {
		t.Fatalf("the busy port's listener: %v", err)
	} else {
		c.Close()
	}
	// The new health check would run at once and then every 5s (the
	// default interval): give it a bounded while to show up.
	time.Sleep(time.Second)
	if l := readLog(); strings.Contains(l, "new health check ran") {
		t.Fatalf("the failed reload's health check runs:\n%s", l)
	}
	c := status(t, cfg).Components[0]
	if c.PID != pid || c.State != "running" || !alive(pid) {
		t.Fatalf("web: pid %d -> %d, state %s: the failed reload touched it", pid, c.PID, c.State)
	}
	cmdline, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if got := strings.ReplaceAll(string(cmdline), "\x00", " "); !strings.Contains(got, "sleep 1000") {
		t.Fatalf("web runs %q, want the old command", got)
	}

	// Free the port: the same file now applies, and the report counts the
	// restart against the config that is still running.
	busy.Close()
	out, errOut, code = thorpCmd(t, "reload-config", "-c", cfg)
	if code != 0 || !strings.Contains(out, "1 restarted") {
		t.Fatalf("reload with the port free: exit %d, want 1 restarted\n%s%s", code, out, errOut)
	}
	waitFor(t, 15*time.Second, "the new health check", func() bool {
		return strings.Contains(readLog(), "new health check ran for web")
	})
	c = status(t, cfg).Components[0]
	if c.PID == pid || c.State != "running" {
		t.Fatalf("web after the good reload: pid %d (was %d), state %s", c.PID, pid, c.State)
	}
	if conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 5*time.Second); err != nil {
		t.Fatalf("the held socket is not bound after the good reload: %v", err)
	} else {
		conn.Close()
	}
}
