package main

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// thorpBin is the thorp binary built once for the end-to-end tests.
var thorpBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "thorp-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	thorpBin = filepath.Join(dir, "thorp")
	// Built as `make build` does, so memory figures match what ships.
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", thorpBin, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building thorp for the tests:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

var (
	programsMu sync.Mutex
	programs   = map[string]string{} // built testdata programs by name
)

// testProgram returns the path of testdata/NAME (portapp: an app that only
// knows $PORT; stampcrash: stamps its first and last instruction and exits
// 1), built once next to the thorp binary, without the race detector so
// that it runs as fast as a real program would.
func testProgram(t testing.TB, name string) string {
	t.Helper()
	programsMu.Lock()
	defer programsMu.Unlock()
	if bin, ok := programs[name]; ok {
		return bin
	}
	bin := filepath.Join(filepath.Dir(thorpBin), name)
	build := exec.Command("go", "build", "-trimpath", "-o", bin, "./testdata/"+name)
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building testdata/%s: %v\n%s", name, err, out)
	}
	programs[name] = bin
	return bin
}

// median returns the middle value of vs (the upper one of an even count).
func median[T cmp.Ordered](vs []T) T {
	s := slices.Clone(vs)
	slices.Sort(s)
	return s[len(s)/2]
}

// writeConfig writes a thorp.lua with body into a fresh directory.
func writeConfig(t testing.TB, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "thorp.lua")
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// thorpCmd runs the thorp binary with args and returns stdout, stderr and the exit code.
func thorpCmd(t testing.TB, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, thorpBin, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("thorp %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

// runningThorp is a `thorp run` started by a test.
type runningThorp struct {
	cmd    *exec.Cmd
	cfg    string
	stderr *bytes.Buffer
	done   chan error
}

// startThorp starts `thorp run -c cfg` and waits until its control socket answers.
// startThorpRunning is startThorp for a config whose components all stay
// up: it returns once every one of them is running (thorp start waits for
// the outcome), not merely once the control socket answers.
func startThorpRunning(t testing.TB, cfg string) *runningThorp {
	t.Helper()
	r := startThorp(t, cfg)
	if out, errOut, code := thorpCmd(t, "start", "all", "-c", cfg); code != exitOK {
		t.Fatalf("start all: exit %d\n%s\n%s", code, out, errOut)
	}
	return r
}

func startThorp(t testing.TB, cfg string) *runningThorp {
	t.Helper()
	return startThorpWith(t, cfg)
}

// startThorpWith is startThorp with more arguments for thorp run.
func startThorpWith(t testing.TB, cfg string, args ...string) *runningThorp {
	t.Helper()
	return startThorpBin(t, thorpBin, cfg, args...)
}

// startThorpBin is startThorpWith with another thorp binary (a benchmark
// comparing builds).
func startThorpBin(t testing.TB, bin, cfg string, args ...string) *runningThorp {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"run", "-c", cfg}, args...)...)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	cmd.Stdout = &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &runningThorp{cmd: cmd, cfg: cfg, stderr: &errb, done: make(chan error, 1)}
	go func() { r.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Errorf("thorp did not exit within 20s of SIGTERM")
		}
	})
	deadline := time.Now().Add(15 * time.Second)
	for {
		_, _, code := thorpCmd(t, "status", "-c", cfg)
		if code == 0 {
			return r
		}
		select {
		case err := <-r.done:
			r.done <- err
			t.Fatalf("thorp run exited early (%v):\n%s", err, errb.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("thorp run never answered on its control socket:\n%s", errb.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// statusJSON is the part of `thorp status --json` the tests read.
type statusJSON struct {
	Components []struct {
		Name             string         `json:"name"`
		State            string         `json:"state"`
		PID              int            `json:"pid"`
		Restarts         int            `json:"restarts"`
		RestartsByReason map[string]int `json:"restarts_by_reason"`
		LastExit         *struct {
			Code   int    `json:"code"`
			Signal string `json:"signal"`
		} `json:"last_exit"`
		Instances []struct {
			Index int    `json:"index"`
			PID   int    `json:"pid"`
			State string `json:"state"`
		} `json:"instances"`
	} `json:"components"`
}

func status(t testing.TB, cfg string) statusJSON {
	t.Helper()
	out, errOut, code := thorpCmd(t, "status", "--json", "-c", cfg)
	if code != 0 {
		t.Fatalf("thorp status exit %d: %s", code, errOut)
	}
	var st statusJSON
	if err := json.Unmarshal([]byte(out), &st); err != nil {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	return st
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t testing.TB, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// alive reports whether pid exists and is not a zombie.
func alive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}
