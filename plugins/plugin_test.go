package plugins_test

import (
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/plugins"
)

// writeTree writes files (thorp.lua among them, paths relative to one
// temporary directory) and returns thorp.lua's path.
func writeTree(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return filepath.Join(dir, "thorp.lua")
}

// logRecorder collects what Options.Log receives, as "where msg" lines.
type logRecorder struct {
	mu    sync.Mutex
	lines []string
}

func (r *logRecorder) log(level, msg, where string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lines = append(r.lines, where+" "+msg)
}

func (r *logRecorder) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return strings.Join(r.lines, "\n")
}

func TestPlugin_LoadsWithOptions(t *testing.T) {
	path := writeTree(t, map[string]string{
		"thorp.lua": `plugin "slack" { file = "plugins/slack.lua", webhook = "http://hook", channel = "#ops" }
plugin "audit" {}
component "api" { command = "true" }
`,
		"plugins/slack.lua": `local opts, name = ...
local util = require "util.text"
print(name, opts.file, util.shout(opts.webhook), opts.channel)
on("restart", function(ev)
  thorp.log("info", name .. " would post to " .. opts.webhook .. " about " .. ev.component)
end)
`,
		"plugins/audit.lua": `local opts, name = ...
local util = require "util.text"
print(name, next(opts), util.loads)
`,
		"plugins/util/text.lua": `local M = { loads = 0 }
LOADS = (LOADS or 0) + 1
M.loads = LOADS
function M.shout(s) return string.upper(s) end
return M
`,
	})
	rec := &logRecorder{}
	raw, s, ps := evaluate(t, path, plugins.Options{Log: rec.log})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	if s == nil || len(raw.Hooks) != 1 {
		t.Fatalf("hooks %v", raw.Hooks)
	}
	if w := raw.Hooks[0].Func.Where(); w != "plugins/slack.lua:4" {
		t.Errorf("hook at %q", w)
	}
	// The options without file, the name as the second argument, and a
	// module loaded once per state however many require it.
	for _, want := range []string{
		"plugins/slack.lua:3 slack\tnil\tHTTP://HOOK\t#ops",
		"plugins/audit.lua:3 audit\tnil\t1",
	} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, rec)
		}
	}
	// The hooks' state runs the files as first compiled: removing them
	// now changes nothing.
	if err := os.RemoveAll(filepath.Join(filepath.Dir(path), "plugins")); err != nil {
		t.Fatal(err)
	}
	if _, err := raw.Hooks[0].Func.Call(t.Context(), map[string]any{"component": "api"}, 5*time.Second); err != nil {
		t.Fatalf("hook: %v", err)
	}
	if want := "plugins/slack.lua:5 slack would post to http://hook about api"; !strings.Contains(rec.String(), want) {
		t.Errorf("log lacks %q:\n%s", want, rec)
	}
}

func TestPlugin_Problems(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "evil.lua")
	if err := os.WriteFile(outside, []byte("print('escaped')\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	path := writeTree(t, map[string]string{
		"thorp.lua": `plugin "syntax" {}
plugin "boom" { file = "plugins/boom.lua" }
plugin "missing" {}
plugin "outside" { file = "other/x.lua" }
plugin "link" {}
plugin "boom" {}
plugin "bad name" {}
plugin "lonely"
plugin "notable" "x"
plugin "filenum" { file = 3 }
component "api" { command = "true" }
`,
		"plugins/syntax.lua": "local x = \nlocal y = 2\n",
		"plugins/boom.lua":   "local opts = ...\n\nerror('boom: ' .. tostring(opts.nothing))\n",
		"other/x.lua":        "print('x')\n",
	})
	if err := os.Symlink(outside, filepath.Join(filepath.Dir(path), "plugins", "link.lua")); err != nil {
		t.Fatal(err)
	}
	_, s, ps := evaluate(t, path, plugins.Options{})
	if s != nil {
		t.Error("a Script despite problems")
	}
	dir := filepath.Dir(path)
	want := []string{
		dir + `/thorp.lua:3: plugin "missing": no file ` + dir + `/plugins/missing.lua`,
		dir + `/thorp.lua:4: plugin "outside": plugin file outside the plugin path: ` + dir + `/other/x.lua is not in ` + dir + `/plugins (settings.plugins.path)`,
		dir + `/thorp.lua:5: plugin "link": plugin file outside the plugin path: ` + dir + `/plugins/link.lua is not in ` + dir + `/plugins (settings.plugins.path)`,
		dir + `/thorp.lua:6: duplicate plugin "boom", first declared at thorp.lua:2`,
		dir + `/thorp.lua:7: plugin "bad name": invalid name: a name must be 1 to 63 letters, digits, '_' or '-', starting with a letter or digit (it becomes a file name and a metric label)`,
		dir + `/thorp.lua:8: plugin "lonely" has a name but no options; write plugin "lonely" {} to load it`,
		dir + `/thorp.lua:9: plugin "notable": options must be a table, got a string: plugin "notable" { file = "plugins/notable.lua" }`,
		dir + `/thorp.lua:10: plugin "filenum": file must be a path, got a number`,
		dir + `/plugins/boom.lua:3: boom: nil`,
		dir + `/plugins/syntax.lua:2:5: syntax error near 'local'`,
	}
	if got := problemStrings(ps); !slices.Equal(got, want) {
		t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestPlugin_PathFromSettings(t *testing.T) {
	path := writeTree(t, map[string]string{
		"thorp.lua": `settings { plugins = { path = "lib" } }
plugin "x" {}
local m = require "m"
print(m)
`,
		"lib/x.lua": "print('x from lib')\n",
		"lib/m.lua": "return 'm from lib'\n",
	})
	rec := &logRecorder{}
	_, _, ps := evaluate(t, path, plugins.Options{Log: rec.log})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	for _, want := range []string{"lib/x.lua:1 x from lib", "thorp.lua:4 m from lib"} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, rec)
		}
	}
}

