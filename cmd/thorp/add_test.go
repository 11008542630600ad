package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// addConfig writes a thorp.lua that loads conf.d and declares "base".
func addConfig(t *testing.T) string {
	t.Helper()
	cfg := writeConfig(t, `settings { http = "" }
component "base" { command = {"sleep", "1000"} }
`+includeLine+"\n")
	if err := os.Mkdir(filepath.Join(filepath.Dir(cfg), confDir), 0o755); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestAdd_WritesTheFileAndStartsIt(t *testing.T) {
	cfg := addConfig(t)
	startThorpRunning(t, cfg)
	work := t.TempDir()
	out, errOut, code := thorpIn(t, work, nil, "add", "-c", cfg, "web", "--instances", "2", "--memory", "150MB",
		"--env", "PORT=3000", "--env", "GREETING=a \"quoted\" ünïcode", "--", "sh", "-c", `echo "$GREETING"; exec sleep 1000`)
	if code != exitOK {
		t.Fatalf("add: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "started web") || !strings.Contains(out, "running") {
		t.Errorf("add does not report what started:\n%s", out)
	}
	if n := running(status(t, cfg), "web"); n != 2 {
		t.Fatalf("%d instances of web run, want 2", n)
	}
	if n := running(status(t, cfg), "base"); n != 1 {
		t.Errorf("base is not running any more")
	}
	path := filepath.Join(filepath.Dir(cfg), confDir, "web.lua")
	text, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{addedMarker + "web'", `instances = 2`, `max_memory_restart = "150MB"`, `PORT = "3000"`,
		`cwd = "` + work + `"`} {
		if !strings.Contains(string(text), want) {
			t.Errorf("conf.d/web.lua lacks %q:\n%s", want, text)
		}
	}
	desc, _, _ := thorpCmd(t, "describe", "web", "-c", cfg)
	if !strings.Contains(desc, "143.1 MiB") && !strings.Contains(desc, "150") {
		t.Errorf("describe web shows no memory limit:\n%s", desc)
	}
	logOut, _, _ := thorpCmd(t, "logs", "web", "-c", cfg, "-n", "5")
	waitFor(t, 10*time.Second, "web's greeting in its log", func() bool {
		logOut, _, _ = thorpCmd(t, "logs", "web", "-c", cfg, "-n", "5")
		return strings.Contains(logOut, `a "quoted" ünïcode`)
	})

	// The file is the truth: a reload keeps web.
	if _, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != exitOK {
		t.Fatalf("reload-config: %s", errOut)
	}
	if n := running(status(t, cfg), "web"); n != 2 {
		t.Fatalf("web after a reload: %d running", n)
	}

	// Refusals: a name in use (here or in thorp.lua), a bad name, no command.
	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"add", "web", "--", "sleep", "1"}, exitFailed, `"web" exists already`},
		{[]string{"add", "base", "--", "sleep", "1"}, exitFailed, "thorp.lua:2"},
		{[]string{"add", "../x", "--", "sleep", "1"}, exitUsage, "not a component name"},
		{[]string{"add", "x"}, exitUsage, "after --"},
		{[]string{"add", "x", "--instances", "0", "--", "sleep", "1"}, exitUsage, "from 1 to 1024"},
		{[]string{"add", "x", "--memory", "lots", "--", "sleep", "1"}, exitUsage, "not a size"},
		{[]string{"add", "x", "--env", "A-B=1", "--", "sleep", "1"}, exitUsage, "NAME=VALUE"},
	} {
		_, errOut, code := thorpCmd(t, append([]string{"-c", cfg}, tt.args...)...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("thorp %v: exit %d (want %d), stderr %q (want %q)", tt.args, code, tt.code, errOut, tt.want)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), confDir, "x.lua")); !os.IsNotExist(err) {
		t.Errorf("a refused add wrote x.lua: %v", err)
	}

	// remove deletes the file and stops web; base stays.
	pids := []int{}
	for _, c := range status(t, cfg).Components {
		if c.Name == "web" {
			for _, in := range c.Instances {
				pids = append(pids, in.PID)
			}
		}
	}
	out, errOut, code = thorpCmd(t, "remove", "web", "-c", cfg)
	if code != exitOK || !strings.Contains(out, "deleted") {
		t.Fatalf("remove: exit %d\n%s%s", code, out, errOut)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Errorf("conf.d/web.lua after remove: %v", err)
	}
	for _, c := range status(t, cfg).Components {
		if c.Name == "web" {
			t.Errorf("web is still in status after remove")
		}
	}
	for _, p := range pids {
		if alive(p) {
			t.Errorf("pid %d of web still runs after remove", p)
		}
	}
	if entries, _ := os.ReadDir(filepath.Dir(path)); len(entries) != 0 {
		t.Errorf("conf.d keeps %v after remove", entries)
	}
}

