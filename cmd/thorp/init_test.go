package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInit_WritesAStarterThatChecks(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "worker.sh"), []byte("exec sleep 1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	out, errOut, code := thorpIn(t, dir, nil, "init", "--", "sh", "worker.sh")
	if code != exitOK {
		t.Fatalf("init: exit %d\n%s%s", code, out, errOut)
	}
	cfg := filepath.Join(dir, "thorp.lua")
	text, err := os.ReadFile(cfg)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`component "worker" {`, `command = { "sh", "worker.sh" }`, `cwd = "."`,
		`-- max_memory_restart = "300MB"`, "\n" + includeLine + "\n"} {
		if !bytes.Contains(text, []byte(want)) {
			t.Errorf("thorp.lua lacks %q:\n%s", want, text)
		}
	}
	if fi, err := os.Stat(filepath.Join(dir, "conf.d")); err != nil || !fi.IsDir() {
		t.Errorf("conf.d next to thorp.lua: %v", err)
	}
	// The default http address may be taken on a test machine.
	t.Setenv("THORP_HTTP", fmt.Sprintf("127.0.0.1:%d", freeTCPPort(t)))
	if out, errOut, code := thorpIn(t, dir, nil, "check"); code != exitOK || !strings.Contains(out, "ok, 1 component(s)") {
		t.Fatalf("check of the file init wrote: exit %d\n%s%s", code, out, errOut)
	}

	// It runs as written: the component's cwd is the file's directory.
	startThorpRunning(t, cfg)
	if n := running(status(t, cfg), "worker"); n != 1 {
		t.Fatalf("worker is not running: %+v", status(t, cfg))
	}

	// Never overwritten.
	_, errOut, code = thorpIn(t, dir, nil, "init")
	if code != exitFailed || !strings.Contains(errOut, "exists already") {
		t.Errorf("second init: exit %d, %q", code, errOut)
	}
	if again, _ := os.ReadFile(cfg); !bytes.Equal(again, text) {
		t.Error("a second init changed thorp.lua")
	}
}

func TestInit_NamesTheComponentAfterTheScript(t *testing.T) {
	for _, tt := range []struct {
		argv []string
		name string
	}{
		{[]string{"node", "app.js"}, "app"},
		{[]string{"node", "--max-old-space-size=512", "dist/server.mjs"}, "server"},
		{[]string{"python3.12", "-u", "worker.py"}, "worker"},
		{[]string{"deno", "run", "-A", "main.ts"}, "main"},
		{[]string{"./bin/api-server", "--port", "80"}, "api-server"},
		{[]string{"/usr/bin/redis-server"}, "redis-server"},
		{[]string{"node", "my app.js"}, "my-app"},
		{[]string{"node"}, "node"},
	} {
		if got := nameFor(tt.argv); got != tt.name {
			t.Errorf("nameFor(%q) = %q, want %q", tt.argv, got, tt.name)
		}
	}
}

func TestInit_Refusals(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := thorpIn(t, dir, nil, "init", "--name", "bad name", "--", "node", "app.js"); code != exitUsage || !strings.Contains(errOut, "not a component name") {
		t.Errorf("init --name 'bad name': exit %d, %q", code, errOut)
	}
	if _, errOut, code := thorpIn(t, dir, nil, "init", "node", "app.js"); code != exitUsage || !strings.Contains(errOut, "after --") {
		t.Errorf("init without --: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "thorp.lua")); !os.IsNotExist(err) {
		t.Errorf("a refused init wrote thorp.lua: %v", err)
	}
	// A link at the path is not followed, and not replaced.
	target := filepath.Join(dir, "elsewhere.lua")
	if err := os.Symlink(target, filepath.Join(dir, "thorp.lua")); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := thorpIn(t, dir, nil, "init"); code != exitFailed || !strings.Contains(errOut, "exists already") {
		t.Errorf("init over a dangling link: exit %d, %q", code, errOut)
	}
	if _, err := os.Lstat(target); !os.IsNotExist(err) {
		t.Errorf("init wrote through a link: %v", err)
	}
}