func TestRequire_Errors(t *testing.T) {
	outside := filepath.Join(t.TempDir(), "evil.lua")
	if err := os.WriteFile(outside, []byte("return 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, code, want string
	}{
		{"not found", `require "nope.sub"`, `require("nope.sub"): not found: looked for DIR/plugins/nope/sub.lua (settings.plugins.path) and in the stock library (thorp.* names only)`},
		{"stock not found", `require "thorp.policies.nope"`, `require("thorp.policies.nope"): no such module in thorp's stock library (it has thorp.policies.`},
		{"dotdot", `require "../evil"`, `require("../evil"): a module name is dotted words`},
		{"absolute", `require "/etc/passwd"`, `require("/etc/passwd"): a module name is dotted words`},
		{"symlink", `require "link"`, `require("link"): plugin file outside the plugin path: DIR/plugins/link.lua is not in DIR/plugins`},
		{"syntax", `require "broken"`, `require("broken"): DIR/plugins/broken.lua:1:7: syntax error near '='`},
		{"runtime", `require "raises"`, `plugins/raises.lua:2: raised`},
		{"loop", `require "loop"`, `require("loop"): the module requires itself`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeTree(t, map[string]string{
				"thorp.lua":          "\n" + tt.code + "\n",
				"plugins/broken.lua": "local = end\n",
				"plugins/raises.lua": "\nerror('raised')\n",
				"plugins/loop.lua":   "require 'loop2'\n",
				"plugins/loop2.lua":  "require 'loop'\n",
			})
			dir := filepath.Dir(path)
			if err := os.Symlink(outside, filepath.Join(dir, "plugins", "link.lua")); err != nil {
				t.Fatal(err)
			}
			_, _, ps := evaluate(t, path, plugins.Options{})
			got := strings.Join(problemStrings(ps), "\n")
			want := strings.ReplaceAll(tt.want, "DIR", dir)
			if !strings.Contains(got, want) {
				t.Errorf("problems:\n%s\nwant one containing:\n%s", got, want)
			}
		})
	}
}

func TestSandbox_ErrorLevels(t *testing.T) {
	for level, want := range map[int]string{1: "thorp.lua:2: boom", 2: "thorp.lua:5: boom", 3: "thorp.lua:7: boom"} {
		path := writeLua(t, `local function f()
  error("boom", `+strconv.Itoa(level)+`)
end
local function g()
  f()
end
g()
`)
		_, _, ps := evaluate(t, path, plugins.Options{})
		if got := strings.Join(problemStrings(ps), "\n"); !strings.HasSuffix(got, want) {
			t.Errorf("error level %d: %s, want %s", level, got, want)
		}
	}
}

func TestRequire_FromHookAfterLoading(t *testing.T) {
	path := writeTree(t, map[string]string{
		"thorp.lua": `on("start", function(ev)
  local ok, err = pcall(require, "late")
  thorp.log("info", tostring(ok) .. " " .. tostring(err))
  thorp.log("info", type(require "thorp.policies.notify_webhook"))
end)
`,
		"plugins/late.lua": "return 1\n",
	})
	rec := &logRecorder{}
	raw, _, ps := evaluate(t, path, plugins.Options{Log: rec.log})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	if _, err := raw.Hooks[0].Func.Call(t.Context(), nil, 5*time.Second); err != nil {
		t.Fatalf("hook: %v", err)
	}
	for _, want := range []string{"was not required while thorp.lua loaded", "thorp.lua:4 function"} {
		if !strings.Contains(rec.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, rec)
		}
	}
}
