package preflight

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/thorp-dev/thorp/engine/config"
)

// fakeFreeSpace makes every file system report free bytes available.
func fakeFreeSpace(t *testing.T, free uint64) {
	t.Helper()
	old := freeSpace
	freeSpace = func(string) (uint64, error) { return free, nil }
	t.Cleanup(func() { freeSpace = old })
}

// testConfig returns a config in a fresh directory with one component
// running an executable script there; everything in it passes Check.
func testConfig(t *testing.T) *config.Config {
	t.Helper()
	dir := t.TempDir()
	script := filepath.Join(dir, "run.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	s := config.Defaults()
	s.HTTP = "127.0.0.1:0"
	s.Control = filepath.Join(dir, ".thorp", "thorp.sock")
	s.State = filepath.Join(dir, ".thorp", "state.json")
	s.Logs.Dir = filepath.Join(dir, "logs")
	s.Line = 1
	c := config.DefaultComponent()
	c.Name, c.Line = "api", 5
	c.Command = config.Command{Argv: []string{script}}
	c.Cwd = dir
	c.Logs = s.Logs
	return &config.Config{File: filepath.Join(dir, "thorp.lua"), Dir: dir, Settings: s, Components: []config.Component{c}}
}

func check(t *testing.T, cfg *config.Config, opts Options) []string {
	t.Helper()
	if opts.Env == nil {
		opts.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin"}
	}
	opts.File = "thorp.lua"
	var out []string
	for _, p := range Check(cfg, opts) {
		s := p.String()
		if p.Warning {
			s = "warning: " + s
		}
		out = append(out, s)
	}
	return out
}

func wantProblems(t *testing.T, got []string, want ...string) {
	t.Helper()
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestCheck_Good(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	wantProblems(t, check(t, cfg, Options{}))
	// Nothing is left behind: no probe files, and the log dir is not created.
	entries, err := os.ReadDir(cfg.Dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != "run.sh" {
		t.Errorf("Check left files behind: %v", entries)
	}
}

func TestCheck_CommandFromPATH(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Components[0].Command.Argv = []string{"sh", "-c", "true"}
	wantProblems(t, check(t, cfg, Options{}))

	// The component's own PATH wins over thorp's.
	cfg.Components[0].Command.Argv = []string{"run.sh"}
	cfg.Components[0].Env = map[string]string{"PATH": cfg.Dir}
	wantProblems(t, check(t, cfg, Options{}))
}

func TestCheck_RelativeCommand(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Components[0].Command.Argv = []string{"./run.sh"}
	wantProblems(t, check(t, cfg, Options{}))
}

func TestCheck_MissingBinary(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Components[0].Command.Argv = []string{"thorp-no-such-program", "x"}
	wantProblems(t, check(t, cfg, Options{Env: []string{"PATH=/usr/bin:/bin"}}),
		`thorp.lua:5: component "api": command: "thorp-no-such-program" not found in PATH (/usr/bin:/bin)`)

	cfg.Components[0].Command.Argv = []string{filepath.Join(cfg.Dir, "missing.sh")}
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": command: `+filepath.Join(cfg.Dir, "missing.sh")+` does not exist`)
}

func TestCheck_NotExecutable(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	script := filepath.Join(cfg.Dir, "plain.sh")
	if err := os.WriteFile(script, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg.Components[0].Command.Argv = []string{script}
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": command: `+script+` is not executable (mode -rw-r--r--); run chmod +x on it`)

	cfg.Components[0].Command.Argv = []string{cfg.Dir}
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": command: `+cfg.Dir+` is a directory, not a program`)
}

func TestCheck_Cwd(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Components[0].Command.Argv = []string{"sh"}
	cfg.Components[0].Cwd = filepath.Join(cfg.Dir, "nope")
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": cwd: `+filepath.Join(cfg.Dir, "nope")+` does not exist`)

	cfg.Components[0].Cwd = filepath.Join(cfg.Dir, "run.sh")
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": cwd: `+filepath.Join(cfg.Dir, "run.sh")+` is not a directory`)
}

// TestCheck_LogDirIsFile fails for root too, unlike a permission check.
func TestCheck_LogDirIsFile(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	file := filepath.Join(cfg.Dir, "run.sh")
	cfg.Settings.Logs.Dir = file
	cfg.Components[0].Logs.Dir = file
	cfg.Components[0].LogFile = filepath.Join(file, "sub", "api.log")
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:1: logs.dir: `+file+` is a file, not a directory`,
		`thorp.lua:5: component "api": log_file: `+filepath.Join(file, "sub")+` cannot be created: `+file+` is a file, not a directory`)
}

func TestCheck_PluginPath(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Settings.Plugins.Path = filepath.Join(cfg.Dir, "missing")
	wantProblems(t, check(t, cfg, Options{}))
	file := filepath.Join(cfg.Dir, "run.sh")
	cfg.Settings.Plugins.Path = file
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:1: plugins.path: `+file+` is a file, not a directory (plugin files and modules are read from it)`)
}

func TestCheck_LogDirUnwritable(t *testing.T) {
	if os.Geteuid() == 0 {
		t.Skip("root may write to any directory; TestCheck_LogDirIsFile covers the failing case for root")
	}
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	ro := filepath.Join(cfg.Dir, "ro")
	if err := os.Mkdir(ro, 0o555); err != nil {
		t.Fatal(err)
	}
	cfg.Components[0].Logs.Dir = ro
	cfg.Components[0].ErrorFile = filepath.Join(ro, "new", "api.err")
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": logs.dir: `+ro+` is not writable: permission denied`,
		`thorp.lua:5: component "api": error_file: `+filepath.Join(ro, "new")+` cannot be created: `+ro+` is not writable`)
}

func TestCheck_BusyPort(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	_, port, _ := net.SplitHostPort(addr)

	cfg := testConfig(t)
	cfg.Settings.HTTP = addr
	cfg.Components[0].Sockets = map[string]string{"web": "tcp://" + addr}
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:1: http: port `+port+` is busy: `+addr+` is already in use by another program`,
		`thorp.lua:5: component "api": sockets.web: `+addr+` is also used by settings.http`)

	cfg.Settings.HTTP = "127.0.0.1:0"
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": sockets.web: port `+port+` is busy: `+addr+` is already in use by another program`)
}

func TestCheck_HeldBySelf(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	cfg := testConfig(t)
	cfg.Settings.HTTP = addr
	var asked []string
	held := func(a string) bool { asked = append(asked, a); return a == addr }
	wantProblems(t, check(t, cfg, Options{HeldBySelf: held}))
	if len(asked) != 1 || asked[0] != addr {
		t.Errorf("HeldBySelf asked %q, want [%q]", asked, addr)
	}
}

func TestCheck_PublicHTTPWithoutToken(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Settings.HTTP = "0.0.0.0:0"
	wantProblems(t, check(t, cfg, Options{}),
		`warning: thorp.lua:1: http: listens on 0.0.0.0:0, beyond loopback, without settings.token: anyone who can reach it can read status and logs (mutations stay disabled)`)
	cfg.Settings.Token = "t"
	wantProblems(t, check(t, cfg, Options{}))
}

func TestCheck_DiskSpace(t *testing.T) {
	fakeFreeSpace(t, 42<<20)
	cfg := testConfig(t)
	wantProblems(t, check(t, cfg, Options{}),
		`warning: thorp.lua:1: logs.dir: only 42 MiB free for logs on the file system of `+cfg.Dir+` (below 100 MiB); rotated logs may not fit`)
}

func TestCheck_User(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Components[0].User = "thorp-no-such-user"
	cfg.Components[0].Group = "thorp-no-such-group"
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": user: no such user "thorp-no-such-user"`,
		`thorp.lua:5: component "api": group: no such group "thorp-no-such-group"`)

	cfg.Components[0].User, cfg.Components[0].Group = "root", ""
	if os.Geteuid() == 0 {
		wantProblems(t, check(t, cfg, Options{}))
		return
	}
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": user: user is set but thorp is not running as root`)
}

