package jseval

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

var testHost = Host{
	Env: map[string]string{"HOME": "/home/deploy", "PORT": "8080"},
	Cwd: "/srv/app", Home: "/home/deploy", Hostname: "web1", CPUs: 4,
}

// eval runs src as the module at path and decodes what it exports.
func eval(t *testing.T, path, src string) (map[string]any, []string) {
	t.Helper()
	res, err := Module([]byte(src), path, testHost)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var out map[string]any
	if err := json.Unmarshal(res.JSON, &out); err != nil {
		t.Fatalf("%s: exports %s: %v", path, res.JSON, err)
	}
	return out, res.Notes
}

func TestModule_Exports(t *testing.T) {
	tests := []struct {
		name, path, src, want string
	}{
		{"module.exports", "e.js", `module.exports = { apps: [{ script: "a.js" }] }`, `{"apps":[{"script":"a.js"}]}`},
		{"module.exports.apps", "e.js", `module.exports.apps = [{ script: "a.js" }]`, `{"apps":[{"script":"a.js"}]}`},
		{"exports.apps", "e.js", `exports.apps = [{ script: "a.js" }]`, `{"apps":[{"script":"a.js"}]}`},
		{"export default", "e.mjs", "const x = 1\nexport default { apps: [{ script: 'a.js', n: x }] }", `{"apps":[{"n":1,"script":"a.js"}]}`},
		{"export default in .js", "e.js", "export default {\n apps: [] }", `{"apps":[]}`},
		{"export const", "e.mjs", "export const apps = [{ script: 'a.js' }]", `{"apps":[{"script":"a.js"}]}`},
		{"export default wins", "e.mjs", "export const apps = [1]\nexport default { apps: [2] }", `{"apps":[2]}`},
		{"imports", "e.mjs", "import path from 'path'\nimport * as os from 'node:os'\nimport { join as j, basename } from \"path\"\nimport { fileURLToPath } from 'url'\n" +
			"export default { d: path.dirname(fileURLToPath(import.meta.url)), c: os.cpus().length, j: j('a', 'b'), b: basename('/x/y.js', '.js') }",
			`{"b":"y","c":4,"d":"/srv/app/conf","j":"a/b"}`},
		{"functions spreads templates", "e.js", "const base = { autorestart: true }\nconst app = (n, i) => ({ ...base, name: `w-${n}`, PORT: 3000 + i })\n" +
			"module.exports = { apps: ['a', 'b'].map(app) }", `{"apps":[{"PORT":3000,"autorestart":true,"name":"w-a"},{"PORT":3001,"autorestart":true,"name":"w-b"}]}`},
		{"dirname filename", "e.js", "module.exports = { d: __dirname, f: __filename }", `{"d":"/srv/app/conf","f":"/srv/app/conf/e.js"}`},
		{"process", "e.js", "module.exports = { p: process.env.PORT, u: process.env.NOPE, cwd: process.cwd(), argv: process.argv.slice(2) }",
			`{"argv":["start","conf/e.js"],"cwd":"/srv/app","p":"8080"}`},
		{"path", "e.js", "const p = require('path')\nmodule.exports = { r: p.resolve('x', '../y'), ra: p.resolve('/a', 'b'), e: p.extname('a.tar.gz'), h: p.extname('.bashrc'), n: p.normalize('a//b/../c'), rel: p.relative('/a/b', '/a/c/d'), j: p.join() }",
			`{"e":".gz","h":"","j":".","n":"a/c","r":"/srv/app/y","ra":"/a/b","rel":"../c/d"}`},
		{"os", "e.js", "const os = require('os')\nmodule.exports = { h: os.homedir(), n: os.hostname(), p: os.platform() }", `{"h":"/home/deploy","n":"web1","p":"linux"}`},
		{"console is quiet", "e.js", "console.log('hi'); console.error('x')\nmodule.exports = {}", `{}`},
		{"functions are dropped", "e.js", "module.exports = { apps: [], f() {} }", `{"apps":[]}`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := "conf/" + tt.path
			res, err := Module([]byte(tt.src), path, testHost)
			if err != nil {
				t.Fatal(err)
			}
			var got, want any
			if err := json.Unmarshal(res.JSON, &got); err != nil {
				t.Fatal(err)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			g, _ := json.Marshal(got)
			w, _ := json.Marshal(want)
			if string(g) != string(w) {
				t.Errorf("exports %s, want %s", g, w)
			}
		})
	}
}

func TestModule_EnvIsACopy(t *testing.T) {
	h := testHost
	h.Env = map[string]string{"A": "1"}
	if _, err := Module([]byte(`process.env.A = "2"; delete process.env.A; process.env.B = "3"; module.exports = {}`), "e.js", h); err != nil {
		t.Fatal(err)
	}
	if len(h.Env) != 1 || h.Env["A"] != "1" {
		t.Errorf("the script changed the importing environment: %v", h.Env)
	}
}

