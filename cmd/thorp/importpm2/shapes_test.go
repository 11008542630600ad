package importpm2

import (
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

// shapeChecks assert what a user of each real-world shape in
// testdata/shapes notices in the loaded config, beyond its golden text.
var shapeChecks = map[string]func(t *testing.T, cfg *config.Config, lua string){
	"hiuny-cluster.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if !isMax(c) || c.Proxy != nil || c.Env["NODE_ENV"] != "development" || !slices.Equal(c.StopExitCodes, []int{0}) {
			t.Errorf("app: %+v", c)
		}
		if c.EnvProfiles["production"]["NODE_ENV"] != "production" {
			t.Errorf("env profiles = %v", c.EnvProfiles)
		}
	},
	"priyanjali-python.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if !slices.Equal(c.Command.Argv, []string{"python3", "hello.py", "arg1", "arg2"}) || c.Autorestart != config.AutorestartNever ||
			c.Instances != 4 || c.Env["PYTHONUNBUFFERED"] != "1" || c.Env["PORT"] != "5555" {
			t.Errorf("echo-python: %+v", c)
		}
		wantLines(t, lua, `watch = { paths = { "." } }, -- pm2 watch = true: the app's directory`)
		if p := c.EnvProfiles["production"]; p["PORT"] != "5001" || p["ENV"] != "production" {
			t.Errorf("env profiles = %v", c.EnvProfiles)
		}
	},
	"apideligo-esm.config.cjs": func(t *testing.T, cfg *config.Config, lua string) {
		if c := cfg.Components[0]; c.Name != "apideligo" || c.Env["PORT"] != "3000" {
			t.Errorf("app: %+v", c)
		}
	},
	"easestreams-functions.config.cjs": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if c.Name != "e-cms-1" || c.Env["PORT"] != "9000" || !slices.Equal(c.Command.Argv, []string{"node", "--max-old-space-size=1024", "./server.js"}) {
			t.Errorf("app: %+v", c)
		}
	},
	"whatsapp-api-named-export.config.mjs": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if !c.Command.Shell || c.Command.Argv[2] != "npm run start:prod" || c.MaxMemoryRestart != 800<<20 {
			t.Errorf("app: %+v", c)
		}
		wantLines(t, lua, `-- pm2 node_args ["--max-old-space-size=512"] dropped: the command runs with /bin/sh -c, not an interpreter (NODE_OPTIONS in env can carry them to node)`)
	},
	"cvsa-dotenv.config.mjs": func(t *testing.T, cfg *config.Config, lua string) {
		if len(cfg.Components) != 3 || !slices.Equal(cfg.Components[2].Command.Argv, []string{"python3", "start.py"}) {
			t.Errorf("components: %+v", cfg.Components)
		}
		wantLines(t, lua, "-- The script read process.env PYTHON_INTERPRETER (unset here): what it computed from them is written as this shell had them.")
	},
	"degenduel-process-env.config.mjs": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if c.Env["DB_PASS"] != "from-the-shell" || len(c.Env) != 1 || !c.Logs.Timestamps {
			t.Errorf("app: %+v (want DB_PASS from the importing shell and nothing for the unset variables)", c)
		}
	},
	"simpul-chat-bash.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		if c := cfg.Components[0]; !slices.Equal(c.Command.Argv, []string{"bash", "./start.sh"}) || c.Env["port"] != "8006" {
			t.Errorf("app: %+v", c)
		}
	},
	"express-server-no-name.config.cjs": func(t *testing.T, cfg *config.Config, lua string) {
		if cfg.Components[0].Name != "main" || !slices.Equal(cfg.Components[1].Command.Argv, []string{"bash", "./bin/start-apps.sh"}) {
			t.Errorf("components: %+v", cfg.Components)
		}
	},
	"connectflow-logs.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if c.Autorestart != config.AutorestartNever || !strings.HasSuffix(c.LogFile, "logs/out.log") || !strings.HasSuffix(c.ErrorFile, "logs/err.log") ||
			c.MergeLogs || !c.Logs.Timestamps || !slices.Equal(c.StopExitCodes, []int{0}) {
			t.Errorf("app: %+v", c)
		}
		wantLines(t, lua, `-- pm2 log_file "./logs/combined.log" had both streams combined, besides the two files: thorp writes no third file;`)
	},
	"swisstchoukball-env.config.cjs": func(t *testing.T, cfg *config.Config, lua string) {
		if c := cfg.Components[0]; c.Name != "index" || !isMax(c) {
			t.Errorf("app: %+v", c)
		}
	},
	"pm2-examples-process.yml": func(t *testing.T, cfg *config.Config, lua string) {
		if len(cfg.Components) != 3 || !isMax(cfg.Components[0]) || cfg.Components[0].MaxMemoryRestart != 260<<20 ||
			!slices.Equal(cfg.Components[2].Command.Argv, []string{"bash", "apps/connection_check.sh"}) {
			t.Errorf("components: %+v", cfg.Components)
		}
		wantLines(t, lua, `watch = { paths = { "." }, ignore = { "node_modules" } }, -- pm2 watch = true: the app's directory`)
	},
	"vtbs-moe.config.yml": func(t *testing.T, cfg *config.Config, lua string) {
		if cfg.Components[1].Name != "api-vtbs-moe-hawk" || cfg.Components[1].Command.Argv[1] != "--max-old-space-size=8192" {
			t.Errorf("components: %+v", cfg.Components)
		}
	},
	"express-comments.json": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if !isMax(c) || !strings.HasSuffix(c.LogFile, "pm2_express_out.log") || c.Env["NODE_ENV"] != "development" {
			t.Errorf("app: %+v", c)
		}
		wantLines(t, lua, `watch = { paths = { "." } },`, `-- if it is JavaScript without a #! line (like Express's bin/www), write command = { "node", "./bin/www" }`)
	},
	"directus-array-spread.config.cjs": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if !slices.Equal(c.Command.Argv, []string{"node", "cli.js", "start"}) || !isMax(c) || c.Proxy == nil || c.Proxy.Listen != "tcp://0.0.0.0:8055" ||
			c.KillTimeout != 10*time.Second || c.MaxMemoryRestart != 1<<30 || c.Autorestart != config.AutorestartAlways {
			t.Errorf("app: %+v", c)
		}
		wantLines(t, lua, "-- The script read process.env OTEL_ENABLED, PM2_AUTO_RESTART, PM2_EXEC_MODE, PM2_INSTANCES, PM2_KILL_TIMEOUT, PM2_MAX_MEMORY_RESTART, PM2_MIN_UPTIME, PM2_RESTART_DELAY (unset here): what it computed from them is written as this shell had them.")
	},
	"terriajs-server-argv.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if c.Name != "app" || !slices.Equal(c.Command.Argv, []string{"node", "lib/app.js"}) || c.EnvProfiles["production"]["NODE_ENV"] != "production" {
			t.Errorf("app: %+v (want the name of the importing directory, no args: pm2's argv has no --)", c)
		}
	},
	"digirett-venv-logs.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if !slices.Equal(c.Command.Argv, []string{"./venv/bin/python", "src/main.py", "--batch", "64"}) || c.Env["PYTHONUNBUFFERED"] != "" ||
			!strings.HasSuffix(c.LogFile, "logs/pm2-out.log") || !strings.HasSuffix(c.ErrorFile, "logs/pm2-error.log") || c.MergeLogs || !c.Logs.Timestamps {
			t.Errorf("app: %+v", c)
		}
		wantLines(t, lua, `-- pm2 log_file "./logs/pm2-combined.log" had both streams combined, besides the two files: thorp writes no third file;`)
	},
	"philo-watch.config.cjs": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if c.Watch == nil || !slices.Equal(c.Watch.Paths, []string{c.Cwd}) || c.Watch.Delay != time.Second ||
			!slices.Contains(c.Watch.Ignore, "sun*") || !slices.Contains(c.Watch.Ignore, "README.md") ||
			!slices.Equal(c.Command.Argv, []string{"node", "--env-file=.env", "dist/main.js"}) {
			t.Errorf("app: %+v, watch %+v", c, c.Watch)
		}
		wantLines(t, lua, `-- pm2 watch_options {"followSymlinks":false} (chokidar's) have no thorp equivalent`, `-- pm2 top-level key "env" is not converted (thorp has no equivalent).`)
	},
	"wa-bot-node-version.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		c := cfg.Components[0]
		if !slices.Equal(c.Command.Argv, []string{"node", "./index.js", "--update-env"}) || c.Instances != 1 || c.Proxy != nil || c.Autorestart != config.AutorestartNever {
			t.Errorf("app: %+v", c)
		}
		wantLines(t, lua, `-- thorp runs the node on its PATH: write that path in place of "node" to keep the version`)
	},
	"yakima-logs.config.js": func(t *testing.T, cfg *config.Config, lua string) {
		if c := cfg.Components[0]; c.Name != "simple-proxy-8080" || !slices.Equal(c.Command.Argv, []string{"node", "./app.js", "by", "Yakima"}) {
			t.Errorf("app: %+v", c)
		}
	},
}

