package preflight

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/thorp-dev/thorp/engine/config"
)

func TestCheckScript(t *testing.T) {
	dir := t.TempDir()
	bin := t.TempDir()
	for _, f := range []string{"server.js", "app.py", "artisan", "main.ts", "start.sh", "dist/main.js", "bin/rails"} {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, f)), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(bin, "inpath.sh"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	missing := func(interp, script string) string {
		return interp + "'s script " + script + " does not exist in " + dir
	}
	cases := []struct {
		argv []string
		want string
	}{
		{[]string{"node", "server.js"}, ""},
		{[]string{"node", "nope.js"}, missing("node", "nope.js")},
		{[]string{"/usr/bin/node", "--max-old-space-size=4096", "-r", "dotenv/config", "nope.js"}, missing("node", "nope.js")},
		{[]string{"node", "--require=dotenv/config", "server.js"}, ""},
		{[]string{"node", "dist/main"}, ""}, // node runs dist/main.js
		{[]string{"nodejs", "."}, ""},
		{[]string{"node", "-e", "console.log(1)"}, ""},
		{[]string{"node", "--eval=console.log(1)"}, ""},
		{[]string{"node", "--run", "build"}, ""},
		{[]string{"node"}, ""},
		{[]string{"node", filepath.Join(dir, "gone.js")}, "node's script " + filepath.Join(dir, "gone.js") + " does not exist"},
		{[]string{"python3", "-u", "app.py"}, ""},
		{[]string{"python3.12", "-u", "nope.py"}, missing("python3.12", "nope.py")},
		{[]string{"python", "-m", "http.server"}, ""},
		{[]string{"python", "-mhttp.server"}, ""},
		{[]string{"python", "-uc", "print(1)"}, ""},
		{[]string{"python", "-W", "error", "nope.py"}, missing("python", "nope.py")},
		{[]string{"python", "-Werror", "app.py"}, ""},
		{[]string{"ruby", "-rbundler/setup", "bin/rails", "server"}, ""},
		{[]string{"ruby", "-I", "lib", "nope.rb"}, missing("ruby", "nope.rb")},
		{[]string{"ruby", "-e", "puts 1"}, ""},
		{[]string{"php", "artisan", "queue:work"}, ""},
		{[]string{"php8.2", "-d", "memory_limit=1G", "worker.php"}, missing("php8.2", "worker.php")},
		{[]string{"php", "-S", "0.0.0.0:8000", "-t", "public"}, ""},
		{[]string{"php", "-f", "nope.php"}, missing("php", "nope.php")},
		{[]string{"bun", "run", "start"}, ""}, // a package.json script
		{[]string{"bun", "run", "src/index.ts"}, missing("bun", "src/index.ts")},
		{[]string{"bun", "--hot", "main.ts"}, ""},
		{[]string{"bun", "install"}, ""},
		{[]string{"deno", "run", "-A", "--allow-net=0.0.0.0", "main.ts"}, ""},
		{[]string{"deno", "run", "--config", "deno.json", "nope.ts"}, missing("deno", "nope.ts")},
		{[]string{"deno", "serve", "nope.ts"}, missing("deno", "nope.ts")},
		{[]string{"deno", "task", "start"}, ""},
		{[]string{"deno", "run", "https://deno.land/std/examples/welcome.ts"}, ""},
		{[]string{"deno", "nope.ts"}, missing("deno", "nope.ts")},
		{[]string{"bash", "start.sh"}, ""},
		{[]string{"bash", "-e", "-o", "pipefail", "nope.sh"}, missing("bash", "nope.sh")},
		{[]string{"bash", "-ec", "exit 0"}, ""},
		// Shell command strings: plain words are checked, anything the
		// shell would expand is left to it.
		{[]string{"/bin/sh", "-c", "node nope.js"}, missing("node", "nope.js")},
		{[]string{"/bin/sh", "-c", "exec node  server.js"}, ""},
		{[]string{"/bin/sh", "-c", "exec python3 -u nope.py"}, missing("python3", "nope.py")},
		{[]string{"/bin/sh", "-c", "node $APP"}, ""},
		{[]string{"/bin/sh", "-c", "cd sub && node nope.js"}, ""},
		{[]string{"/bin/sh", "-c", "NODE_ENV=production node nope.js"}, ""},
		{[]string{"sh", "inpath.sh"}, ""}, // bash and sh search PATH
		{[]string{"/usr/bin/env", "NODE_ENV=production", "node", "nope.js"}, missing("node", "nope.js")},
		{[]string{"env", "-C", "/elsewhere", "node", "nope.js"}, ""},
		{[]string{"./run.sh", "nope.js"}, ""}, // not an interpreter
	}
	for _, c := range cases {
		comp := &config.Component{Name: "api", Cwd: dir, Command: config.Command{Argv: c.argv}}
		if len(c.argv) == 3 && c.argv[0] == "/bin/sh" && c.argv[1] == "-c" {
			comp.Command.Shell = true
		}
		if got := checkScript(comp, []string{"PATH=" + bin}); got != c.want {
			t.Errorf("%q: %q, want %q", c.argv, got, c.want)
		}
	}
}

// The script check runs in Check, at the component's line, under command.
func TestCheck_InterpreterScript(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	cfg.Components[0].Command = config.Command{Argv: []string{"sh", "server.sh"}}
	got := check(t, cfg, Options{})
	want := `thorp.lua:5: component "api": command: sh's script server.sh does not exist in ` + cfg.Dir
	if len(got) != 1 || got[0] != want {
		t.Errorf("problems %q, want %q", got, want)
	}
}
