package jseval

import (
	"fmt"
	"maps"
	"net/url"
	"path/filepath"
	"runtime"
	"slices"
	"strings"

	"github.com/dop251/goja"
	"github.com/dop251/goja/parser"
)

// sandbox is one engine with the globals a PM2 ecosystem file may use. It
// records what the script read of the importing machine, for the notes.
type sandbox struct {
	vm    *goja.Runtime
	path  string
	host  Host
	env   *envObject
	facts []string // host facts the script read, as "os.cpus() = 4"
	notes []string
}

func newSandbox(path string, h Host) *sandbox {
	vm := goja.New()
	vm.SetParserOptions(parser.WithDisableSourceMaps) // eval and Function must not read source maps either
	vm.SetMaxCallStackSize(maxCallDepth)
	s := &sandbox{vm: vm, path: path, host: h}
	s.env = &envObject{s: s, vals: maps.Clone(h.Env), read: map[string]bool{}, set: map[string]bool{}}
	if s.env.vals == nil {
		s.env.vals = map[string]string{}
	}
	argv := h.Argv
	if argv == nil {
		argv = []string{"node", "pm2", "start", path}
	}
	process := vm.NewObject()
	must(process.Set("env", vm.NewDynamicObject(s.env)))
	must(process.Set("argv", slices.Clone(argv)))
	must(process.Set("platform", "linux"))
	must(process.Set("cwd", func() string { return s.fact("process.cwd()", h.Cwd) }))
	must(process.Set("exit", func(call goja.FunctionCall) goja.Value {
		panic(s.errorf("called process.exit(%s)", call.Argument(0)))
	}))
	must(vm.Set("process", process))
	noop := func(goja.FunctionCall) goja.Value { return goja.Undefined() }
	console := vm.NewObject()
	for _, m := range []string{"log", "info", "warn", "error", "debug", "trace"} {
		must(console.Set(m, noop))
	}
	must(vm.Set("console", console))
	must(vm.Set("global", vm.GlobalObject()))
	return s
}

// must panics on an error setting up the sandbox: a programmer's bug.
func must(err error) {
	if err != nil {
		panic(err)
	}
}

// errorf makes a JavaScript Error to throw from a Go function.
func (s *sandbox) errorf(format string, args ...any) *goja.Object {
	obj, err := s.vm.New(s.vm.Get("Error"), s.vm.ToValue(fmt.Sprintf(format, args...)))
	must(err)
	return obj
}

// fact records that the script read v from the importing machine.
func (s *sandbox) fact(what, v string) string {
	f := what + " = " + v
	if !slices.Contains(s.facts, f) {
		s.facts = append(s.facts, f)
	}
	return v
}

// requireFunc is the script's require: require itself, and require.resolve,
// which would search the file system and is an error naming the module.
func (s *sandbox) requireFunc() goja.Value {
	req := s.vm.ToValue(s.require).(*goja.Object)
	must(req.Set("resolve", func(call goja.FunctionCall) goja.Value {
		panic(s.errorf("require.resolve(%q): thorp evaluates ecosystem files without file system access, so it finds no installed module; "+
			"write the script's path into the file instead", call.Argument(0).String()))
	}))
	return req
}

// require gives the shims of the Node.js modules an ecosystem file may
// need; any other module is an error naming it.
func (s *sandbox) require(call goja.FunctionCall) goja.Value {
	name := call.Argument(0).String()
	switch strings.TrimPrefix(name, "node:") {
	case "path", "path/posix":
		return s.pathModule()
	case "os":
		return s.osModule()
	case "url":
		return s.urlModule()
	case "dotenv":
		mod := s.vm.NewObject()
		must(mod.Set("config", func(goja.FunctionCall) goja.Value {
			s.dotenv()
			parsed := s.vm.NewObject()
			must(parsed.Set("parsed", s.vm.NewObject()))
			return parsed
		}))
		must(mod.Set("parse", func(goja.FunctionCall) goja.Value { return s.vm.NewObject() }))
		return mod
	case "dotenv/config":
		s.dotenv()
		return s.vm.NewObject()
	}
	panic(s.errorf("require(%q): thorp evaluates ecosystem files without file system, network or process access; "+
		"only \"path\", \"os\", \"url\" and \"dotenv\" (which reads nothing) can be required; write the value into the file instead", name))
}

