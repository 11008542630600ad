package main

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

// pm2UserEcosystem is an ecosystem.config.js as a PM2 user writes it: a
// spread of common keys, a cluster of two on the port the shell gives (and
// another in production), args as a list and as a string, the three PM2 log keys, time, a watch
// glob, env and env_production.
const pm2UserEcosystem = `// pm2 start ecosystem.config.js --env production
const path = require('path');
const common = { max_memory_restart: '200M', time: true };

module.exports = {
  apps: [
    {
      ...common,
      name: 'web',
      script: 'web.sh',
      interpreter: 'bash',
      cwd: __dirname,
      args: ['--mode', 'two words'],
      instances: 2,
      exec_mode: 'cluster',
      out_file: path.join(__dirname, 'logs', 'web-out.log'),
      error_file: path.join(__dirname, 'logs', 'web-err.log'),
      env: { NODE_ENV: 'development', PORT: Number(process.env.THORP_TEST_DEV_PORT), API_TOKEN: 'dev-token' },
      env_production: { NODE_ENV: 'production', PORT: Number(process.env.THORP_TEST_WEB_PORT), API_TOKEN: 's3cret' },
    },
    {
      name: 'worker',
      script: './worker.sh',
      cwd: __dirname,
      args: '--queue "high priority"',
      log_file: './logs/worker.log',
      watch: ['conf/**/*.conf'],
      watch_delay: 200,
      env: { QUEUE: 'dev' },
      env_production: { QUEUE: 'prod' },
    },
  ],
};
`

