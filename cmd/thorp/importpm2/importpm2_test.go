package importpm2

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/cmd/thorp/importpm2/jseval"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var testNow = time.Date(2025, 1, 2, 15, 4, 5, 0, time.UTC)

// testOpts is a fixed importing host: what a JavaScript file sees.
var testOpts = Options{Now: testNow, Host: jseval.Host{
	Env: map[string]string{"HOME": "/home/deploy", "USER": "deploy", "PATH": "/usr/bin:/bin", "DB_PASSWORD": "from-the-shell"},
	Cwd: "/srv/app", Home: "/home/deploy", Hostname: "web1", CPUs: 4,
}}

// load writes lua to a fresh thorp.lua and loads it with thorp's own loader.
func load(t *testing.T, lua []byte) *config.Config {
	t.Helper()
	path := filepath.Join(t.TempDir(), "thorp.lua")
	if err := os.WriteFile(path, lua, 0o644); err != nil {
		t.Fatal(err)
	}
	raw, script, problems := plugins.Evaluate(path, plugins.Options{})
	if script != nil {
		script.Close()
	}
	cfg, more := config.Decode(raw, nil, nil)
	if err := append(problems, more...).Err(); err != nil || cfg == nil {
		t.Fatalf("generated thorp.lua does not load: %v\n%s", err, lua)
	}
	return cfg
}