// isMax reports whether instances = "max" was decoded: one per CPU here.
func isMax(c config.Component) bool {
	return c.Instances == min(runtime.NumCPU(), config.MaxInstances)
}

func wantLines(t *testing.T, lua string, want ...string) {
	t.Helper()
	lines := map[string]bool{}
	for _, l := range strings.Split(lua, "\n") {
		lines[strings.TrimSpace(l)] = true
	}
	for _, w := range want {
		if !lines[w] {
			t.Errorf("missing line %s", w)
		}
	}
}

// TestConvert_Shapes converts every real-world ecosystem file in
// testdata/shapes (each names the public repository it came from) and
// compares the result with its golden file, loads it with thorp's own
// loader, and checks what the user notices.
func TestConvert_Shapes(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "shapes", "*"))
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, path := range files {
		name := filepath.Base(path)
		if strings.HasSuffix(name, ".golden") {
			continue
		}
		seen++
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.SplitN(string(data), "\n", 2)[0], "github.com/") {
				t.Errorf("the first line does not name the public repository the shape came from")
			}
			lua, _, err := Convert(data, name, testOpts)
			if err != nil {
				t.Fatal(err)
			}
			golden := path + ".golden"
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
			cfg := load(t, lua)
			check := shapeChecks[name]
			if check == nil {
				t.Fatalf("no check for %s in shapeChecks", name)
			}
			check(t, cfg, string(lua))
		})
	}
	if seen < 10 {
		t.Errorf("%d real-world shapes, want at least 10", seen)
	}
}

