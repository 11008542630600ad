package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

func TestMonit_OneFrameWhenNotATerminal(t *testing.T) {
	cfg := writeConfig(t, `
settings { http = "" }
component "sleeper" { command = { "sleep", "1000" } }
`)
	startThorpRunning(t, cfg)
	out, errOut, code := thorpCmd(t, "monit", "-c", cfg)
	if code != exitOK {
		t.Fatalf("monit: exit %d\n%s\n%s", code, out, errOut)
	}
	for _, want := range []string{"thorp pid ", "NAME", "STATE", "sleeper", "running", "RECENT EVENTS", "spawn"} {
		if !strings.Contains(out, want) {
			t.Errorf("monit output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b") {
		t.Errorf("monit wrote ANSI codes to a non-terminal:\n%q", out)
	}
}

func TestMonit_WithoutThorpExits3(t *testing.T) {
	cfg := writeConfig(t, `component "x" { command = { "sleep", "1" } }`)
	if out, errOut, code := thorpCmd(t, "monit", "-c", cfg); code != exitNoThorp {
		t.Fatalf("monit without thorp: exit %d, want %d\n%s\n%s", code, exitNoThorp, out, errOut)
	}
}

func TestMonit_BadFlags(t *testing.T) {
	cfg := writeConfig(t, ``)
	for _, args := range [][]string{
		{"monit", "-c", cfg, "--interval", "1ms"},
		{"monit", "-c", cfg, "--interval", "soon"},
		{"monit", "-c", cfg, "api"},
	} {
		if _, _, code := thorpCmd(t, args...); code != exitUsage {
			t.Errorf("thorp %v: exit %d, want %d", args, code, exitUsage)
		}
	}
}

// TestMonit_LiveInTmux runs monit in a real 80x24 terminal (tmux): it
// shows both components and redraws, r then y restarts the selected one
// (thorp status sees the new process), and q ends it and restores the
// screen.
func TestMonit_LiveInTmux(t *testing.T) {
	tmux := lookTmux(t)
	cfg := writeConfig(t, `
settings { http = "" }
component "alpha" { command = { "sh", "-c", "echo alpha says hello; exec sleep 1000" }, max_memory_restart = "100MB" }
component "beta" { command = { "sleep", "1000" } }
`)
	startThorpRunning(t, cfg)
	done := filepath.Join(t.TempDir(), "done")
	tm := newTmux(t, tmux, 80, 24, thorpBin+" monit --interval 200ms -c "+cfg+"; echo exit=$? > "+done+"; sleep 30")
	capture := tm.capture

	var screen string
	waitFor(t, 15*time.Second, "monit to show both components and alpha's log", func() bool {
		screen = capture()
		return strings.Contains(screen, "> alpha") && strings.Contains(screen, "beta") &&
			strings.Contains(screen, "alpha says hello")
	})
	for i, l := range strings.Split(strings.TrimRight(screen, "\n"), "\n") {
		if i >= 24 || len([]rune(l)) > 80 {
			t.Fatalf("line %d does not fit 80x24: %q\n%s", i+1, l, screen)
		}
	}
	first := headerLine(screen)
	waitFor(t, 10*time.Second, "monit to redraw", func() bool {
		screen = capture()
		return headerLine(screen) != first && strings.Contains(screen, "beta")
	})

	before := statusOf(t, cfg, "alpha")
	tm.send("r")
	waitFor(t, 10*time.Second, "the confirmation", func() bool {
		return strings.Contains(capture(), "restart alpha? y/n")
	})
	tm.send("y")
	waitFor(t, 30*time.Second, "monit to say the restart is done", func() bool {
		return strings.Contains(capture(), "restart alpha: done")
	})
	if after := statusOf(t, cfg, "alpha"); after.PID == before.PID || after.Restarts != before.Restarts+1 {
		t.Errorf("alpha after r, y: pid %d restarts %d; before: pid %d restarts %d", after.PID, after.Restarts, before.PID, before.Restarts)
	}
	if beta := statusOf(t, cfg, "beta"); beta.Restarts != 0 {
		t.Errorf("beta restarted %d times; only alpha was selected", beta.Restarts)
	}

	tm.send("q")
	waitFor(t, 10*time.Second, "monit to exit on q", func() bool {
		b, err := os.ReadFile(done)
		return err == nil && strings.TrimSpace(string(b)) == "exit=0"
	})
	if screen = capture(); strings.Contains(screen, "q quit") {
		t.Errorf("the alternate screen was not left:\n%s", screen)
	}
}

// lookTmux finds tmux, or skips the test (make test-deps installs it).
func lookTmux(t testing.TB) string {
	t.Helper()
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed (make test-deps installs it)")
	}
	return tmux
}

// tmuxSession is a detached tmux session of one window running a shell
// command, on a private server socket so a test touches no user's tmux.
// The server is killed when the test ends.
type tmuxSession struct {
	t          testing.TB
	tmux, sock string
}

func newTmux(t testing.TB, tmux string, width, height int, shell string) *tmuxSession {
	t.Helper()
	s := &tmuxSession{t: t, tmux: tmux, sock: filepath.Join(t.TempDir(), "tmux.sock")}
	s.run("new-session", "-d", "-x", fmt.Sprint(width), "-y", fmt.Sprint(height), "-s", "main", shell)
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", s.sock, "kill-server").Run() })
	return s
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command(s.tmux, append([]string{"-S", s.sock}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v\n%s", args, err, out)
	}
	return string(out)
}

// capture is the window's text as shown now.
func (s *tmuxSession) capture() string { return s.run("capture-pane", "-p", "-t", "main") }

// send types keys into the window (tmux key names: Down, Tab, C-c).
func (s *tmuxSession) send(keys ...string) {
	s.run(append([]string{"send-keys", "-t", "main"}, keys...)...)
}

// statusOf is name's status from thorp status --json.
func statusOf(t *testing.T, cfg, name string) engine.Status {
	t.Helper()
	out, errOut, code := thorpCmd(t, "status", "--json", "-c", cfg, name)
	if code != exitOK {
		t.Fatalf("status %s: exit %d\n%s", name, code, errOut)
	}
	var st struct{ Components []engine.Status }
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Components) != 1 {
		t.Fatalf("status %s --json: %v\n%s", name, err, out)
	}
	return st.Components[0]
}

// headerLine is the first line of a monit screen (it holds the time).
func headerLine(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "thorp monit · ") {
			return l
		}
	}
	return ""
}
