package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// writeFiles writes each name = text under dir, making directories.
func writeFiles(t *testing.T, dir string, files map[string]string) {
	t.Helper()
	for name, text := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func TestInclude_ConfD(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"thorp.lua": `settings { http = "" }
local port = 7000
include("conf.d/*.lua")
component "main" { command = "exec sleep 300", depends_on = { "b" } }
include("empty.d/*.lua")
`,
		// Sorted: a before b; both see thorp.lua's globals and the sandbox.
		"conf.d/b.lua": `component "b" { command = "exec sleep 300", env = { PORT = PORT_A + 1, OS = tostring(io == nil) } }
`,
		"conf.d/a.lua": `PORT_A = 7000
component "a" { command = "exec sleep 300" }
`,
		"conf.d/notes.txt": "not Lua",
	})
	if err := os.Mkdir(filepath.Join(dir, "empty.d"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "thorp.lua")
	out, _, code := thorpIn(t, dir, os.Environ(), "check")
	if code != exitOK || !strings.Contains(out, "thorp.lua: ok, 3 component(s)") {
		t.Fatalf("check: exit %d\n%s", code, out)
	}
	if out, _, _ := thorpCmd(t, "env", "b", "-c", cfg); out != "OS=true\nPORT=7001\n" {
		t.Errorf("env b:\n%s", out)
	}
	startThorpRunning(t, cfg)
	st := status(t, cfg)
	var names []string
	for _, c := range st.Components {
		names = append(names, c.Name)
	}
	if strings.Join(names, " ") != "a b main" {
		t.Errorf("components %v, want the included ones in file order, then main", names)
	}

	// A new drop-in file is picked up by reload-config.
	writeFiles(t, dir, map[string]string{"conf.d/c.lua": `component "c" { command = "exec sleep 300" }` + "\n"})
	if out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != exitOK || !strings.Contains(out, "1 added") {
		t.Fatalf("reload-config: exit %d\n%s%s", code, out, errOut)
	}
	// A broken one is refused, at its own file and line; nothing changes.
	writeFiles(t, dir, map[string]string{"conf.d/d.lua": "\n\ncomponent \"d\" { command = 42, restart_delay = \"soon\" }\n"})
	out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg)
	if code == exitOK || !strings.Contains(out+errOut, filepath.Join(dir, "conf.d", "d.lua")+`:3: component "d": restart_delay:`) {
		t.Errorf("reload-config with a bad drop-in: exit %d\n%s%s", code, out, errOut)
	}
	if st := status(t, cfg); len(st.Components) != 4 {
		t.Errorf("after a refused reload: %d components, want 4", len(st.Components))
	}
}

func TestInclude_Problems(t *testing.T) {
	dir := t.TempDir()
	writeFiles(t, dir, map[string]string{
		"thorp.lua": `settings { http = "" }
component "web" { command = "exec sleep 300" }
include("conf.d/*.lua")
`,
		"conf.d/1-dup.lua":      "\ncomponent \"web\" { command = \"true\" }\n",
		"conf.d/2-syntax.lua":   "component \"x\" {\n  command = \"true\"\n",
		"conf.d/3-error.lua":    "local t = nil\n\nlocal y = t.field\n",
		"conf.d/4-key.lua":      "component \"k\" { command = \"true\", max_restart = 3 }\n",
		"conf.d/5-settings.lua": "settings { http = \"127.0.0.1:1\" }\n",
		"conf.d/6-self.lua":     "include(\"6-self.lua\")\n",
	})
	out, _, code := thorpIn(t, dir, os.Environ(), "check")
	for _, want := range []string{
		`error: conf.d/1-dup.lua:2: duplicate component "web", first declared at thorp.lua:2`,
		`error: conf.d/2-syntax.lua:`,
		`error: conf.d/3-error.lua:3: attempt to index a non-table object(nil) with key 'field'`,
		"error: conf.d/4-key.lua:1: component \"k\": max_restart: unknown key; did you mean `max_restarts`?",
		`error: conf.d/5-settings.lua:1: settings{} belongs in thorp.lua, not in a file it includes`,
		`error: conf.d/6-self.lua:1: include("6-self.lua"): conf.d/6-self.lua is included twice (by itself, or by two patterns)`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if code != exitFailed || t.Failed() {
		t.Errorf("check: exit %d\n%s", code, out)
	}
}