// TestConvert_ShapeErrors converts the ecosystem files in testdata/errors,
// which cannot be evaluated, and expects an error naming file, line and
// cause.
func TestConvert_ShapeErrors(t *testing.T) {
	tests := map[string][]string{
		"eosio-spread-require.config.js":      {"eosio-spread-require.config.js:8:", `require("./pm2.config")`, "without file system"},
		"fluentd-missing-comma.config.js":     {"fluentd-missing-comma.config.js:7:5: SyntaxError: "},
		"branch-child-process.config.js":      {"branch-child-process.config.js:3:", `require("child_process")`},
		"reads-fs.config.js":                  {"reads-fs.config.js:2:", `require("fs")`},
		"throws.config.js":                    {"throws.config.js:7:", "Error: No configuration found for branch: feature"},
		"loops.config.js":                     {"loops.config.js:", "did not finish within 200ms (an endless loop?)"},
		"terriamap-require-resolve.config.js": {"terriamap-require-resolve.config.js:8:", `require.resolve("terriajs-server")`, "without file system access"},
	}
	opts := testOpts
	opts.Host.Timeout = 200e6
	for name, want := range tests {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", "errors", name))
			if err != nil {
				t.Fatal(err)
			}
			_, _, err = Convert(data, filepath.Join("/srv/app", name), opts)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestConvert_YAMLAndJSON5Errors(t *testing.T) {
	tests := []struct {
		source, data string
		want         string
	}{
		{"e.yml", "apps:\n  - name: a\n\t script: x\n", "e.yml:2: found a tab character that violates indentation"},
		{"e.yaml", "", "e.yaml: the YAML file is empty"},
		{"e.yml", "- 1\n", "e.yml: app 1 is not an object"},
		{"e.json", "{\n  apps: [\n    { script: 'a.js' }\n    { script: 'b.js' }\n  ]\n}", "e.json:4:5: SyntaxError: "},
		{"e.json", "// c\n{ apps: [ { script: x } ] }", "e.json:2:21: ReferenceError: x is not defined (read as JSON with comments"},
	}
	for _, tt := range tests {
		_, _, err := Convert([]byte(tt.data), tt.source, testOpts)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s %q: error %v, want %q", tt.source, tt.data, err, tt.want)
		}
	}
}
