package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestImport_Ecosystem_Loads(t *testing.T) {
	out := filepath.Join(t.TempDir(), "thorp.lua")
	src := filepath.Join("importpm2", "testdata", "ecosystem.json")
	_, errOut, code := thorpCmd(t, "import", "pm2", src, "-o", out)
	if code != exitOK {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "log_date_format") {
		t.Errorf("stderr does not list the unconverted key: %s", errOut)
	}
	cfg, script, problems := loadConfigWith(out, "", nil, nil)
	if err := problems.Err(); err != nil {
		t.Fatalf("imported file does not load: %v", err)
	}
	script.Close()
	if len(cfg.Components) != 1 || cfg.Components[0].Name != "thorp-system" {
		t.Errorf("components = %+v", cfg.Components)
	}
	// thorp check parses it; the only errors allowed are about the host (node missing, no such cwd).
	stdout, _, code := thorpCmd(t, "check", "-c", out)
	if code != exitOK {
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if strings.Contains(l, "error") && !strings.Contains(l, "command") && !strings.Contains(l, "cwd") && !strings.Contains(l, "error(s)") {
				t.Errorf("thorp check on the imported file: %s", l)
			}
		}
	}

	_, errOut, code = thorpCmd(t, "import", "pm2", src, "-o", out)
	if code != exitFailed || !strings.Contains(errOut, "--force") {
		t.Errorf("overwrite without --force: exit %d, %s", code, errOut)
	}
	if _, _, code = thorpCmd(t, "import", "--force", "pm2", src, "-o", out); code != exitOK {
		t.Errorf("--force: exit %d", code)
	}
}

func TestImport_Stdout(t *testing.T) {
	src := filepath.Join("importpm2", "testdata", "dump.pm2")
	stdout, _, code := thorpCmd(t, "import", "pm2", src)
	if code != exitOK || !strings.Contains(stdout, `component "api" {`) {
		t.Fatalf("exit %d, stdout:\n%s", code, stdout)
	}
}

func TestImport_Refuses(t *testing.T) {
	dir := t.TempDir()
	js := filepath.Join(dir, "ecosystem.config.js")
	if err := os.WriteFile(js, []byte("module.exports = { apps: [] }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := thorpCmd(t, "import", "pm2", js)
	if code != exitFailed || !strings.Contains(errOut, "JSON.stringify") {
		t.Errorf("js: exit %d, %s", code, errOut)
	}
	if _, _, code := thorpCmd(t, "import", "pm2", filepath.Join(dir, "missing.json")); code != exitFailed {
		t.Errorf("missing file: exit %d, want 1", code)
	}
	for _, args := range [][]string{{"import"}, {"import", "pm2"}, {"import", "forever", js}, {"import", "pm2", js, "extra"}} {
		if _, _, code := thorpCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestImport_Cluster_Proxy imports the case, a 2-instance PM2
// cluster on one port: it becomes a proxy on that port, PORT leaves env
// (thorp sets it for each process), and thorp check accepts the result.
func TestImport_Cluster_Proxy(t *testing.T) {
	dir := t.TempDir()
	port := freeTCPPort(t)
	src := filepath.Join(dir, "ecosystem.json")
	eco := fmt.Sprintf(`{"apps": [{"name": "api", "script": "./server.js", "cwd": %q, "instances": 2, "exec_mode": "cluster",
		"env": {"NODE_ENV": "production", "PORT": %d}}]}`, dir, port)
	if err := os.WriteFile(src, []byte(eco), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "thorp.lua")
	_, errOut, code := thorpCmd(t, "import", "pm2", src, "-o", out)
	if code != exitOK {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	if want := fmt.Sprintf("cluster mode became proxy on port %d", port); !strings.Contains(errOut, want) {
		t.Errorf("stderr does not say %q: %s", want, errOut)
	}
	lua, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"  instances = 2,\n",
		fmt.Sprintf("  proxy = { listen = \"tcp://0.0.0.0:%d\", port_env = \"PORT\" },\n", port),
		"    NODE_ENV = \"production\",\n",
	} {
		if !strings.Contains(string(lua), want) {
			t.Errorf("missing %q in\n%s", want, lua)
		}
	}
	if strings.Contains(string(lua), "    PORT = ") {
		t.Errorf("PORT still in env (thorp sets it for each process):\n%s", lua)
	}
	// The only errors allowed are about the host: node may be missing.
	stdout, _, code := thorpCmd(t, "check", "-c", out)
	if code != exitOK {
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if strings.Contains(l, "error") && !strings.Contains(l, "command") && !strings.Contains(l, "error(s)") {
				t.Errorf("thorp check on the imported cluster: %s", l)
			}
		}
	}
}