func TestConvert_Mapping(t *testing.T) {
	tests := []struct {
		name  string
		app   string   // one ecosystem app, JSON
		want  []string // lines (trimmed) that must appear
		check func(t *testing.T, c config.Component)
		note  string // a substring of some note
	}{
		{name: "node script", app: `{"name":"a","script":"app.js","node_args":"--expose-gc  --x=1","args":"--port 80 'two words'"}`,
			want: []string{`command = { "node", "--expose-gc", "--x=1", "app.js", "--port", "80", "two words" },`}},
		{name: "args list and interpreter", app: `{"name":"a","script":"w.rb","interpreter":"/usr/bin/ruby","interpreter_args":["-w"],"args":["x y"]}`,
			want: []string{`command = { "/usr/bin/ruby", "-w", "w.rb", "x y" },`}},
		{name: "python", app: `{"name":"a","script":"w.py"}`,
			want: []string{`command = { "python3", "w.py" },`, `PYTHONUNBUFFERED = "1",`}},
		{name: "shell", app: `{"name":"a","script":"run.sh"}`, want: []string{`command = { "bash", "run.sh" },`}},
		{name: "interpreter none", app: `{"name":"a","script":"./bin/server","interpreter":"none","node_args":"-x"}`,
			want: []string{`command = { "./bin/server" },`}},
		{name: "binary", app: `{"name":"a","script":"/usr/bin/redis-server","args":["--port","6379"]}`,
			want: []string{`command = { "/usr/bin/redis-server", "--port", "6379" },`}},
		{name: "script with a space", app: `{"name":"a","script":"npm run start","args":["it's"]}`,
			want: []string{`command = "npm run start 'it'\\''s'", -- run with /bin/sh -c, as PM2 ran it with bash -c`}},
		{name: "camelCase and aliases", app: `{"name":"a","exec":"x.js","maxMemoryRestart":"1G","killTimeout":1600,"cron":"@daily","output":"o.log","err":"e.log"}`,
			want: []string{`max_memory_restart = "1G",`, `kill_timeout = "1600ms",`, `cron_restart = "@daily",`, `log_file = "o.log",`, `error_file = "e.log",`}},
		{name: "name sanitised", app: `{"name":"my app.v2","script":"x.js"}`,
			want: []string{`component "my-app-v2" {`}, note: "renamed"},
		{name: "name from script", app: `{"script":"./srv/worker.js"}`, want: []string{`component "worker" {`}},
		{name: "env sorted and stringified", app: `{"name":"a","script":"x","env":{"B":1,"A":"x\ny","c-d":true},"env_production":{"X":"1"}}`,
			want: []string{`A = "x\ny",`, `B = "1",`, `["c-d"] = "true",`, `env_production = {`, `X = "1",`}, note: "env profiles production",
			check: func(t *testing.T, c config.Component) {
				if c.Env["A"] != "x\ny" || c.Env["B"] != "1" || c.Env["c-d"] != "true" {
					t.Errorf("env = %v", c.Env)
				}
				if p := c.EnvProfiles["production"]; len(p) != 1 || p["X"] != "1" {
					t.Errorf("env profiles = %v", c.EnvProfiles)
				}
			}},
		{name: "instances max", app: `{"name":"a","script":"x","instances":"max"}`, want: []string{`instances = "max", -- pm2 "max": one per CPU, counted when thorp starts`}},
		{name: "instances 0", app: `{"name":"a","script":"x","instances":0}`, want: []string{`instances = "max", -- pm2 0: one per CPU, counted when thorp starts`}},
		// -1 is resolved where thorp runs, never frozen to the importing host's CPUs (testOpts has 4).
		{name: "instances -1", app: `{"name":"a","script":"x","instances":-1}`, note: `instances -1 became "max"`,
			want: []string{`instances = "max", -- pm2 -1: one per CPU, counted when thorp starts`, `-- pm2 instances = -1 left 1 CPU(s) spare; "max" leaves none: write a number to keep them`}},
		{name: "instances -2", app: `{"name":"a","script":"x","instances":-2}`, want: []string{`instances = "max", -- pm2 -2: one per CPU, counted when thorp starts`}},
		{name: "interpreter node@version", app: `{"name":"a","script":"x.js","interpreter":"node@14.15.5","interpreter_args":"--harmony"}`,
			want: []string{`command = { "node", "--harmony", "x.js" },`, `-- pm2 interpreter "node@14.15.5" ran node 14.15.5 as nvm installed it (~/.nvm/versions/node/v14.15.5/bin/node);`},
			note: `interpreter "node@14.15.5" became the node on PATH`},
		{name: "cluster with PORT", app: `{"name":"a","script":"x.js","instances":2,"exec_mode":"cluster","env":{"PORT":3000,"NODE_ENV":"production"}}`,
			want: []string{`instances = 2,`, `proxy = { listen = "tcp://0.0.0.0:3000", port_env = "PORT" },`,
				`-- pm2 PORT = "3000" is the proxy's port (see proxy): thorp sets PORT for each process`, `NODE_ENV = "production",`},
			note: "cluster mode became proxy on port 3000",
			check: func(t *testing.T, c config.Component) {
				if c.Proxy == nil || c.Proxy.Listen != "tcp://0.0.0.0:3000" || c.Proxy.PortEnv != "PORT" {
					t.Errorf("proxy = %+v", c.Proxy)
				}
				if _, set := c.Env["PORT"]; set || c.Env["NODE_ENV"] != "production" {
					t.Errorf("env = %v, want NODE_ENV without PORT (thorp sets it per process)", c.Env)
				}
			}},
		{name: "cluster with a PORT per profile", app: `{"name":"a","script":"x.js","instances":2,"exec_mode":"cluster","env":{"PORT":3000},"env_production":{"PORT":8080,"NODE_ENV":"production"},"env_staging-2":{"PORT":"8081"}}`,
			want: []string{`proxy = { listen = ({ production = "tcp://0.0.0.0:8080", ["staging-2"] = "tcp://0.0.0.0:8081" })[thorp.profile] or "tcp://0.0.0.0:3000", port_env = "PORT" },`,
				`-- pm2 env_production, env_staging-2 set PORT too: the proxy listens on the active env profile's (thorp.profile), else on env's.`},
			note: "cluster mode became proxy on port 3000",
			check: func(t *testing.T, c config.Component) {
				if c.Proxy == nil || c.Proxy.Listen != "tcp://0.0.0.0:3000" || c.EnvProfiles["production"]["PORT"] != "" {
					t.Errorf("without a profile: proxy %+v, profiles %v", c.Proxy, c.EnvProfiles)
				}
			}},
		{name: "cluster with pm2 port", app: `{"name":"a","script":"x.js","instances":3,"exec_mode":"cluster_mode","port":8080}`,
			want: []string{`proxy = { listen = "tcp://0.0.0.0:8080", port_env = "PORT" },`}, note: "proxy on port 8080",
			check: func(t *testing.T, c config.Component) {
				if c.Proxy == nil || c.Env["PORT"] != "" {
					t.Errorf("proxy = %+v, env = %v", c.Proxy, c.Env)
				}
			}},
		{name: "cluster without PORT", app: `{"name":"a","script":"x.js","instances":3,"exec_mode":"cluster"}`,
			want: []string{`instances = 3,`,
				`-- The app's env sets no PORT, so the address clients connect to is unknown: set proxy's listen address, uncomment it, and have the app listen on process.env.PORT.`,
				`-- proxy = { listen = "tcp://0.0.0.0:3000", port_env = "PORT" },`},
			note: "set proxy (see the comment), or the instances all bind one port",
			check: func(t *testing.T, c config.Component) {
				if c.Proxy != nil {
					t.Errorf("proxy = %+v, want none (commented out)", c.Proxy)
				}
			}},
		{name: "cluster PORT in a profile", app: `{"name":"a","script":"x.js","instances":2,"exec_mode":"cluster","env_production":{"PORT":"4000","X":"1"}}`,
			want: []string{`-- proxy = { listen = "tcp://0.0.0.0:4000", port_env = "PORT" },`, `X = "1",`,
				`-- pm2 env_production sets PORT = "4000", left out: thorp sets PORT for each process and the port is proxy's listen address`},
			note: "set proxy"},
		{name: "cluster PORT not a port", app: `{"name":"a","script":"x.js","instances":2,"exec_mode":"cluster","env":{"PORT":"/run/app.sock"}}`,
			want: []string{`-- The app's PORT "/run/app.sock" is not a TCP port: set proxy's listen address, uncomment it, and have the app listen on process.env.PORT.`}, note: "set proxy"},
		{name: "node instances imply cluster", app: `{"name":"a","script":"x.js","instances":2,"env":{"PORT":"3000"}}`,
			want: []string{`proxy = { listen = "tcp://0.0.0.0:3000", port_env = "PORT" },`}, note: "cluster"},
		{name: "other instances are not cluster", app: `{"name":"a","script":"w.py","instances":2,"env":{"PORT":"3000"}}`,
			want: []string{`PORT = "3000",`},
			check: func(t *testing.T, c config.Component) {
				if c.Proxy != nil || c.Env["PORT"] != "3000" {
					t.Errorf("proxy = %+v, env = %v", c.Proxy, c.Env)
				}
			}},
		{name: "fork mode is not cluster", app: `{"name":"a","script":"x.js","instances":2,"exec_mode":"fork","env":{"PORT":"3000"}}`,
			want: []string{`PORT = "3000",`}},
		{name: "cluster wait ready", app: `{"name":"a","script":"x.js","instances":2,"exec_mode":"cluster","env":{"PORT":"3000"},"wait_ready":true}`,
			want: []string{`-- with proxy, a process is ready (and gets traffic) once its $PORT accepts a connection.`}, note: "proxy"},
		{name: "autorestart false", app: `{"name":"a","script":"x","autorestart":false}`, want: []string{`autorestart = "never",`},
			check: func(t *testing.T, c config.Component) {
				if c.Autorestart != config.AutorestartNever {
					t.Errorf("autorestart = %q", c.Autorestart)
				}
			}},
		{name: "memory", app: `{"name":"a","script":"x","max_memory_restart":"150M"}`, want: []string{`max_memory_restart = "150M",`},
			check: func(t *testing.T, c config.Component) {
				if c.MaxMemoryRestart != 150*1024*1024 {
					t.Errorf("max_memory_restart = %d, want 150 MiB as PM2 means it", c.MaxMemoryRestart)
				}
			}},
		{name: "memory bytes in MiB", app: `{"name":"a","script":"x","max_memory_restart":209715200}`, want: []string{`max_memory_restart = "200M",`}},
		{name: "memory bytes in GiB", app: `{"name":"a","script":"x","max_memory_restart":2147483648}`, want: []string{`max_memory_restart = "2G",`}},
		{name: "memory bytes", app: `{"name":"a","script":"x","max_memory_restart":150000000}`, want: []string{`max_memory_restart = 150000000, -- bytes`}},
		{name: "memory K", app: `{"name":"a","script":"x","max_memory_restart":"512000K"}`, want: []string{`max_memory_restart = "512000K",`}},
		{name: "memory bad", app: `{"name":"a","script":"x","max_memory_restart":"lots"}`,
			want: []string{`-- pm2 key "max_memory_restart" has no thorp equivalent: "lots"`}, note: "not a size"},
		{name: "durations", app: `{"name":"a","script":"x","restart_delay":4000,"min_uptime":"30s","listen_timeout":2500,"kill_timeout":"5000"}`,
			want: []string{`restart_delay = "4s",`, `min_uptime = "30s",`, `listen_timeout = "2500ms",`, `kill_timeout = "5s",`},
			check: func(t *testing.T, c config.Component) {
				if c.RestartDelay != 4*time.Second || c.MinUptime != 30*time.Second || c.ListenTimeout != 2500*time.Millisecond {
					t.Errorf("durations = %v %v %v", c.RestartDelay, c.MinUptime, c.ListenTimeout)
				}
			}},
		{name: "restart delay 0", app: `{"name":"a","script":"x","restart_delay":0}`, want: []string{`restart_delay = "0s",`}},
		{name: "kill timeout 0", app: `{"name":"a","script":"x","kill_timeout":0}`, want: []string{`-- pm2 key "kill_timeout" has no thorp equivalent: 0`}},
		{name: "exp backoff", app: `{"name":"a","script":"x","exp_backoff_restart_delay":100}`,
			want: []string{`restart_delay = "100ms", -- from pm2 exp_backoff_restart_delay (its first delay)`, `exp_backoff_max = "15s", -- PM2's cap`}},
		{name: "max restarts and exit codes", app: `{"name":"a","script":"x","max_restarts":16,"stop_exit_codes":[0,3]}`,
			want: []string{`max_restarts = 16,`, `stop_exit_codes = { 0, 3 },`}},
		{name: "single exit code", app: `{"name":"a","script":"x","stop_exit_codes":2}`, want: []string{`stop_exit_codes = { 2 },`}},
		{name: "cron six fields", app: `{"name":"a","script":"x","cron_restart":"0 30 2 * * *"}`, want: []string{`cron_restart = "30 2 * * *", -- pm2 "0 30 2 * * *": thorp has no seconds field`}},
		{name: "cron bad", app: `{"name":"a","script":"x","cron_restart":"*/5 * * * * * *"}`, note: "cron_restart"},
		{name: "same out and err", app: `{"name":"a","script":"x","out_file":"all.log","error_file":"all.log"}`,
			want: []string{`log_file = "all.log", -- pm2 wrote stdout and stderr to one file`, `merge_logs = true,`}},
		{name: "dev null", app: `{"name":"a","script":"x","out_file":"/dev/null"}`, want: []string{`-- pm2 out_file = /dev/null discarded the output; thorp always keeps logs (bound them with logs = { max_size = …, retain_files = … })`}},
		{name: "pm2 merge_logs", app: `{"name":"a","script":"x","merge_logs":true}`,
			check: func(t *testing.T, c config.Component) {
				if c.MergeLogs {
					t.Error("PM2's merge_logs (instances into one file) became thorp's (stderr into stdout)")
				}
			}},
		{name: "wait ready", app: `{"name":"a","script":"x","wait_ready":true}`, want: []string{`-- ready = "notify",                       -- the app sends READY=1 to $NOTIFY_SOCKET (sd_notify)`}, note: "wait_ready"},
		{name: "watch list", app: `{"name":"a","script":"x","watch":["src","lib"],"ignore_watch":"node_modules","watch_delay":1500}`,
			want: []string{`watch = { paths = { "src", "lib" }, ignore = { "node_modules" }, delay = "1500ms" },`},
			check: func(t *testing.T, c config.Component) {
				if c.Watch == nil || len(c.Watch.Paths) != 2 || !strings.HasSuffix(c.Watch.Paths[1], "/lib") || c.Watch.Delay != 1500*time.Millisecond ||
					!slices.Contains(c.Watch.Ignore, "node_modules") {
					t.Errorf("watch = %+v", c.Watch)
				}
			}},
		{name: "watch true", app: `{"name":"a","script":"x","watch":true,"ignore_watch":["node_modules","logs"]}`,
			want: []string{`watch = { paths = { "." }, ignore = { "node_modules", "logs" } }, -- pm2 watch = true: the app's directory`}},
		{name: "watch globs", app: `{"name":"a","script":"x","watch":["./src/**/*.tsx","src/*.css","*.js","/etc/app/{a,b}.conf","lib"]}`,
			want: []string{`watch = { paths = { "src", ".", "/etc/app", "lib" } },`,
				`-- pm2 watched the glob(s) ["./src/**/*.tsx","src/*.css","*.js","/etc/app/{a,b}.conf"] (chokidar's patterns); thorp watches files and directories,`},
			note: "watch glob(s)"},
		{name: "watch string", app: `{"name":"a","script":"x","watch":"./src","watch_options":{"usePolling":true}}`,
			want: []string{`watch = { paths = { "./src" } },`, `-- pm2 watch_options {"usePolling":true} (chokidar's) have no thorp equivalent`}, note: "watch_options"},
		{name: "autostart false", app: `{"name":"a","script":"x","autostart":false}`,
			want: []string{"autostart = false, -- pm2 autostart = false: defined, started by `thorp start a`"},
			check: func(t *testing.T, c config.Component) {
				if c.Autostart {
					t.Error("autostart is on")
				}
			}},
		{name: "time", app: `{"name":"a","script":"x","time":true}`,
			want: []string{`logs = { timestamps = true },`, `-- pm2 time = true prefixed each line with the time`},
			check: func(t *testing.T, c config.Component) {
				if !c.Logs.Timestamps {
					t.Error("timestamps off")
				}
			}},
		{name: "log date format", app: `{"name":"a","script":"x","log_date_format":"YYYY-MM-DD"}`,
			want: []string{`logs = { timestamps = true },`, `-- pm2 log_date_format "YYYY-MM-DD": thorp's times are RFC 3339 with milliseconds (2006-01-02T15:04:05.000Z07:00), its only format`}},
		{name: "combined log alone", app: `{"name":"a","script":"x","log_file":"/var/log/a.log"}`,
			want: []string{`log_file = "/var/log/a.log", -- pm2 log_file: stdout and stderr combined in one file`, `merge_logs = true,`},
			check: func(t *testing.T, c config.Component) {
				if c.LogFile != "/var/log/a.log" || !c.MergeLogs {
					t.Errorf("log_file %q merge_logs %v", c.LogFile, c.MergeLogs)
				}
			}},
		{name: "combined log besides out and err", app: `{"name":"a","script":"x","out_file":"o.log","error_file":"e.log","log_file":"c.log"}`,
			want: []string{`log_file = "o.log",`, `error_file = "e.log",`, `-- pm2 log_file "c.log" had both streams combined, besides the two files: thorp writes no third file;`},
			note: `pm2 log_file "c.log" (the combined log) is not written`},
		{name: "combined log true", app: `{"name":"a","script":"x","log_file":true}`,
			want: []string{`-- pm2 log_file: PM2 also wrote a combined log of both streams under ~/.pm2/logs;`}},
		{name: "out and err in pm2 dir", app: `{"name":"a","script":"x","out_file":"~/.pm2/logs/a-out.log","error_file":"~/.pm2/logs/a-err.log"}`,
			want: []string{`-- pm2 wrote out_file to ~/.pm2/logs/a-out.log; thorp writes to its own logs directory`}},
		{name: "env profile names", app: `{"name":"a","script":"x","env_staging-eu":{"A":1},"env_Prod":{"B":"2"},"env_bad name":{"C":"3"}}`,
			want: []string{`["env_staging-eu"] = {`, `env_Prod = {`, `-- pm2 key "env_bad name" has no thorp equivalent: {"C":"3"}`}, note: "env profiles Prod, staging-eu",
			check: func(t *testing.T, c config.Component) {
				if c.EnvProfiles["staging-eu"]["A"] != "1" || c.EnvProfiles["Prod"]["B"] != "2" || len(c.EnvProfiles) != 2 {
					t.Errorf("env profiles = %v", c.EnvProfiles)
				}
			}},
		{name: "script without extension", app: `{"name":"a","script":"./bin/www"}`,
			want: []string{`command = { "./bin/www" },`, `-- if it is JavaScript without a #! line (like Express's bin/www), write command = { "node", "./bin/www" }`}, note: "no extension"},
		{name: "node args with a shell command", app: `{"name":"a","script":"npm run start","node_args":"--max-old-space-size=512"}`,
			want: []string{`-- pm2 node_args ["--max-old-space-size=512"] dropped: the command runs with /bin/sh -c, not an interpreter (NODE_OPTIONS in env can carry them to node)`}, note: "node_args"},
		{name: "watch false is silent", app: `{"name":"a","script":"x","watch":false}`},
		{name: "user group", app: `{"name":"a","script":"x","user":"www","gid":33}`, want: []string{`user = "www",`, `group = "33",`}},
		{name: "port", app: `{"name":"a","script":"x","port":8080}`, want: []string{`PORT = "8080",`}},
		{name: "unknown key", app: `{"name":"a","script":"x","increment_var":"PORT\n-- injected"}`,
			want: []string{`-- pm2 key "increment_var" has no thorp equivalent: "PORT\n-- injected"`}, note: "increment_var"},
		{name: "default values are dropped", app: `{"name":"a","script":"x","treekill":true,"namespace":"default"}`},
		{name: "no script", app: `{"name":"a","cwd":"/srv"}`, want: []string{`command = "false", -- pm2 app has no script: fill in the command`}, note: "no script"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lua, notes, err := Convert([]byte(`{"apps":[`+tt.app+`]}`), "ecosystem.json", testOpts)
			if err != nil {
				t.Fatal(err)
			}
			lines := map[string]bool{}
			for _, l := range strings.Split(string(lua), "\n") {
				lines[strings.TrimSpace(l)] = true
			}
			for _, w := range tt.want {
				if !lines[w] {
					t.Errorf("missing line %s in\n%s", w, lua)
				}
			}
			joined := strings.Join(notes, "\n")
			if tt.note != "" && !strings.Contains(joined, tt.note) {
				t.Errorf("notes %q do not mention %q", notes, tt.note)
			}
			if tt.note == "" && strings.Contains(joined, "no thorp equivalent") {
				t.Errorf("unexpected notes %q\n%s", notes, lua)
			}
			cfg := load(t, lua)
			if len(cfg.Components) != 1 {
				t.Fatalf("%d components, want 1", len(cfg.Components))
			}
			if tt.check != nil {
				tt.check(t, cfg.Components[0])
			}
		})
	}
}