func TestModule_Notes(t *testing.T) {
	_, notes := eval(t, "e.js", "require('dotenv').config()\nconst os = require('os')\nprocess.env.MINE = 'x'\n"+
		"module.exports = { n: os.cpus().length, h: os.hostname(), p: process.env.PORT, q: process.env.MISSING, m: process.env.MINE, has: Object.prototype.hasOwnProperty.call(process.env, 'X') }")
	joined := strings.Join(notes, "\n")
	for _, want := range []string{
		"process.env PORT (set in this shell) and MISSING, X (unset here)",
		"os.cpus().length = 4", "os.hostname() = web1", `instances = "max"`,
		"dotenv", "set -a; . ./.env; set +a",
	} {
		if !strings.Contains(joined, want) {
			t.Errorf("notes do not say %q:\n%s", want, joined)
		}
	}
	if strings.Contains(joined, "MINE") {
		t.Errorf("a variable the script set itself is noted as read:\n%s", joined)
	}
	if _, notes := eval(t, "e.js", "module.exports = { a: 1 }"); len(notes) != 0 {
		t.Errorf("notes for a script that reads nothing: %q", notes)
	}
}

func TestModule_Errors(t *testing.T) {
	fast := testHost
	fast.Timeout = 200 * time.Millisecond
	small := testHost
	small.MaxMemory = 4 << 20
	small.Timeout = time.Minute
	tests := []struct {
		name string
		h    Host
		src  string
		want []string
	}{
		{"throws", testHost, "const a = 1\n\n  throw new Error('boom')", []string{"e.js:3:9: Error: boom"}},
		{"reference", testHost, "module.exports = { apps: [nope] }", []string{"e.js:1:27: ReferenceError: nope is not defined"}},
		{"syntax", testHost, "module.exports = {\n  a: 1\n  b: 2 }", []string{"e.js:3:3: SyntaxError: "}},
		{"fs", testHost, "\nconst fs = require('fs')", []string{"e.js:2:19: ", `require("fs")`, "file system", `"path", "os", "url"`}},
		{"child_process", testHost, "require('node:child_process').execSync('id')", []string{`e.js:1:8: Error: require("node:child_process")`}},
		{"http", testHost, "require('http')", []string{`require("http")`}},
		{"require.resolve", testHost, "module.exports = {\n  script: require.resolve('terriajs-server') }", []string{`e.js:2:26: Error: require.resolve("terriajs-server")`, "without file system access"}},
		{"no fetch", testHost, "\nfetch('http://127.0.0.1/apps.json')", []string{"e.js:2:", "ReferenceError: fetch is not defined"}},
		{"no XMLHttpRequest", testHost, "new XMLHttpRequest()", []string{"ReferenceError: XMLHttpRequest is not defined"}},
		{"no dynamic import", testHost, "import('fs')", []string{"e.js:1:", "SyntaxError"}},
		{"relative file", testHost, "module.exports = require('./base.config')", []string{`require("./base.config")`}},
		{"loop", fast, "let i = 0\nwhile (true) { i++ }", []string{"e.js:2:", "did not finish within 200ms"}},
		{"recursion", testHost, "function f() { return f() }\nf()", []string{"e.js:1:", "call stack exceeded"}},
		{"memory", small, "const a = []\nwhile (true) a.push('x'.repeat(4096) + a.length)", []string{"e.js:2:", "used more than 4 MiB"}},
		{"exit", testHost, "process.exit(1)", []string{"e.js:1:", "called process.exit(1)"}},
		{"exports nothing", testHost, "module.exports = undefined", []string{"e.js: exports nothing"}},
		{"exports a function", testHost, "module.exports = () => ({ apps: [] })", []string{"e.js: exports a function"}},
		{"no setTimeout", testHost, "setTimeout(() => {}, 1)", []string{"ReferenceError: setTimeout is not defined"}},
		{"no source map read", testHost, "module.exports = {}\n//# sourceMappingURL=/etc/passwd", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Module([]byte(tt.src), "dir/e.js", tt.h)
			if tt.want == nil {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
		})
	}
}

func TestLiteral_JSON5(t *testing.T) {
	src := "// PM2 accepts comments\n{\n  apps: [ /* one */ { name: 'a', \"script\": \"a.js\", instances: +2, x: .5, }, ],\n}\n// end"
	res, err := Literal([]byte(src), "ecosystem.json", testHost)
	if err != nil {
		t.Fatal(err)
	}
	if want := `{"apps":[{"name":"a","script":"a.js","instances":2,"x":0.5}]}`; string(res.JSON) != want {
		t.Errorf("got %s, want %s", res.JSON, want)
	}
	_, err = Literal([]byte("{\n  \"a\": 1\n  \"b\": 2\n}"), "dir/ecosystem.json", testHost)
	if err == nil || !strings.HasPrefix(err.Error(), "ecosystem.json:3:3: SyntaxError: ") {
		t.Errorf("error = %v, want it at ecosystem.json:3:3", err)
	}
}

func TestRewriteESM_KeepsLines(t *testing.T) {
	src := "import a from 'a'\nimport {\n  b,\n  c as d\n} from \"b\"\nimport 'side'\nexport const apps = []\nexport default {\n}\n"
	got := rewriteESM(src, "file:///x.mjs")
	if n, m := strings.Count(src, "\n"), strings.Count(got, "\n"); m != n+1 {
		t.Errorf("%d lines became %d:\n%s", n, m, got)
	}
	for _, want := range []string{"const a = require('a')", "const {\n  b,\n  c: d\n} = require(\"b\")", "require('side')", "const apps = []", "module.exports = {", ";exports.apps = apps;"} {
		if !strings.Contains(got, want) {
			t.Errorf("rewrite lacks %q:\n%s", want, got)
		}
	}
}
