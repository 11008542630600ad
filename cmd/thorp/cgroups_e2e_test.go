package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// asNobody returns the argv prefix that runs thorp as nobody (setpriv),
// and makes thorpBin reachable for it; it skips unless root with setpriv.
func asNobody(t *testing.T) []string {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root, to run thorp as nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv")
	}
	if err := os.Chmod(filepath.Dir(thorpBin), 0o755); err != nil {
		t.Fatal(err)
	}
	return []string{setpriv, "--reuid=65534", "--regid=65534", "--clear-groups"}
}

// openDir is a directory anyone may write (for thorp run as nobody).
func openDir(t *testing.T) string {
	t.Helper()
	dir, err := os.MkdirTemp("", "thorp-cgroup-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestCheck_CgroupsSection(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root (CI runs these tests as root)")
	}
	// In a directory anyone may read: nobody checks it too, below.
	cfg := filepath.Join(openDir(t), "thorp.lua")
	body := `
settings { http = "" }
component "web" { command = { "sleep", "60" }, memory_measure = "cgroup", memory_high = "64MiB", max_memory_restart = "128MiB" }
`
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	out, _, code := thorpCmd(t, "check", "-c", cfg)
	if code != exitOK {
		t.Fatalf("exit %d\n%s", code, out)
	}
	for _, want := range []string{"\ncgroups:\n  layout: ", "\n  tracking: cgroup ", "\n  kill: ", "\n  memory: ", "\n  cpu: ", "\n  memory_high: "} {
		if !strings.Contains(out, want) {
			t.Errorf("check lacks %q:\n%s", want, out)
		}
	}
	// check --json carries the same plan under "cgroups".
	js, _, code := thorpCmd(t, "check", "--json", "-c", cfg)
	var report struct {
		Cgroups map[string]any `json:"cgroups"`
	}
	if err := json.Unmarshal([]byte(js), &report); err != nil || code != exitOK {
		t.Fatalf("check --json: exit %d, %v\n%s", code, err, js)
	}
	for _, key := range []string{"layout", "tracking", "kill", "memory", "cpu"} {
		if v, _ := report.Cgroups[key].(string); v == "" || !strings.Contains(out, "  "+key+": "+v+"\n") {
			t.Errorf("check --json cgroups.%s = %v, not the text's line:\n%s\n%s", key, report.Cgroups[key], js, out)
		}
	}
	if applies, ok := report.Cgroups["memory_high"].(bool); !ok || applies == strings.Contains(out, "memory_high: cannot be applied") {
		t.Errorf("check --json cgroups.memory_high = %v, against the text:\n%s\n%s", report.Cgroups["memory_high"], js, out)
	}
	// This host's cgroup2 has no memory controller (hybrid): memory_high
	// cannot be applied, and check says so at the component's line.
	if strings.Contains(out, "memory_high: cannot be applied") && !strings.Contains(out, `thorp.lua:3: component "web": memory_high: needs the cgroup v2 memory controller`) {
		t.Errorf("no warning for memory_high:\n%s", out)
	}

	// As nobody no cgroup can be created: the process tree, and why.
	prefix := asNobody(t)
	nb, err := exec.Command(prefix[0], append(prefix[1:], thorpBin, "check", "-c", cfg)...).CombinedOutput()
	if err != nil {
		t.Fatalf("check as nobody: %v\n%s", err, nb)
	}
	if !strings.Contains(string(nb), "  tracking: process tree") || !strings.Contains(string(nb), "permission denied") ||
		!strings.Contains(string(nb), `memory_measure: "cgroup" is not available on this host`) {
		t.Errorf("check as nobody:\n%s", nb)
	}
}

// escaperConfig writes a config whose component forks a child that forks
// a grandchild which leaves the session and ignores SIGTERM, the child
// exiting at once; the grandchild writes its pid to kid.
func escaperConfig(t *testing.T, dir string) string {
	t.Helper()
	cfg := filepath.Join(dir, "thorp.lua")
	body := `settings { http = "" }
component "esc" {
  command = [[( setsid /bin/sh -c 'trap "" TERM; echo $$ > kid; while :; do sleep 1; done' & ); exec sleep 1000]],
  kill_timeout = "500ms",
}
`
	if err := os.WriteFile(cfg, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// kidOf waits for the escaper's pid in dir/kid (written anew each start).
func kidOf(t *testing.T, dir string, not int) int {
	t.Helper()
	var kid int
	waitFor(t, 10*time.Second, "the escaper's pid", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "kid"))
		kid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return kid > 0 && kid != not && alive(kid)
	})
	return kid
}

func TestRun_CgroupEscaperKilledAtStopAndByTheFence(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root (CI runs these tests as root)")
	}
	dir := t.TempDir()
	cfg := escaperConfig(t, dir)
	r := startThorp(t, cfg)
	log, _ := os.ReadFile(filepath.Join(dir, "logs", "thorp.log"))
	if !strings.Contains(string(log), `msg=cgroups`) || !strings.Contains(string(log), `tracking="cgroup v2 at`) {
		t.Fatalf("thorp's log does not say it tracks through cgroup v2:\n%s", log)
	}
	kid := kidOf(t, dir, 0)
	t.Cleanup(func() { _ = syscall.Kill(kid, syscall.SIGKILL) })
	if out, errOut, code := thorpCmd(t, "stop", "esc", "-c", cfg); code != exitOK {
		t.Fatalf("stop: exit %d\n%s%s", code, out, errOut)
	}
	if alive(kid) {
		t.Fatalf("escaper %d survived thorp stop", kid)
	}

	// kill -9 of thorp: the fence kills the cgroup.
	if out, errOut, code := thorpCmd(t, "start", "esc", "-c", cfg); code != exitOK {
		t.Fatalf("start: exit %d\n%s%s", code, out, errOut)
	}
	kid2 := kidOf(t, dir, kid)
	t.Cleanup(func() { _ = syscall.Kill(kid2, syscall.SIGKILL) })
	if err := r.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "the fence to kill the escaper", func() bool { return !alive(kid2) })
	// and removes the cgroups thorp left.
	_, rest, _ := strings.Cut(string(log), " root=")
	root, _, _ := strings.Cut(rest, " ")
	if !strings.Contains(root, "/thorp-") {
		t.Fatalf("no root= in thorp's log:\n%s", log)
	}
	waitFor(t, 10*time.Second, "the fence to remove "+root, func() bool {
		_, err := os.Stat(root)
		return os.IsNotExist(err)
	})
}

func TestRun_FallsBackToTheProcessTreeAsNobody(t *testing.T) {
	prefix := asNobody(t)
	dir := openDir(t)
	cfg := escaperConfig(t, dir)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, prefix[0], append(prefix[1:], thorpBin, "run", "-c", cfg)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	defer func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = cmd.Process.Kill()
			t.Error("thorp did not exit within 20s of SIGTERM")
		}
	}()
	kid := kidOf(t, dir, 0)
	t.Cleanup(func() { _ = syscall.Kill(kid, syscall.SIGKILL) })
	log, _ := os.ReadFile(filepath.Join(dir, "logs", "thorp.log"))
	if !strings.Contains(string(log), `tracking="process tree`) || !strings.Contains(string(log), "permission denied") {
		t.Fatalf("thorp's log as nobody does not say it fell back to the process tree:\n%s", log)
	}
}
