package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// profileConfig has a component that writes the environment it got to a
// file, with a development env and a production profile, and one whose env
// comes from thorp.profile in Lua.
const profileConfig = `settings { http = "" }
component "api" {
  command = { "/bin/sh", "-c", "echo \"$NODE_ENV $PORT $API_TOKEN\" > env.out; exec sleep 300" },
  env = { NODE_ENV = "development", PORT = 3000, API_TOKEN = "s3cret" },
  env_production = { NODE_ENV = "production", PORT = "8080" },
}
component "lua" {
  command = { "/bin/sh", "-c", "echo \"$FROM_LUA\" > lua.out; exec sleep 300" },
  env = { FROM_LUA = thorp.profile or "none" },
}
`

func TestEnvProfiles_RunStatusDescribeEnv(t *testing.T) {
	cfg := writeConfig(t, profileConfig)
	dir := filepath.Dir(cfg)

	// thorp env: the effective environment, secrets masked unless --show.
	out, errOut, code := thorpCmd(t, "env", "api", "-c", cfg)
	if code != exitOK || out != "API_TOKEN=****\nNODE_ENV=development\nPORT=3000\n" {
		t.Errorf("env api: exit %d\n%s%s", code, out, errOut)
	}
	out, _, code = thorpCmd(t, "env", "api", "--show", "--env", "production", "-c", cfg)
	if code != exitOK || out != "API_TOKEN=s3cret\nNODE_ENV=production\nPORT=8080\n" {
		t.Errorf("env api --show --env production: exit %d\n%s", code, out)
	}
	if out, _, _ := thorpCmd(t, "env", "lua", "-c", cfg); out != "FROM_LUA=none\n" {
		t.Errorf("env lua without a profile (thorp.profile is nil):\n%s", out)
	}
	if _, errOut, code := thorpCmd(t, "env", "nope", "-c", cfg); code != exitFailed || !strings.Contains(errOut, `unknown component "nope"`) {
		t.Errorf("env nope: exit %d, %s", code, errOut)
	}
	// A profile no component defines is a warning in check: a typo guard.
	out, _, code = thorpCmd(t, "check", "--env", "prodution", "-c", cfg)
	if code != exitOK || !strings.Contains(out, `warning: `+cfg+`: env profile "prodution" (THORP_ENV or --env) is defined by no component`) {
		t.Errorf("check --env prodution: exit %d\n%s", code, out)
	}

	startThorpWith(t, cfg, "--env", "production")
	readOut := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return strings.TrimSpace(string(b))
	}
	waitFor(t, 10*time.Second, "api and lua to write their env", func() bool { return readOut("env.out") != "" && readOut("lua.out") != "" })
	if got := readOut("env.out"); got != "production 8080 s3cret" {
		t.Errorf("api got env %q, want the production profile over env", got)
	}
	if got := readOut("lua.out"); got != "production" {
		t.Errorf("thorp.profile in Lua = %q", got)
	}

	out, _, code = thorpCmd(t, "status", "-c", cfg)
	if code != exitOK || !strings.HasPrefix(out, "env profile: production\n") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	out, _, _ = thorpCmd(t, "status", "--json", "-c", cfg)
	var st struct {
		Profile string `json:"profile"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || st.Profile != "production" {
		t.Errorf("status --json profile %q (%v)", st.Profile, err)
	}
	out, _, _ = thorpCmd(t, "describe", "api", "-c", cfg)
	if !strings.Contains(out, "\nenv profile:") || !strings.Contains(out, " production (env_production merged over env)\n") {
		t.Errorf("describe api:\n%s", out)
	}
	out, _, _ = thorpCmd(t, "describe", "lua", "-c", cfg)
	if !strings.Contains(out, " production (not defined here: env only)\n") {
		t.Errorf("describe lua:\n%s", out)
	}
	// thorp env without --env shows what the running thorp passes.
	out, _, _ = thorpCmd(t, "env", "api", "-c", cfg)
	if out != "API_TOKEN=****\nNODE_ENV=production\nPORT=8080\n" {
		t.Errorf("env api with a thorp running --env production:\n%s", out)
	}
	// A reload keeps the profile thorp was started with: nothing changed.
	out, errOut, code = thorpCmd(t, "reload-config", "-c", cfg)
	if code != exitOK || !strings.Contains(out, " 0 restarted, 0 updated in place, 2 unchanged") {
		t.Errorf("reload-config: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = thorpCmd(t, "status", "-c", cfg)
	if !strings.HasPrefix(out, "env profile: production\n") {
		t.Errorf("status after reload:\n%s", out)
	}
}

// thorpIn runs the thorp binary in dir with exactly env and returns stdout,
// stderr and the exit code.
func thorpIn(t *testing.T, dir string, env []string, args ...string) (string, string, int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, thorpBin, args...)
	cmd.Dir, cmd.Env = dir, env
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return out.String(), errb.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("thorp %v: %v", args, err)
	}
	return out.String(), errb.String(), 0
}

func TestConfigDiscovery_FromAnywhere(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "sleeper" { command = "exec sleep 300" }
`)
	startThorpRunning(t, cfg)
	elsewhere, home := t.TempDir(), t.TempDir()
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + home}

	// Nothing to find: every place tried is named, exit 1.
	_, errOut, code := thorpIn(t, elsewhere, env, "status")
	if code != exitFailed || !strings.Contains(errOut, "no config file found; looked at -c FILE (not given), $THORP_CONFIG (not set), ./thorp.lua, ") ||
		!strings.Contains(errOut, "/etc/thorp/thorp.lua") {
		t.Errorf("status with no config anywhere: exit %d\n%s", code, errOut)
	}
	if os.Geteuid() == 0 {
		if !strings.Contains(errOut, "~/.config/thorp/thorp.lua (not for root)") {
			t.Errorf("root: the user config is not said to be skipped:\n%s", errOut)
		}
	} else if !strings.Contains(errOut, filepath.Join(home, ".config", "thorp", "thorp.lua")) {
		t.Errorf("the user config is not among the places tried:\n%s", errOut)
	}

	// $THORP_CONFIG, from any directory, for every command.
	withEnv := append(env, "THORP_CONFIG="+cfg)
	for _, args := range [][]string{{"status"}, {"describe", "sleeper"}, {"logs", "sleeper", "-n", "1"}, {"restart", "sleeper"}, {"check"}} {
		if out, errOut, code := thorpIn(t, elsewhere, withEnv, args...); code != exitOK {
			t.Errorf("%v with THORP_CONFIG from elsewhere: exit %d\n%s%s", args, code, out, errOut)
		}
	}

	// ./thorp.lua in the working directory.
	if out, errOut, code := thorpIn(t, filepath.Dir(cfg), env, "status"); code != exitOK || !strings.Contains(out, "sleeper") {
		t.Errorf("status next to thorp.lua: exit %d\n%s%s", code, out, errOut)
	}

	// ~/.config/thorp/thorp.lua (a non-root user's own thorp).
	if os.Geteuid() != 0 {
		userDir := filepath.Join(home, ".config", "thorp")
		if err := os.MkdirAll(userDir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(cfg, filepath.Join(userDir, "thorp.lua")); err != nil {
			t.Fatal(err)
		}
		if out, errOut, code := thorpIn(t, elsewhere, env, "status"); code != exitOK || !strings.Contains(out, "sleeper") {
			t.Errorf("status with ~/.config/thorp/thorp.lua: exit %d\n%s%s", code, out, errOut)
		}
	}
}