// TestImport_PM2User_Production is the first hour, end to end with
// the built binary and real processes: thorp import pm2 of an
// ecosystem.config.js, thorp check on the result, thorp run with
// THORP_ENV=production. The processes get the profile's environment and
// their args, the cluster answers on the production PORT through the proxy, the
// logs land where PM2 put them (the combined log_file as one file, time as
// timestamps), a change under the watch glob restarts the worker, and the
// profile shows in status, the API and thorp env, with secrets masked.
func TestImport_PM2User_Production(t *testing.T) {
	dir := t.TempDir()
	devPort, webPort, httpPort := freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)
	t.Setenv("THORP_TEST_DEV_PORT", strconv.Itoa(devPort))
	t.Setenv("THORP_TEST_WEB_PORT", strconv.Itoa(webPort))
	t.Setenv("THORP_HTTP", fmt.Sprintf("127.0.0.1:%d", httpPort))
	files := map[string]string{
		"ecosystem.config.js": pm2UserEcosystem,
		// Each web process records what it got, then is an app that listens on $PORT.
		"web.sh":        fmt.Sprintf("echo \"$NODE_ENV $API_TOKEN $*\" > web-$THORP_INSTANCE.env\necho \"web $THORP_INSTANCE up\"\nexec %s simulate http --port-env PORT\n", shellArg(thorpBin)),
		"worker.sh":     "#!/bin/sh\necho \"worker $QUEUE $*\"\necho 'worker stderr' >&2\nexec sleep 300\n",
		"conf/app.conf": "a=1\n",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o755); err != nil {
			t.Fatal(err)
		}
	}

	cfg := filepath.Join(dir, "thorp.lua")
	_, errOut, code := thorpCmd(t, "import", "pm2", filepath.Join(dir, "ecosystem.config.js"), "-o", cfg)
	if code != exitOK {
		t.Fatalf("import: exit %d\n%s", code, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("app web: cluster mode became proxy on port %d", devPort),
		"env profiles production",
		"THORP_TEST_DEV_PORT, THORP_TEST_WEB_PORT (set in this shell)",
		`app worker: watch glob(s) ["conf/**/*.conf"] became the directories before their wildcards`,
	} {
		if !strings.Contains(errOut, want) {
			t.Errorf("import stderr does not say %q:\n%s", want, errOut)
		}
	}
	if out, _, code := thorpCmd(t, "check", "-c", cfg); code != exitOK {
		t.Fatalf("thorp check on the imported file: exit %d\n%s", code, out)
	}

	t.Setenv("THORP_ENV", "production")
	startThorp(t, cfg)
	read := func(name string) string {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		return string(b)
	}
	waitFor(t, 15*time.Second, "both web processes and the worker to start", func() bool {
		return strings.HasSuffix(read("web-0.env"), "\n") && strings.HasSuffix(read("web-1.env"), "\n") &&
			strings.Contains(read("logs/worker.log"), "worker stderr")
	})
	for i := range 2 {
		if got, want := read(fmt.Sprintf("web-%d.env", i)), "production s3cret --mode two words\n"; got != want {
			t.Errorf("web #%d got NODE_ENV API_TOKEN args %q, want %q", i, got, want)
		}
	}
	// PM2's combined log_file, the only file the worker names: both streams in it.
	if got := read("logs/worker.log"); !strings.Contains(got, "worker prod --queue high priority\n") {
		t.Errorf("logs/worker.log:\n%s", got)
	}
	// out_file is stdout's file, and time = true put a time on each line.
	waitFor(t, 10*time.Second, "the web processes' first lines in logs/web-out.log", func() bool {
		return strings.Count(read("logs/web-out.log"), " up\n") == 2
	})
	stamped := regexp.MustCompile(`(?m)^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\S* web [01] up$`)
	if got := read("logs/web-out.log"); len(stamped.FindAllString(got, -1)) != 2 {
		t.Errorf("logs/web-out.log has no timestamped lines of both processes:\n%s", got)
	}

	// The cluster answers on the production profile's PORT, through thorp's proxy,
	// as pm2 start --env production listened there.
	waitFor(t, 15*time.Second, "both web processes to be running", func() bool {
		st := status(t, cfg)
		return len(st.Components) == 2 && st.Components[0].State == "running" && len(st.Components[0].Instances) == 2
	})
	resp, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/", webPort))
	if err != nil {
		t.Fatalf("GET the cluster's port: %v", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || strings.TrimSpace(string(body)) != "ok" {
		t.Errorf("GET the cluster's port: %d %q", resp.StatusCode, body)
	}

	// The profile everywhere: status, the HTTP API, thorp env (masked, --show).
	if out, _, _ := thorpCmd(t, "status", "-c", cfg); !strings.HasPrefix(out, "env profile: production\n") {
		t.Errorf("status:\n%s", out)
	}
	var info struct {
		Profile string `json:"profile"`
	}
	apiGet(t, httpPort, "/api/v1/info", &info)
	if info.Profile != "production" {
		t.Errorf("/api/v1/info profile = %q", info.Profile)
	}
	var detail struct {
		Config map[string]any `json:"config"`
	}
	apiGet(t, httpPort, "/api/v1/components/web", &detail)
	if got := fmt.Sprint(detail.Config["env_production"]); got != "map[API_TOKEN:(hidden) NODE_ENV:(hidden)]" {
		t.Errorf("/api/v1/components/web env_production over TCP = %s, want the values hidden", got)
	}
	if got := fmt.Sprint(detail.Config["command"]); got != "[bash web.sh --mode two words]" {
		t.Errorf("/api/v1/components/web command = %s", got)
	}
	if out, _, code := thorpCmd(t, "env", "web", "-c", cfg); code != exitOK || out != "API_TOKEN=****\nNODE_ENV=production\n" {
		t.Errorf("thorp env web with THORP_ENV=production: exit %d\n%s", code, out)
	}
	if out, _, _ := thorpCmd(t, "env", "web", "--show", "-c", cfg); out != "API_TOKEN=s3cret\nNODE_ENV=production\n" {
		t.Errorf("thorp env web --show:\n%s", out)
	}

	// A file matching the watch glob changes: the worker restarts, reason watch.
	before := status(t, cfg).Components[1].PID
	if err := os.WriteFile(filepath.Join(dir, "conf", "app.conf"), []byte("a=2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 15*time.Second, "the worker to restart for the watched change", func() bool {
		w := status(t, cfg).Components[1]
		return w.RestartsByReason["watch"] == 1 && w.State == "running" && w.PID != before
	})
}

// TestImport_ScriptArgs: what follows -- is the script's process.argv after
// a "--", as `pm2 start ecosystem.config.js -- --port 3009` gave it; the
// TerriaJS file passes it on as the app's args.
func TestImport_ScriptArgs(t *testing.T) {
	src := filepath.Join("importpm2", "testdata", "shapes", "terriajs-server-argv.config.js")
	out, errOut, code := thorpCmd(t, "import", "pm2", src, "--", "--port", "3009")
	if code != exitOK || !strings.Contains(out, `command = { "node", "lib/app.js", "--port", "3009" },`) {
		t.Errorf("import -- --port 3009: exit %d\n%s%s", code, out, errOut)
	}
	out, _, _ = thorpCmd(t, "import", "pm2", src)
	if !strings.Contains(out, `command = { "node", "lib/app.js" },`) {
		t.Errorf("import without --: args where PM2's argv had none\n%s", out)
	}
}
