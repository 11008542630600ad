package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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

// TestMonit_LiveInTmux runs monit in a real terminal (tmux), checks that it
// redraws, and that Ctrl-C ends it and restores the screen.
func TestMonit_LiveInTmux(t *testing.T) {
	tmux, err := exec.LookPath("tmux")
	if err != nil {
		t.Skip("tmux not installed")
	}
	cfg := writeConfig(t, `
settings { http = "" }
component "sleeper" { command = { "sleep", "1000" } }
`)
	startThorp(t, cfg)
	// A private server socket, so the test touches no user's tmux.
	sock := filepath.Join(t.TempDir(), "tmux.sock")
	tm := func(args ...string) string {
		t.Helper()
		out, err := exec.Command(tmux, append([]string{"-S", sock}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("tmux %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	done := filepath.Join(t.TempDir(), "done")
	shell := thorpBin + " monit --interval 200ms -c " + cfg + "; echo exit=$? > " + done + "; sleep 30"
	tm("new-session", "-d", "-x", "160", "-y", "40", "-s", "monit", shell)
	t.Cleanup(func() { _ = exec.Command(tmux, "-S", sock, "kill-server").Run() })

	var screen string
	waitFor(t, 15*time.Second, "monit to draw the table", func() bool {
		screen = tm("capture-pane", "-p", "-t", "monit")
		return strings.Contains(screen, "sleeper") && strings.Contains(screen, "NAME")
	})
	first := headerLine(screen)
	waitFor(t, 10*time.Second, "monit to redraw", func() bool {
		screen = tm("capture-pane", "-p", "-t", "monit")
		return headerLine(screen) != first && strings.Contains(screen, "sleeper")
	})
	tm("send-keys", "-t", "monit", "C-c")
	waitFor(t, 10*time.Second, "monit to exit on Ctrl-C", func() bool {
		b, err := os.ReadFile(done)
		return err == nil && strings.TrimSpace(string(b)) == "exit=0"
	})
	if screen = tm("capture-pane", "-p", "-t", "monit"); strings.Contains(screen, "RECENT EVENTS") {
		t.Errorf("the alternate screen was not left:\n%s", screen)
	}
}

// headerLine is the first line of a monit frame (it holds the time).
func headerLine(screen string) string {
	for _, l := range strings.Split(screen, "\n") {
		if strings.HasPrefix(l, "thorp pid ") {
			return l
		}
	}
	return ""
}