// TestFindConfig checks the order of the places a config is looked for, as
// a user and as root, with real files.
func TestFindConfig(t *testing.T) {
	cwd, home, sys := t.TempDir(), t.TempDir(), t.TempDir()
	t.Chdir(cwd)
	vars := map[string]string{"HOME": home}
	getenv := func(k string) string { return vars[k] }
	system := filepath.Join(sys, "thorp.lua")
	user := filepath.Join(home, ".config", "thorp", "thorp.lua")
	write := func(p string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	find := func(root bool) string {
		p, tried, ok := findConfig(getenv, root, system)
		if !ok {
			return "none: " + strings.Join(tried, ", ")
		}
		return p
	}
	if got, want := find(false), "none: -c FILE (not given), $THORP_CONFIG (not set), ./thorp.lua, "+user+", "+system; got != want {
		t.Errorf("nothing: %q, want %q", got, want)
	}
	write(system)
	if got := find(false); got != system {
		t.Errorf("system only: %q", got)
	}
	write(user)
	if got := find(false); got != user {
		t.Errorf("user over system: %q", got)
	}
	if got := find(true); got != system {
		t.Errorf("root skips the user's config: %q", got)
	}
	vars["XDG_CONFIG_HOME"] = filepath.Join(home, "xdg")
	if got := find(false); got != system {
		t.Errorf("XDG_CONFIG_HOME without thorp/thorp.lua: %q", got)
	}
	delete(vars, "XDG_CONFIG_HOME")
	write(filepath.Join(cwd, "thorp.lua"))
	if got := find(false); got != "thorp.lua" {
		t.Errorf("./thorp.lua first: %q", got)
	}
	vars["THORP_CONFIG"] = "/named/but/missing.lua"
	if got := find(false); got != "/named/but/missing.lua" {
		t.Errorf("THORP_CONFIG wins, even missing: %q", got)
	}
}

func TestEnvProfiles_Up(t *testing.T) {
	cfg := writeConfig(t, profileConfig)
	out, errOut, code := thorpCmd(t, "up", "--env", "production", "-c", cfg)
	if code != exitOK {
		t.Fatalf("thorp up --env production: exit %d\n%s%s", code, out, errOut)
	}
	m := upPID.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("thorp up printed no pid:\n%s", out)
	}
	pid, _ := strconv.Atoi(m[1])
	cleanupThorp(t, cfg, pid)
	if out, _, _ := thorpCmd(t, "status", "-c", cfg); !strings.HasPrefix(out, "env profile: production\n") {
		t.Errorf("status after up --env production:\n%s", out)
	}
	envOut := filepath.Join(filepath.Dir(cfg), "env.out")
	waitFor(t, 10*time.Second, "api to write its env", func() bool {
		b, _ := os.ReadFile(envOut)
		return strings.HasSuffix(string(b), "\n")
	})
	if b, _ := os.ReadFile(envOut); string(b) != "production 8080 s3cret\n" {
		t.Errorf("api got env %q", b)
	}
}

