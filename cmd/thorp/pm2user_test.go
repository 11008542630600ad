package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestPM2User_FromAnEmptyDirectory walks issue 11's first hour as a PM2
// user would, with the built binary and real processes, each command
// finding its config by itself: thorp run with no file says what to do
// (not "thorp.lua has errors"); init -- CMD writes a thorp.lua that up
// runs; add starts a second app from conf.d; from another directory,
// status names the thorp to use and works with it; a second thorp's
// check names the first (pid and config); scale, remove and down.
func TestPM2User_FromAnEmptyDirectory(t *testing.T) {
	// The address a config without http gets: the default, moved off
	// 9615 so that a thorp running on this machine is not in the way.
	addr := fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t))
	t.Setenv("THORP_HTTP", addr)
	dir, elsewhere := t.TempDir(), t.TempDir()
	must := func(wd string, args ...string) string {
		t.Helper()
		out, errOut, code := thorpIn(t, wd, nil, args...)
		if code != exitOK {
			t.Fatalf("thorp %v in %s: exit %d\n%s%s", args, wd, code, out, errOut)
		}
		return out
	}

	_, errOut, code := thorpIn(t, dir, nil, "run")
	if code != exitFailed || !strings.Contains(errOut, "no config file found") || !strings.Contains(errOut, "thorp init") {
		t.Fatalf("run in an empty directory: exit %d\n%s", code, errOut)
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("run without a config left %v", entries)
	}

	if err := os.WriteFile(filepath.Join(dir, "app.sh"), []byte("echo app-is-up\nexec sleep 1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	must(dir, "init", "--", "sh", "app.sh")
	cfg := filepath.Join(dir, "thorp.lua")
	m := upPID.FindStringSubmatch(must(dir, "up"))
	if m == nil {
		t.Fatal("thorp up printed no pid")
	}
	pid, _ := strconv.Atoi(m[1])
	cleanupThorp(t, cfg, pid)

	if out := must(dir, "add", "worker", "--instances", "2", "--", "sleep", "1000"); !strings.Contains(out, "started worker") {
		t.Errorf("add does not say it started worker:\n%s", out)
	}
	if st := status(t, cfg); running(st, "app") != 1 || running(st, "worker") != 2 {
		t.Fatalf("after init, up and add: %+v", st.Components)
	}

	// From another directory: the thorp is named, and works with the
	// config it names.
	_, errOut, code = thorpIn(t, elsewhere, nil, "status")
	if code != exitFailed || !strings.Contains(errOut, fmt.Sprintf("answering on %s (pid %d) runs %s", addr, pid, cfg)) {
		t.Errorf("status from another directory: exit %d\n%s", code, errOut)
	}
	withConfig := append(os.Environ(), "THORP_CONFIG="+cfg)
	if out, errOut, code := thorpIn(t, elsewhere, withConfig, "scale", "worker", "3"); code != exitOK ||
		!strings.Contains(out, "worker: 3 instances (scaled, thorp.lua says 2)") {
		t.Errorf("scale from another directory: exit %d\n%s%s", code, out, errOut)
	}
	if out, _, _ := thorpIn(t, elsewhere, withConfig, "logs", "app", "-n", "5"); !strings.Contains(out, "app-is-up") {
		t.Errorf("logs app from another directory:\n%s", out)
	}

	// A second thorp on the host, made the same way: check names the first.
	second := t.TempDir()
	must(second, "init", "--", "sleep", "1000")
	out, _, code := thorpIn(t, second, nil, "check")
	if want := fmt.Sprintf("is held by another thorp (pid %d, config %s)", pid, cfg); code != exitFailed || !strings.Contains(out, want) {
		t.Errorf("check of a second thorp.lua: exit %d\n%s\nwant %q", code, out, want)
	}

	must(dir, "remove", "worker")
	if _, err := os.Stat(filepath.Join(dir, "conf.d", "worker.lua")); !os.IsNotExist(err) {
		t.Errorf("conf.d/worker.lua after remove: %v", err)
	}
	if st := status(t, cfg); len(st.Components) != 1 || running(st, "app") != 1 {
		t.Errorf("after remove: %+v", st.Components)
	}
	must(dir, "down")
	if alive(pid) {
		t.Errorf("thorp (pid %d) runs after down", pid)
	}
}