func (s *sandbox) dotenv() {
	const note = "the script loads a .env file with dotenv, which thorp does not read: process.env is this shell's " +
		"(export the .env variables before importing, e.g. set -a; . ./.env; set +a)"
	if !slices.Contains(s.notes, note) {
		s.notes = append(s.notes, note)
	}
}

func (s *sandbox) arg(call goja.FunctionCall, i int) string {
	v := call.Argument(i)
	if goja.IsUndefined(v) || goja.IsNull(v) {
		return ""
	}
	return v.String()
}

func (s *sandbox) args(call goja.FunctionCall) []string {
	out := make([]string, len(call.Arguments))
	for i := range call.Arguments {
		out[i] = s.arg(call, i)
	}
	return out
}

// resolve is Node's path.resolve against the importing directory.
func (s *sandbox) resolve(parts []string) string {
	cur := s.host.Cwd
	for _, p := range parts {
		switch {
		case p == "":
		case filepath.IsAbs(p):
			cur = p
		default:
			cur = filepath.Join(cur, p)
		}
	}
	return filepath.Clean(cur)
}

// pathModule is Node's path (POSIX), computed without the file system.
func (s *sandbox) pathModule() *goja.Object {
	m := s.vm.NewObject()
	must(m.Set("sep", "/"))
	must(m.Set("delimiter", ":"))
	must(m.Set("join", func(call goja.FunctionCall) goja.Value {
		var parts []string
		for _, p := range s.args(call) {
			if p != "" {
				parts = append(parts, p)
			}
		}
		if len(parts) == 0 {
			return s.vm.ToValue(".")
		}
		return s.vm.ToValue(filepath.Join(parts...))
	}))
	must(m.Set("resolve", func(call goja.FunctionCall) goja.Value { return s.vm.ToValue(s.resolve(s.args(call))) }))
	must(m.Set("normalize", func(call goja.FunctionCall) goja.Value { return s.vm.ToValue(filepath.Clean(s.arg(call, 0))) }))
	must(m.Set("isAbsolute", func(call goja.FunctionCall) goja.Value { return s.vm.ToValue(filepath.IsAbs(s.arg(call, 0))) }))
	must(m.Set("dirname", func(call goja.FunctionCall) goja.Value { return s.vm.ToValue(filepath.Dir(s.arg(call, 0))) }))
	must(m.Set("basename", func(call goja.FunctionCall) goja.Value {
		p := s.arg(call, 0)
		if p == "" {
			return s.vm.ToValue("")
		}
		base := filepath.Base(p)
		if ext := s.arg(call, 1); ext != "" && ext != base {
			base = strings.TrimSuffix(base, ext)
		}
		return s.vm.ToValue(base)
	}))
	must(m.Set("extname", func(call goja.FunctionCall) goja.Value {
		base := filepath.Base(s.arg(call, 0))
		if strings.LastIndexByte(base, '.') <= 0 {
			return s.vm.ToValue("")
		}
		return s.vm.ToValue(filepath.Ext(base))
	}))
	must(m.Set("relative", func(call goja.FunctionCall) goja.Value {
		rel, err := filepath.Rel(s.resolve([]string{s.arg(call, 0)}), s.resolve([]string{s.arg(call, 1)}))
		if err != nil || rel == "." {
			rel = ""
		}
		return s.vm.ToValue(rel)
	}))
	must(m.Set("posix", m))
	return m
}

// osModule is the part of Node's os an ecosystem file uses, from Host.
func (s *sandbox) osModule() *goja.Object {
	m := s.vm.NewObject()
	must(m.Set("EOL", "\n"))
	must(m.Set("cpus", func() []map[string]any {
		s.fact("os.cpus().length", fmt.Sprint(s.host.CPUs))
		cpus := make([]map[string]any, s.host.CPUs)
		for i := range cpus {
			cpus[i] = map[string]any{"model": "cpu", "speed": 0}
		}
		return cpus
	}))
	must(m.Set("availableParallelism", func() int {
		s.fact("os.availableParallelism()", fmt.Sprint(s.host.CPUs))
		return s.host.CPUs
	}))
	must(m.Set("homedir", func() string { return s.fact("os.homedir()", s.host.Home) }))
	must(m.Set("hostname", func() string { return s.fact("os.hostname()", s.host.Hostname) }))
	must(m.Set("platform", func() string { return "linux" }))
	must(m.Set("type", func() string { return "Linux" }))
	must(m.Set("tmpdir", func() string { return "/tmp" }))
	must(m.Set("arch", func() string {
		if runtime.GOARCH == "amd64" {
			return "x64"
		}
		return runtime.GOARCH
	}))
	return m
}