func TestConvert_Golden(t *testing.T) {
	for _, name := range []string{"ecosystem.json", "dump.pm2", "cluster.json", "dump-pm2-7.pm2"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			lua, _, err := Convert(data, name, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", name+".golden")
			if *update {
				if err := os.WriteFile(golden, lua, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update)", err)
			}
			if string(lua) != string(want) {
				t.Errorf("output differs from %s (go test -update rewrites it):\n%s", golden, lua)
			}
			load(t, lua)
		})
	}
}

func TestConvert_Seed(t *testing.T) {
	data, err := os.ReadFile("testdata/ecosystem.json")
	if err != nil {
		t.Fatal(err)
	}
	lua, _, err := Convert(data, "ecosystem.json", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	c := load(t, lua).Components[0]
	if c.Name != "thorp-system" || c.MaxMemoryRestart != 150<<20 || c.RestartDelay != 4*time.Second ||
		c.KillTimeout != 5*time.Second || c.MinUptime != 30*time.Second || c.MaxRestarts != 10 ||
		c.CronRestart != "0 3 * * *" || c.Autorestart != config.AutorestartAlways {
		t.Errorf("seed app converted wrongly: %+v", c)
	}
	want := []string{"node", "--expose-gc", "--max-old-space-size=200", "./system-main.js"}
	if strings.Join(c.Command.Argv, "|") != strings.Join(want, "|") {
		t.Errorf("argv = %q, want %q", c.Command.Argv, want)
	}
}

func TestConvert_Dump(t *testing.T) {
	data, err := os.ReadFile("testdata/dump.pm2")
	if err != nil {
		t.Fatal(err)
	}
	lua, notes, err := Convert(data, "/home/deploy/.pm2/dump.pm2", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := load(t, lua)
	if len(cfg.Components) != 2 {
		t.Fatalf("%d components, want 2 (one per PM2 app, not per cluster worker):\n%s", len(cfg.Components), lua)
	}
	api := cfg.Components[0]
	if api.Name != "api" || api.Instances != 2 || api.Env["PATH"] != "" || api.Env["API_KEY"] != `s3cr"t` || api.MaxMemoryRestart != 400<<20 {
		t.Errorf("api converted wrongly: %+v", api)
	}
	if strings.Contains(string(lua), "pm_uptime") || strings.Contains(string(lua), "node_version") {
		t.Errorf("runtime state leaked into the config:\n%s", lua)
	}
	if !strings.Contains(strings.Join(notes, "\n"), "renamed") {
		t.Errorf("notes %q do not mention the renamed worker.py", notes)
	}
}

// TestConvert_DumpPM2v7 converts the dump.pm2 that `pm2 save` of PM2 7.0.4
// wrote after `pm2 start ecosystem.config.js --env production` of a cluster
// of two (web), a python worker with a combined log_file and a watched bash
// job (paths and the login shell's variables trimmed). PM2 7 keeps no
// instances, pm_id or out_file there: one entry per process, each with its
// "-ID" log files, its whole environment and PM2_HOME.
func TestConvert_DumpPM2v7(t *testing.T) {
	data, err := os.ReadFile("testdata/dump-pm2-7.pm2")
	if err != nil {
		t.Fatal(err)
	}
	lua, notes, err := Convert(data, "/home/deploy/.pm2-shop/dump.pm2", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	cfg := load(t, lua)
	if len(cfg.Components) != 3 {
		t.Fatalf("%d components, want web, worker, job:\n%s", len(cfg.Components), lua)
	}
	web, worker, job := cfg.Components[0], cfg.Components[1], cfg.Components[2]
	if web.Instances != 2 || web.Proxy == nil || web.Proxy.Listen != "tcp://0.0.0.0:39518" || web.MaxMemoryRestart != 200<<20 ||
		web.LogFile != "/srv/shop/logs/web-out.log" || web.ErrorFile != "/srv/shop/logs/web-err.log" || !web.Logs.Timestamps {
		t.Errorf("web: %+v", web)
	}
	// The app's variables stay; the login shell's, PM2's and those equal to this shell's go.
	if want := map[string]string{"NODE_ENV": "production", "API_TOKEN": "s3cret", "SSL_CERT_FILE": "/etc/ssl/certs/ca-certificates.crt"}; fmt.Sprint(web.Env) != fmt.Sprint(want) {
		t.Errorf("web env = %v, want %v", web.Env, want)
	}
	if web.EnvProfiles["production"]["NODE_ENV"] != "production" {
		t.Errorf("web env profiles = %v", web.EnvProfiles)
	}
	// PM2 wrote stdout and stderr to its own directory and both to log_file: the one file to keep.
	if worker.LogFile != "/srv/shop/logs/worker.log" || !worker.MergeLogs || worker.ErrorFile != "" ||
		!slices.Equal(worker.Command.Argv, []string{"python3", "/srv/shop/worker.py", "--queue", "high priority"}) {
		t.Errorf("worker: %+v", worker)
	}
	if job.LogFile != "" || job.Watch == nil || !slices.Equal(job.Command.Argv, []string{"bash", "/srv/shop/job.sh", "--mode", "a b"}) {
		t.Errorf("job: %+v", job)
	}
	wantLines(t, string(lua), "-- pm2 wrote out_file to /home/deploy/.pm2-shop/logs/job-out.log; thorp writes to its own logs directory")
	if strings.Contains(string(lua), "pm_cwd") || strings.Contains(strings.Join(notes, "\n"), "no thorp equivalent") {
		t.Errorf("dump.pm2's own keys reported as having no equivalent: %q\n%s", notes, lua)
	}
	// One process without merge_logs: PM2 still put its pm_id before ".log".
	one := `[{"name":"a","pm_exec_path":"/srv/a/a.js","exec_mode":"cluster_mode","pm_out_log_path":"/srv/a/logs/a-out-0.log","pm_err_log_path":"/srv/a/logs/a-err-0.log"}]`
	lua, _, err = Convert([]byte(one), "dump.pm2", testOpts)
	if err != nil {
		t.Fatal(err)
	}
	if c := load(t, lua).Components[0]; c.LogFile != "/srv/a/logs/a-out.log" || c.ErrorFile != "/srv/a/logs/a-err.log" {
		t.Errorf("one process: log_file %q, error_file %q, want PM2's -0 gone", c.LogFile, c.ErrorFile)
	}
}

func TestConvert_Refuses(t *testing.T) {
	tests := []struct {
		source, data string
		want         []string
	}{
		{"dump.pm2", `[{"name": `, []string{"dump.pm2: not JSON: ", "JavaScript (.js, .cjs, .mjs), JSON (comments allowed), YAML and dump.pm2"}},
		{"e.json", `{"deploy": {}}`, []string{`e.json: no "apps" list`}},
		{"e.json", `[1]`, []string{"e.json: app 1 is not an object"}},
		{"e.json", `"x"`, []string{"e.json: want an object"}},
		{"e.json", `{} {}`, []string{"e.json:1:4: SyntaxError: "}},
		{"cfg", `nonsense`, []string{"cfg: not JSON"}},
		{"ecosystem.config.js", `module.exports = 5`, []string{"ecosystem.config.js: want an object"}},
	}
	for _, tt := range tests {
		_, _, err := Convert([]byte(tt.data), tt.source, testOpts)
		if err == nil {
			t.Errorf("%s: no error", tt.source)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", tt.source, err, w)
			}
		}
	}
}

// TestConvert_EveryFormat reads one app written in each format PM2 takes
// and expects the same component from all of them.
func TestConvert_EveryFormat(t *testing.T) {
	files := map[string]string{
		"ecosystem.json":       `{"apps": [{"name": "api", "script": "server.js", "instances": 2, "env_production": {"NODE_ENV": "production"}}]}`,
		"ecosystem5.json":      "// comments\n{ apps: [ { name: 'api', script: 'server.js', instances: 2, env_production: { NODE_ENV: 'production', }, }, ], }",
		"ecosystem.json5":      "{ apps: [ { name: 'api', script: 'server.js', instances: 2, env_production: { NODE_ENV: 'production' } } ] }",
		"ecosystem.config.js":  "module.exports = { apps: [ { name: 'api', script: 'server.js', instances: 2, env_production: { NODE_ENV: 'production' } } ] }",
		"ecosystem.config.cjs": "module.exports.apps = [ { name: 'api', script: 'server.js', instances: 1 + 1, env_production: { NODE_ENV: 'production' } } ]",
		"ecosystem.config.mjs": "const prod = { NODE_ENV: 'production' }\nexport default { apps: [ { name: 'api', script: 'server.js', instances: 2, env_production: { ...prod } } ] }",
		"ecosystem.yml":        "apps:\n  - name: api\n    script: server.js\n    instances: 2\n    env_production:\n      NODE_ENV: production\n",
		"process.yaml":         "---\napps:\n  - {name: api, script: server.js, instances: 2, env_production: {NODE_ENV: production}}\n",
	}
	var first string
	for name, data := range files {
		lua, _, err := Convert([]byte(data), name, testOpts)
		if err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		body := string(lua[strings.Index(string(lua), "component "):])
		if first == "" {
			first = body
		} else if body != first {
			t.Errorf("%s converts differently:\n%s\nwant\n%s", name, body, first)
		}
		c := load(t, lua).Components[0]
		if c.Name != "api" || c.Instances != 2 {
			t.Errorf("%s: %+v", name, c)
		}
	}
	if !strings.Contains(first, "env_production = {") {
		t.Errorf("no env profile:\n%s", first)
	}
}

func TestDetectFormat_Cases(t *testing.T) {
	tests := []struct {
		source, data string
		want         Format
	}{
		{"ecosystem.config.js", `{}`, FormatJS},
		{"ecosystem.config.mjs", `export default {}`, FormatJS},
		{"ecosystem.json", `// x` + "\n{}", FormatJSON5},
		{"ecosystem.json5", `{}`, FormatJSON5},
		{"cfg", `{ apps: [] }`, FormatJSON5},
		{"cfg", `exports.apps = []`, FormatJS},
		{"x.cjs", ``, FormatJS},
		{"x.yaml", `{}`, FormatYAML},
		{"x.yml", ``, FormatYAML},
		{"ecosystem.json", `{"apps":[]}`, FormatEcosystem},
		{"apps.json", `[{"script":"x"}]`, FormatEcosystem},
		{"dump.pm2", `[]`, FormatDump},
		{"dump.pm2.bak", `[]`, FormatDump},
		{"saved.json", `[{"pm2_env":{}}]`, FormatDump},
		{"saved.json", `[{"pm_exec_path":"/x"}]`, FormatDump},
		{"cfg", `module.exports = {}`, FormatJS},
		{"cfg", `nonsense`, FormatUnknown},
	}
	for _, tt := range tests {
		if got := DetectFormat(tt.source, []byte(tt.data)); got != tt.want {
			t.Errorf("DetectFormat(%q, %q) = %v, want %v", tt.source, tt.data, got, tt.want)
		}
	}
}

// TestLuaString_RoundTrip feeds awkward strings through the generated file
// and thorp's loader and expects them back byte for byte.
func TestLuaString_RoundTrip(t *testing.T) {
	// No NUL byte: an environment value cannot carry one, so thorp's loader
	// rejects it (TestCheck_EveryBadEnvNameAndNULBytes); "\x01digit1" still
	// tests an escape followed by a digit.
	values := []string{"", `a"b`, `back\slash`, "new\nline", "cr\rtab\t", "nul\x01digit1", "bell\a9", "del\x7f", "ünïcødé ✓", "]]--[[", "\xff\xfe"}
	env := map[string]string{}
	for i, v := range values {
		env["V"+string(rune('A'+i))] = v
	}
	lua := render(header{source: "x\n-- y", kind: "test", date: "d"}, []*component{{name: "a", lines: []line{
		{order: 0, key: "command", value: luaStrings([]string{"x"})},
		{order: 2, key: "env", value: luaStringMap(env), comments: []string{"comment with\nnewline and \r return"}},
	}}})
	got := load(t, lua).Components[0].Env
	for k, v := range env {
		if got[k] != v {
			t.Errorf("%s: got %q, want %q", k, got[k], v)
		}
	}
}

func TestShellSplit_Cases(t *testing.T) {
	tests := map[string][]string{
		``:                    nil,
		`a  b`:                {"a", "b"},
		`--name 'x y' "a\"b"`: {"--name", "x y", `a"b`},
		`a\ b c`:              {"a b", "c"},
		`''`:                  {""},
	}
	for in, want := range tests {
		got := shellSplit(in)
		if strings.Join(got, "|") != strings.Join(want, "|") || len(got) != len(want) {
			t.Errorf("shellSplit(%q) = %q, want %q", in, got, want)
		}
	}
}
