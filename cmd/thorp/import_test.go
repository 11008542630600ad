package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestImport_Ecosystem_Loads(t *testing.T) {
	out := filepath.Join(t.TempDir(), "thorp.lua")
	src := filepath.Join("importpm2", "testdata", "ecosystem.json")
	_, errOut, code := thorpCmd(t, "import", "pm2", src, "-o", out)
	if code != exitOK {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	if !strings.Contains(errOut, "env profiles staging") {
		t.Errorf("stderr does not name the env profile: %s", errOut)
	}
	cfg, problems := readConfig(out, "")
	if err := problems.Err(); err != nil {
		t.Fatalf("imported file does not load: %v", err)
	}
	if len(cfg.Components) != 1 || cfg.Components[0].Name != "thorp-system" {
		t.Errorf("components = %+v", cfg.Components)
	}
	// thorp check parses it; the only errors allowed are about the host (node missing, no such cwd).
	stdout, _, code := thorpCmd(t, "check", "-c", out)
	if code != exitOK {
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if strings.Contains(l, "error") && !hostProblem(l) {
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
	if _, _, code := thorpCmd(t, "import", "pm2", filepath.Join(dir, "missing.json")); code != exitFailed {
		t.Errorf("missing file: exit %d, want 1", code)
	}
	for _, args := range [][]string{{"import"}, {"import", "pm2"}, {"import", "forever", js}, {"import", "pm2", js, "extra"}} {
		if _, _, code := thorpCmd(t, args...); code != exitUsage {
			t.Errorf("%v: exit %d, want 2", args, code)
		}
	}
}

// TestImport_JavaScript imports an ecosystem.config.js that computes its
// apps (require of path and os, process.env, a spread, a template
// literal) the way a PM2 user's file does, and an .mjs with export default.
func TestImport_JavaScript(t *testing.T) {
	dir := t.TempDir()
	t.Setenv("THORP_IMPORT_TEST_DB", "postgres://db/app")
	js := filepath.Join(dir, "ecosystem.config.js")
	src := `const path = require("path");
const os = require("os");
const common = { autorestart: true, max_memory_restart: "150M" };
module.exports = {
  apps: ["api", "worker"].map((name, i) => ({
    ...common,
    name: ` + "`app-${name}`" + `,
    script: path.join(__dirname, name + ".js"),
    args: ["--id", String(i)],
    env: { DATABASE_URL: process.env.THORP_IMPORT_TEST_DB, CPUS: String(os.cpus().length) },
    env_production: { NODE_ENV: "production" },
  })),
};
`
	if err := os.WriteFile(js, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "thorp.lua")
	_, errOut, code := thorpCmd(t, "import", "pm2", js, "-o", out)
	if code != exitOK {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	for _, want := range []string{"THORP_IMPORT_TEST_DB (set in this shell)", "os.cpus().length", "env profiles production"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr does not say %q:\n%s", want, errOut)
		}
	}
	lua, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`component "app-worker" {`,
		fmt.Sprintf(`command = { "node", %q, "--id", "1" },`, filepath.Join(dir, "worker.js")),
		`DATABASE_URL = "postgres://db/app",`,
		`env_production = {`,
		`max_memory_restart = "150M",`,
	} {
		if !strings.Contains(string(lua), want) {
			t.Errorf("missing %q in\n%s", want, lua)
		}
	}

	mjs := filepath.Join(dir, "ecosystem.config.mjs")
	if err := os.WriteFile(mjs, []byte("import path from 'node:path'\nexport default { apps: [{ name: 'web', script: path.basename('/x/web.js') }] }\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, errOut, code := thorpCmd(t, "import", "pm2", mjs)
	if code != exitOK || !strings.Contains(stdout, `command = { "node", "web.js" },`) {
		t.Errorf("mjs: exit %d, %s\n%s", code, errOut, stdout)
	}
}

// TestImport_JavaScriptErrors: a script that reads a file, starts a
// process or throws is refused with its file and line, and nothing is
// written.
func TestImport_JavaScriptErrors(t *testing.T) {
	dir := t.TempDir()
	tests := map[string]struct{ src, want string }{
		"fs.config.js":    {"const fs = require('fs')\nmodule.exports = { apps: [] }", `fs.config.js:1:19: Error: require("fs"): thorp evaluates ecosystem files without file system, network or process access`},
		"child.config.js": {"\n\nrequire('child_process').execSync('git rev-parse HEAD')", `child.config.js:3:8: Error: require("child_process")`},
		"throw.config.js": {"module.exports = { apps: [] }\nthrow new Error('no branch config')", `throw.config.js:2:7: Error: no branch config`},
		"comma.json":      {"{\n  \"apps\": [\n    {\"script\": \"a.js\"}\n    {\"script\": \"b.js\"}\n  ]\n}", `comma.json:4:5: SyntaxError:`},
	}
	for name, tt := range tests {
		src := filepath.Join(dir, name)
		if err := os.WriteFile(src, []byte(tt.src), 0o644); err != nil {
			t.Fatal(err)
		}
		out := filepath.Join(dir, name+".lua")
		_, errOut, code := thorpCmd(t, "import", "pm2", src, "-o", out)
		if code != exitFailed || !strings.Contains(errOut, tt.want) {
			t.Errorf("%s: exit %d, stderr %q, want exit 1 and %q", name, code, errOut, tt.want)
		}
		if _, err := os.Stat(out); !os.IsNotExist(err) {
			t.Errorf("%s: %s was written (%v)", name, out, err)
		}
	}
}

// TestImport_Shapes_Check imports each real-world shape in
// importpm2/testdata/shapes with the built binary and runs thorp check on
// the result: the only errors allowed are the host's (no node, no cwd).
func TestImport_Shapes_Check(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("importpm2", "testdata", "shapes", "*"))
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, src := range files {
		if strings.HasSuffix(src, ".golden") {
			continue
		}
		out := filepath.Join(dir, filepath.Base(src)+".lua")
		if _, errOut, code := thorpCmd(t, "import", "pm2", src, "-o", out); code != exitOK {
			t.Errorf("%s: import exit %d: %s", src, code, errOut)
			continue
		}
		stdout, _, code := thorpCmd(t, "check", "-c", out)
		if code == exitOK {
			continue
		}
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if strings.Contains(l, "error") && !hostProblem(l) {
				t.Errorf("%s: thorp check: %s", filepath.Base(src), l)
			}
		}
	}
}

// hostProblem reports whether a thorp check line is about this host (a
// command, cwd, user, log directory or watched path that is not here, an
// HTTP port another program holds), not the config.
func hostProblem(l string) bool {
	for _, k := range []string{"command", "cwd", "user", "log_file", "error_file", "http: port", "watch.paths", "error(s)"} {
		if strings.Contains(l, k) {
			return true
		}
	}
	return false
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
	// The only errors allowed are about the host: node may be missing, 9615 taken.
	stdout, _, code := thorpCmd(t, "check", "-c", out)
	if code != exitOK {
		for _, l := range strings.Split(strings.TrimSpace(stdout), "\n") {
			if strings.Contains(l, "error") && !hostProblem(l) {
				t.Errorf("thorp check on the imported cluster: %s", l)
			}
		}
	}
}

// TestImport_EnvProfile_Run is the case: an ecosystem.config.js
// with env and env_production, imported and run with --env production.
// The process gets NODE_ENV and PORT of the profile, written by a real
// shell script, and `thorp env` shows the same without running anything.
func TestImport_EnvProfile_Run(t *testing.T) {
	dir := t.TempDir()
	script := filepath.Join(dir, "print-env.sh")
	if err := os.WriteFile(script, []byte("echo \"$NODE_ENV $PORT\" > env.out\nexec sleep 300\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	js := filepath.Join(dir, "ecosystem.config.js")
	src := `// pm2 start ecosystem.config.js --env production
const path = require("path");
module.exports = {
  apps: [{
    name: "api",
    script: path.join(__dirname, "print-env.sh"),
    cwd: __dirname,
    env: { NODE_ENV: "development", PORT: 3000 },
    env_production: { NODE_ENV: "production", PORT: 8080 },
  }],
};
`
	if err := os.WriteFile(js, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	lua, errOut, code := thorpCmd(t, "import", "pm2", js)
	if code != exitOK {
		t.Fatalf("import exit %d: %s", code, errOut)
	}
	cfg := filepath.Join(dir, "thorp.lua")
	if err := os.WriteFile(cfg, []byte("settings { http = \"\" }\n"+lua), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := thorpCmd(t, "env", "api", "--env", "production", "-c", cfg); code != exitOK || out != "NODE_ENV=production\nPORT=8080\n" {
		t.Errorf("thorp env api --env production: exit %d\n%s%s", code, out, errOut)
	}
	startThorpWith(t, cfg, "--env", "production")
	var got string
	waitFor(t, 10*time.Second, "the imported app to write its env", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "env.out"))
		got = strings.TrimSpace(string(b))
		return got != ""
	})
	if got != "production 8080" {
		t.Errorf("the imported app got NODE_ENV PORT = %q, want the production profile", got)
	}
}