// urlModule has the two functions ES modules use to find their directory.
func (s *sandbox) urlModule() *goja.Object {
	m := s.vm.NewObject()
	must(m.Set("fileURLToPath", func(call goja.FunctionCall) goja.Value {
		v := call.Argument(0)
		raw := v.String()
		if obj, ok := v.(*goja.Object); ok {
			if href := obj.Get("href"); href != nil {
				raw = href.String()
			}
		}
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "file" {
			panic(s.errorf("fileURLToPath(%q): not a file: URL", raw))
		}
		return s.vm.ToValue(u.Path)
	}))
	must(m.Set("pathToFileURL", func(call goja.FunctionCall) goja.Value {
		abs := s.resolve([]string{s.arg(call, 0)})
		u := s.vm.NewObject()
		href := fileURL(abs)
		must(u.Set("href", href))
		must(u.Set("pathname", abs))
		must(u.Set("protocol", "file:"))
		must(u.Set("toString", func() string { return href }))
		return u
	}))
	return m
}

// envObject is process.env: a copy of the importing environment that
// records which variables the script read.
type envObject struct {
	s    *sandbox
	vals map[string]string
	read map[string]bool // names read that the script did not set itself
	set  map[string]bool
}

// envName reports whether key looks like an environment variable name.
func envName(key string) bool {
	for i, r := range key {
		if !(r == '_' || r >= 'A' && r <= 'Z' || r >= 'a' && r <= 'z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return key != ""
}

// objectNames are looked up on any object by the engine or by common code
// (JSON.stringify, hasOwnProperty): not environment reads.
var objectNames = map[string]bool{
	"toJSON": true, "constructor": true, "hasOwnProperty": true, "valueOf": true, "toString": true,
	"isPrototypeOf": true, "propertyIsEnumerable": true, "toLocaleString": true, "__proto__": true, "then": true,
}

func (e *envObject) note(key string) {
	if !e.set[key] && envName(key) && !objectNames[key] {
		e.read[key] = true
	}
}

func (e *envObject) Get(key string) goja.Value {
	e.note(key)
	if v, ok := e.vals[key]; ok {
		return e.s.vm.ToValue(v)
	}
	return nil
}

func (e *envObject) Set(key string, val goja.Value) bool {
	if _, had := e.vals[key]; !had {
		delete(e.read, key) // the engine looks a key up before it assigns it
	}
	e.vals[key] = val.String()
	e.set[key] = true
	return true
}

func (e *envObject) Has(key string) bool {
	e.note(key)
	_, ok := e.vals[key]
	return ok
}

func (e *envObject) Delete(key string) bool {
	delete(e.vals, key)
	e.set[key] = true
	return true
}

func (e *envObject) Keys() []string {
	for k := range e.vals {
		e.note(k)
	}
	return slices.Sorted(maps.Keys(e.vals))
}

// readNotes are the notes on what the script read of the importing machine.
func (s *sandbox) readNotes() []string {
	var out []string
	if len(s.env.read) > 0 {
		var set, unset []string
		for _, k := range slices.Sorted(maps.Keys(s.env.read)) {
			if _, ok := s.host.Env[k]; ok {
				set = append(set, k)
			} else {
				unset = append(unset, k)
			}
		}
		msg := "the script read process.env"
		if len(set) > 0 {
			msg += " " + list(set) + " (set in this shell)"
		}
		if len(unset) > 0 {
			if len(set) > 0 {
				msg += " and"
			}
			msg += " " + list(unset) + " (unset here)"
		}
		out = append(out, msg+": what it computed from them is written as this shell had them")
	}
	if len(s.facts) > 0 {
		msg := "the script read this machine's " + strings.Join(s.facts, ", ") + ": what it computed from them is written as this machine has them"
		if strings.Contains(msg, "os.cpus()") || strings.Contains(msg, "availableParallelism") {
			msg += " (for one instance per CPU where thorp runs, write instances = \"max\")"
		}
		out = append(out, msg)
	}
	return append(out, s.notes...)
}

// list joins names, at most ten of them.
func list(names []string) string {
	if len(names) > 10 {
		return strings.Join(names[:10], ", ") + fmt.Sprintf(" and %d more", len(names)-10)
	}
	return strings.Join(names, ", ")
}