func TestCheck_PortHeldByAnotherThorp(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	first := writeConfig(t, `settings { http = "`+addr+`" }
component "a" { command = "exec sleep 300" }
`)
	r := startThorp(t, first)
	second := writeConfig(t, `settings { http = "`+addr+`" }
component "b" { command = "exec sleep 300" }
`)
	out, _, code := thorpCmd(t, "check", "-c", second)
	_, port, _ := net.SplitHostPort(addr)
	want := fmt.Sprintf("error: %s:1: http: port %s is busy: %s is held by another thorp (pid %d, config %s); give this config an address of its own, or stop that thorp",
		second, port, addr, r.cmd.Process.Pid, first)
	if code != exitFailed || !strings.Contains(out, want) {
		t.Errorf("check of a second config on the same address: exit %d\n%s\nwant a line\n%s", code, out, want)
	}
	// The thorp of the config itself does not make its address busy.
	if out, _, code := thorpCmd(t, "check", "-c", first); code != exitOK {
		t.Errorf("check of the running config: exit %d\n%s", code, out)
	}
}

func TestStartup_EnvProfile(t *testing.T) {
	cfg := writeConfig(t, profileConfig)
	out, errOut, code := runCLI(t, "startup", "--env", "production", "-c", cfg)
	if code != exitOK {
		t.Fatalf("startup --env production: exit %d\n%s", code, errOut)
	}
	if !strings.Contains(out, " run -c "+execArg(cfg)+" --env production\n") {
		t.Errorf("ExecStart lacks --env production:\n%s", out)
	}
	if !strings.Contains(errOut, "startup --install -c "+shellArg(cfg)+" --env production") {
		t.Errorf("the install hint drops --env:\n%s", errOut)
	}
	_, errOut, code = runCLI(t, "startup", "--env", "prodution", "-c", cfg)
	if code != exitOK || !strings.Contains(errOut, `warning: `+cfg+`: env profile "prodution" (THORP_ENV or --env) is defined by no component`) {
		t.Errorf("startup with a misspelt profile: exit %d\n%s", code, errOut)
	}
}