func TestAdd_WithoutIncludeWritesNothing(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
-- include("conf.d/*.lua")  (commented out: does not count)
component "base" { command = {"sleep", "1000"} }
`)
	_, errOut, code := thorpCmd(t, "add", "web", "-c", cfg, "--", "sleep", "1000")
	if code != exitFailed || !strings.Contains(errOut, "\n  "+includeLine+"\n") || !strings.Contains(errOut, "Nothing was written") {
		t.Fatalf("add without include: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), confDir)); !os.IsNotExist(err) {
		t.Errorf("add without include created conf.d: %v", err)
	}
}

func TestAdd_NoRunningThorpOnlyWrites(t *testing.T) {
	cfg := addConfig(t)
	out, errOut, code := thorpCmd(t, "add", "web", "-c", cfg, "--", "sleep", "1000")
	if code != exitOK || !strings.Contains(out, "no thorp is running") {
		t.Fatalf("add with no thorp: exit %d\n%s%s", code, out, errOut)
	}
	startThorpRunning(t, cfg)
	if n := running(status(t, cfg), "web"); n != 1 {
		t.Fatalf("web does not run under the thorp started after add")
	}
}

// TestAdd_RefusedReloadIsUndone: when the running thorp cannot apply the
// config with the new file (its log path is a directory), add removes the
// file again and nothing runs that the file does not say.
func TestAdd_RefusedReloadIsUndone(t *testing.T) {
	cfg := addConfig(t)
	startThorpRunning(t, cfg)
	if err := os.MkdirAll(filepath.Join(filepath.Dir(cfg), "logs", "web-out.log"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := thorpCmd(t, "add", "web", "-c", cfg, "--", "sleep", "1000")
	if code != exitFailed || !strings.Contains(errOut, "removed again, nothing changed") {
		t.Fatalf("add refused by the running thorp: exit %d\n%s", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), confDir, "web.lua")); !os.IsNotExist(err) {
		t.Errorf("web.lua after a refused add: %v", err)
	}
	for _, c := range status(t, cfg).Components {
		if c.Name == "web" {
			t.Errorf("web runs after a refused add")
		}
	}
}

func TestRemove_LeavesWhatAddDidNotWrite(t *testing.T) {
	cfg := addConfig(t)
	startThorpRunning(t, cfg)
	dir := filepath.Join(filepath.Dir(cfg), confDir)
	mine := filepath.Join(dir, "mine.lua")
	if err := os.WriteFile(mine, []byte(`component "mine" { command = {"sleep", "1000"} }`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "extra.lua"), []byte(`component "other" { command = {"sleep", "1000"} }`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != exitOK {
		t.Fatalf("reload-config: %s", errOut)
	}
	for _, tt := range []struct {
		name, want string
	}{
		{"mine", "was not written by 'thorp add'"},
		{"base", "thorp.lua:2"},
		{"other", filepath.Join(confDir, "extra.lua") + ":1"},
		{"nope", "unknown component"},
	} {
		_, errOut, code := thorpCmd(t, "remove", tt.name, "-c", cfg)
		if code != exitFailed || !strings.Contains(errOut, tt.want) {
			t.Errorf("remove %s: exit %d, %q (want %q)", tt.name, code, errOut, tt.want)
		}
	}
	if _, err := os.Stat(mine); err != nil {
		t.Errorf("remove touched a file add did not write: %v", err)
	}
	st := status(t, cfg)
	if running(st, "mine") != 1 || running(st, "base") != 1 {
		t.Errorf("a refused remove changed what runs: %+v", st)
	}

	// A component that depends on an added one keeps it: nothing changes.
	if _, errOut, code := thorpCmd(t, "add", "db", "-c", cfg, "--", "sleep", "1000"); code != exitOK {
		t.Fatalf("add db: %s", errOut)
	}
	if err := os.WriteFile(mine, []byte(`component "mine" { command = {"sleep", "1000"}, depends_on = {"db"} }`+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != exitOK {
		t.Fatalf("reload-config: %s", errOut)
	}
	_, errOut, code := thorpCmd(t, "remove", "db", "-c", cfg)
	if code != exitFailed || !strings.Contains(errOut, "nothing changed") {
		t.Errorf("remove of a dependency: exit %d, %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "db.lua")); err != nil {
		t.Errorf("db.lua after a refused remove: %v", err)
	}
	if running(status(t, cfg), "db") != 1 {
		t.Errorf("db stopped after a refused remove")
	}
}
