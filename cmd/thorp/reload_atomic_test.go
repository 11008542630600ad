package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
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
	// The health check's target: every check it receives is a hit.
	hits := make(chan struct{}, 1)
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		select {
		case hits <- struct{}{}:
		default:
		}
	}))
	defer target.Close()
	after := fmt.Sprintf(`settings { http = "" }
component "web" {
  command = { "sleep", "1001" },
  health = { http = %q, interval = "100ms" },
  sockets = { http = "tcp://127.0.0.1:%d" },
}
`, target.URL, port)
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
	// The new health check would run every 100ms: ten intervals without
	// a check show it does not run.
	select {
	case <-hits:
		t.Fatal("the failed reload's health check runs")
	case <-time.After(time.Second):
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
	select {
	case <-hits:
	case <-time.After(15 * time.Second):
		t.Fatal("the new health check does not run after the good reload")
	}
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