func TestCheck_ControlPathTooLong(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	long := filepath.Join(cfg.Dir, strings.Repeat("x", 120), "thorp.sock")
	cfg.Settings.Control = long
	got := check(t, cfg, Options{})
	if len(got) != 1 || !strings.Contains(got[0], "unix socket paths must be at most 107") {
		t.Errorf("problems = %q", got)
	}
}

// TestIdentities_SameAsCheck: the user/group problems `thorp run` refuses on
// (Identities) are exactly those `thorp check` reports, whoever runs thorp.
func TestIdentities_SameAsCheck(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	for _, ug := range [][2]string{
		{"thorp-no-such-user", "thorp-no-such-group"},
		{"root", ""}, {"", "root"}, {"0", "0"}, {"nobody", ""}, {"", ""},
	} {
		cfg := testConfig(t)
		cfg.Components[0].User, cfg.Components[0].Group = ug[0], ug[1]
		var fromCheck []string
		for _, p := range check(t, cfg, Options{}) {
			if strings.Contains(p, ": user: ") || strings.Contains(p, ": group: ") {
				fromCheck = append(fromCheck, p)
			}
		}
		var fromRun []string
		for _, p := range Identities(cfg, "thorp.lua") {
			fromRun = append(fromRun, p.String())
		}
		wantProblems(t, fromRun, fromCheck...)
	}
}

// TestCheck_AllowExec: a program settings.plugins.allow_exec lists that
// cannot run is a warning (thorp runs; its thorp.exec calls fail).
func TestCheck_AllowExec(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	script := filepath.Join(cfg.Dir, "run.sh")
	plain := filepath.Join(cfg.Dir, "plain.sh")
	if err := os.WriteFile(plain, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(cfg.Dir, "missing")
	cfg.Settings.Plugins.AllowExec = []string{script, missing, plain}
	wantProblems(t, check(t, cfg, Options{}),
		`warning: thorp.lua:1: plugins.allow_exec: `+missing+` does not exist; thorp.exec of it will fail`,
		`warning: thorp.lua:1: plugins.allow_exec: `+plain+` is not executable (mode -rw-r--r--); run chmod +x on it; thorp.exec of it will fail`)
}
