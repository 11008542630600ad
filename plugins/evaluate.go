package plugins

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/knadh/koanf/maps"
	lua "github.com/yuin/gopher-lua"
	"github.com/yuin/gopher-lua/parse"

	"github.com/thorp-dev/thorp/engine/config"
)

// DefaultEvalTimeout bounds the evaluation of a thorp.lua when Options.Timeout is zero.
const DefaultEvalTimeout = 5 * time.Second

// HookEvents are the events on(event, fn) accepts, in the order messages list them.
// Treat it as read-only.
var HookEvents = []string{
	"start", "ready", "exit", "crash", "restart", "stop",
	"errored", "memory", "health", "alert", "reload",
}

// Options configure Evaluate.
type Options struct {
	// Self is thorp's executable path, exposed to Lua as thorp.self.
	Self string
	// Version is thorp's version, exposed to Lua as thorp.version.
	Version string
	// Profile is the active env profile (config.Config.Profile), exposed
	// to Lua as thorp.profile; "" is nil there.
	Profile string
	// Log receives print(), thorp.log and thorp.alert (level
	// "alert") output, with where = "thorp.lua:LINE" of the calling line. It is
	// called from the goroutine running Evaluate and later from the Script's
	// owner goroutine, one call at a time per Script; a Log shared between
	// Evaluate calls (old and new config during a reload) must be safe for
	// concurrent use. Nil discards.
	Log func(level, msg, where string)
	// Timeout bounds the evaluation; zero means DefaultEvalTimeout.
	Timeout time.Duration
	// Host is the running thorp for thorp.status, restart, signal, start,
	// stop and alert; nil where none runs (thorp check), where those
	// functions raise an error.
	Host Host
}

// componentNameRule says config.ValidName in words, for problems.
const componentNameRule = "a name must be 1 to 63 letters, digits, '_' or '-', starting with a letter or digit (it becomes a file name and a metric label)"

// Evaluate runs the thorp.lua at path in a fresh sandboxed Lua state and returns
// what it declared.
//
// Syntax errors, Lua runtime errors and bad calls (a duplicate or badly named
// component, an unknown hook event, a table mixing list items and names, …)
// are returned as problems pointing at path:LINE[:COL], every one that could be
// found: bad calls are recorded and evaluation goes on; a runtime error or the
// time limit ends it.
//
// Raw is nil only when the file could not be read or compiled; otherwise it
// holds everything declared up to any failure, so callers can validate as much
// as possible. Script is non-nil only when there are no problems; the caller
// owns it and must Close it. Evaluate is safe for concurrent use: every call
// has its own Lua state.
func Evaluate(path string, opts Options) (*config.Raw, *Script, config.Problems) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, config.Problems{{
			File:    path,
			Message: fmt.Sprintf("cannot read thorp.lua: %v (check the path given with -c or $THORP_CONFIG)", err),
		}}
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		abs = path
	}
	script := &Script{grants: &grants{}}
	world := script.grants // not script: build must not lead back to it
	lim := newLimits()
	inc := newIncludes()
	e := newEvaluator(path, src, opts, lim, inc)
	e.raw = &config.Raw{File: abs, Name: path}
	e.script = script
	e.grants = world
	// The hooks' Lua globals keep e for the state's life: once evaluation
	// ends, e must not lead to the Script or its functions, or the Script
	// could never become unreachable (see Script).
	raw := e.raw
	defer func() { e.raw, e.script, e.funcs, e.byKey = nil, nil, nil, nil }()

	chunk, err := parse.Parse(bytes.NewReader(skipShebang(src)), e.chunk)
	var proto *lua.FunctionProto
	if err == nil {
		proto, err = lua.Compile(chunk, e.chunk)
	}
	if err != nil {
		return nil, nil, config.Problems{syntaxProblem(e.path, err, src)}
	}
	L := newSandboxState(lim)
	e.install(L)
	if timeout, cause, err := e.runTop(context.Background(), L, proto); err != nil {
		e.problems = append(e.problems, e.runtimeProblem(err, cause, timeout))
	} else {
		for _, p := range e.pending {
			if !p.given {
				e.problemAt(p.pos, p.name, "", `has a name but no body; write component "`+p.name+`" { command = … }`)
			}
		}
		e.unfinishedPlugins()
	}
	inc.frozen = true

	// thorp.lua's problems first, then each included file's, each by line.
	sort.SliceStable(e.problems, func(i, j int) bool {
		a, b := e.problems[i], e.problems[j]
		if (a.File == path) != (b.File == path) {
			return a.File == path
		}
		if a.File != b.File {
			return a.File < b.File
		}
		return a.Line < b.Line
	})
	if len(e.problems.Errors()) > 0 {
		L.Close()
		return raw, nil, e.problems // its functions report ErrClosed
	}
	// Each further state evaluates the same compiled chunk again, quietly.
	build := func(ctx context.Context, role role, timers *timerSet) (*lua.LState, map[funcKey]*lua.LFunction, error) {
		r := newEvaluator(path, src, opts, lim, inc)
		r.raw, r.quiet, r.grants = &config.Raw{}, true, world
		r.role, r.timers = role, timers
		L := newSandboxState(lim)
		r.install(L)
		if timeout, cause, err := r.runTop(ctx, L, proto); err != nil {
			L.Close()
			p := r.runtimeProblem(err, cause, timeout)
			return nil, nil, fmt.Errorf("%s:%d: %s", p.File, p.Line, p.Message)
		}
		fns := r.byKey
		r.raw, r.funcs, r.byKey = nil, nil, nil
		return L, fns, nil
	}
	probes := false
	for ref := range e.funcs {
		probes = probes || ref.role == roleProbe
	}
	script.open(L, e.byKey, probes, len(raw.Hooks) > 0 || e.timersDeclared, e.chunk, lim, build, opts.Log)
	return raw, script, e.problems
}

// newEvaluator returns an evaluator for the thorp.lua at path, read as src,
// whose include() calls go through inc.
func newEvaluator(path string, src []byte, opts Options, lim *limits, inc *includes) *evaluator {
	dir := filepath.Dir(path)
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	return &evaluator{
		path:       path,
		chunk:      filepath.Base(path),
		src:        src,
		opts:       opts,
		lim:        lim,
		dir:        dir,
		inc:        inc,
		included:   map[string]bool{},
		components: map[string]pos{},
		plugins:    map[string]pos{},
		pluginDir:  filepath.Join(dir, defaultPluginDir),
		funcs:      map[funcRef]*Function{},
		keys:       map[*lua.LFunction]funcKey{},
		byKey:      map[funcKey]*lua.LFunction{},
		protoN:     map[*lua.FunctionProto]int{},
		loading:    true,
	}
}

// runTop runs the compiled thorp.lua in L, bounded by ctx, the evaluation's
// time limit and the memory ceiling; cause says why a context ended it.
func (e *evaluator) runTop(ctx context.Context, L *lua.LState, proto *lua.FunctionProto) (timeout time.Duration, cause, err error) {
	timeout = e.opts.Timeout
	if timeout <= 0 {
		timeout = DefaultEvalTimeout
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	err, cause = e.lim.runLimited(ctx, L, func() error {
		L.Push(L.NewFunctionFromProto(proto))
		err := L.PCall(0, 0, nil)
		if err != nil {
			err = errors.New(errorText(L, e.chunk, err))
		}
		return err
	})
	e.loading = false
	return timeout, cause, err
}

// skipShebang blanks a leading "#!" line (keeping its newline so line numbers
// stay right), as the lua command does.
func skipShebang(src []byte) []byte {
	if len(src) == 0 || src[0] != '#' {
		return src
	}
	i := bytes.IndexByte(src, '\n')
	if i < 0 {
		return nil
	}
	return src[i:]
}

// evaluator is the state of one Evaluate call. Its fields are touched only by
// the goroutine running the script (the Evaluate caller, later a Script owner).
type evaluator struct {
	path  string // as the operator gave it, for Problem.File
	chunk string // the file's base name, Lua's chunk name and the prefix of every "where"
	opts  Options

	src []byte // the file's text, for Function.Source

	// dir is thorp.lua's directory, absolute.
	dir string
	// inc are the files include() found and compiled, shared with the
	// evaluations of further states; included are those this evaluation
	// ran, by absolute path.
	inc      *includes
	included map[string]bool

	raw      *config.Raw
	problems config.Problems
	// script is what the functions found are bound to.
	script *Script
	// components maps a declared name to where it was declared.
	components map[string]pos
	// pending are the component "name" calls, to find ones never given a body.
	pending []*pendingComponent
	// plugins maps a declared plugin name to where it was declared, and
	// pendingPlugins are the plugin "name" calls, to find ones never given
	// a body.
	plugins        map[string]pos
	pendingPlugins []*pendingComponent
	// pluginDir is settings.plugins.path as the settings{} calls so far
	// set it, absolute: where plugin files and require() look.
	pluginDir string
	// requiring marks a module in package.loaded while its chunk runs, to
	// catch a module that requires itself.
	requiring *lua.LUserData
	// funcs are the functions found so far, so that one Lua function used
	// twice (in one role) is one Function.
	funcs map[funcRef]*Function
	// keys and byKey are the definition sites of the functions found, and
	// protoN counts the closures found per prototype.
	keys   map[*lua.LFunction]funcKey
	byKey  map[funcKey]*lua.LFunction
	protoN map[*lua.FunctionProto]int
	// lim are the state's bounds; settings{} may set the memory ceiling.
	lim *limits
	// grants are what thorp.http and thorp.exec may reach (Script.Grant).
	grants *grants
	// quiet is true when the file is evaluated again for another state:
	// what it prints or logs while loading was already said.
	quiet bool
	// loading is true while the file's top level runs; the declaration
	// functions refuse to run from hooks afterwards.
	loading bool
	// role is the state this evaluation builds: roleProbe for the first
	// one (thorp check's, and the state of ready, health and
	// memory_policy functions), roleHook for the hooks' state, which alone
	// arms timers (into timers) and may ask the running thorp to act.
	role   role
	timers *timerSet
	// timersDeclared is true when the top level called thorp.every or
	// thorp.after: the Script needs a hooks' state to run them.
	timersDeclared bool
}

// funcRef is a Lua function in one role.
type funcRef struct {
	fn   *lua.LFunction
	role role
}

type pendingComponent struct {
	name  string
	pos   pos
	given bool
}

// pos is a line of thorp.lua or of a file it includes.
type pos struct {
	// chunk is the Lua chunk name: thorp.lua's base name, or an included
	// file's path relative to thorp.lua's directory ("conf.d/web.lua").
	chunk string
	line  int
}

func (p pos) String() string { return p.chunk + ":" + strconv.Itoa(p.line) }

// file is the problem file of chunk: the path as the operator named it
// for thorp.lua, the included file's path next to it for another.
func (e *evaluator) file(chunk string) string {
	if chunk == "" || chunk == e.chunk {
		return e.path
	}
	if stockModules()[chunk] != nil {
		return chunk
	}
	return filepath.Join(filepath.Dir(e.path), chunk)
}

// declaredIn is what config.RawComponent.File holds for chunk.
func (e *evaluator) declaredIn(chunk string) string {
	if chunk == e.chunk {
		return ""
	}
	return chunk
}

func (e *evaluator) problem(line int, component, key, msg string) {
	e.problemAt(pos{e.chunk, line}, component, key, msg)
}

func (e *evaluator) problemAt(p pos, component, key, msg string) {
	e.problems = append(e.problems, config.Problem{
		File: e.file(p.chunk), Line: p.line, Component: component, Key: key, Message: msg,
	})
}

func (e *evaluator) log(level, msg string, at pos) {
	if e.opts.Log != nil && !(e.quiet && e.loading) {
		e.opts.Log(level, msg, at.String())
	}
}

// register binds fn to the Script in role r and returns it as a Function.
// decl is used as its place when fn is not a Lua function (e.g. print).
func (e *evaluator) register(fn *lua.LFunction, decl pos, r role) *Function {
	if f, ok := e.funcs[funcRef{fn, r}]; ok {
		return f
	}
	key, ok := e.keys[fn]
	if !ok {
		key = funcKey{proto: fn.Proto, n: e.protoN[fn.Proto]}
		e.protoN[fn.Proto]++
		e.keys[fn] = key
		e.byKey[key] = fn
	}
	f := &Function{script: e.script, role: r, key: key, where: decl.String()}
	if fn.Proto != nil && fn.Proto.LineDefined > 0 {
		f.where = pos{fn.Proto.SourceName, fn.Proto.LineDefined}.String()
		f.source = sourceLines(e.source(fn.Proto.SourceName), fn.Proto.LineDefined, fn.Proto.LastLineDefined)
	}
	e.funcs[funcRef{fn, r}] = f
	return f
}

// sourceLines returns lines first to last (1-based, inclusive) of src.
func sourceLines(src []byte, first, last int) string {
	lines := strings.SplitAfter(luaLineBreaks.Replace(string(src)), "\n")
	first, last = max(first, 1), min(last, len(lines))
	if first > last {
		return ""
	}
	return strings.Join(lines[first-1:last], "")
}

// luaLineBreaks turns every line break as Lua counts lines (\n, \r, \r\n
// and \n\r each end one) into \n, so that line numbers from the Lua
// compiler and runtime find their lines in the text.
var luaLineBreaks = strings.NewReplacer("\r\n", "\n", "\n\r", "\n", "\r", "\n")

// source is the text of the file run as chunk.
func (e *evaluator) source(chunk string) []byte {
	if chunk == e.chunk {
		return e.src
	}
	if f := stockModules()[chunk]; f != nil {
		return f.src
	}
	for _, f := range e.inc.files {
		if f.chunk == chunk {
			return f.src
		}
	}
	return nil
}

// converter returns a Lua-to-Go converter that registers functions found in a
// declaration made at decl.
func (e *evaluator) converter(decl pos) *luaToConfig {
	return &luaToConfig{fn: func(f *lua.LFunction, _ string) (any, bool) {
		return e.register(f, decl, roleProbe), true
	}}
}

// caller is the current line, and its file, of the nearest Lua function
// on the call stack above the running Go function; line 0 of thorp.lua
// when there is none.
func (e *evaluator) caller(L *lua.LState) pos {
	for level := 1; ; level++ {
		dbg, ok := L.GetStack(level)
		if !ok {
			return pos{e.chunk, 0}
		}
		if _, err := L.GetInfo("Sl", dbg, lua.LNil); err == nil && dbg.CurrentLine > 0 {
			return pos{dbg.Source, dbg.CurrentLine}
		}
	}
}

// install sets the thorp globals: settings, component, on, include, thorp
// and print.
func (e *evaluator) install(L *lua.LState) {
	L.SetGlobal("settings", L.NewFunction(e.luaSettings))
	L.SetGlobal("component", L.NewFunction(e.luaComponent))
	L.SetGlobal("on", L.NewFunction(e.luaOn))
	L.SetGlobal("include", L.NewFunction(e.luaInclude))
	L.SetGlobal("print", L.NewFunction(e.luaPrint))

	t := L.NewTable()
	t.RawSetString("self", lua.LString(e.opts.Self))
	t.RawSetString("version", lua.LString(e.opts.Version))
	if e.opts.Profile != "" {
		t.RawSetString("profile", lua.LString(e.opts.Profile))
	}
	t.RawSetString("log", L.NewFunction(e.luaLog))
	t.RawSetString("alert", L.NewFunction(e.luaAlert))
	t.RawSetString("env", L.NewFunction(luaEnv))
	e.installHost(L, t)
	e.installWorld(L, t)
	L.SetGlobal("thorp", t)
	e.installPlugins(L)
}

// declaring raises a Lua error when a declaration function runs after loading.
func (e *evaluator) declaring(L *lua.LState, name string) {
	if !e.loading {
		L.RaiseError("%s can only be used while thorp.lua loads, not from a hook", name)
	}
}

// luaSettings is settings { ... }.
func (e *evaluator) luaSettings(L *lua.LState) int {
	e.declaring(L, "settings")
	at := e.caller(L)
	line := at.line
	if at.chunk != e.chunk {
		e.problemAt(at, "", "", "settings{} belongs in "+e.chunk+", not in a file it includes")
		return 0
	}
	t, ok := L.Get(1).(*lua.LTable)
	if !ok || L.GetTop() != 1 {
		e.problem(line, "", "", `settings takes one table: settings { http = "127.0.0.1:9615" }`)
		return 0
	}
	c := e.converter(at)
	v, _ := c.table(t, "")
	for _, ve := range c.errs {
		msg := ve.Msg
		if ve.Key == "" {
			msg = "settings: " + msg
		}
		e.problem(line, "", ve.Key, msg)
	}
	if len(c.errs) > 0 {
		return 0
	}
	m, ok := v.(map[string]any)
	if !ok {
		e.problem(line, "", "", `settings takes named keys, not a list: settings { http = "127.0.0.1:9615" }`)
		return 0
	}
	if e.raw.Settings == nil {
		e.raw.Settings = map[string]any{}
		e.raw.SettingsLine = line
	}
	maps.Merge(m, e.raw.Settings) // a later settings{} call wins
	e.setCeiling()
	e.setPluginDir()
	return 0
}

// setCeiling applies settings.plugins.max_memory as soon as it is declared,
// so the rest of the evaluation is bounded by it; a bad value is left to
// engine/config to report.
func (e *evaluator) setCeiling() {
	p, _ := e.raw.Settings["plugins"].(map[string]any)
	var n config.Size
	switch v := p["max_memory"].(type) {
	case string:
		n, _ = config.ParseSize(v)
	case float64:
		n = config.Size(v)
	}
	if n >= config.MinPluginMemory {
		e.lim.ceiling.Store(int64(n))
	}
}

// luaComponent is component "name" (returning the function that takes the
// body), and also accepts component("name", { ... }).
func (e *evaluator) luaComponent(L *lua.LState) int {
	e.declaring(L, "component")
	at := e.caller(L)
	ignore := L.NewFunction(func(*lua.LState) int { return 0 })

	name, ok := L.Get(1).(lua.LString)
	if !ok {
		e.problemAt(at, "", "", `component needs a name before its body: component "api" { command = … }`)
		L.Push(ignore)
		return 1
	}
	n := string(name)
	if !config.ValidName(n) {
		e.problemAt(at, n, "", "invalid name: "+componentNameRule)
		L.Push(ignore)
		return 1
	}
	if first, dup := e.components[n]; dup {
		e.problemAt(at, "", "", fmt.Sprintf("duplicate component %q, first declared at %s", n, first))
		L.Push(ignore)
		return 1
	}
	e.components[n] = at
	p := &pendingComponent{name: n, pos: at}
	e.pending = append(e.pending, p)

	body := func(L *lua.LState) int {
		e.declaring(L, "component")
		if p.given {
			e.problemAt(e.caller(L), n, "", "body given twice")
			return 0
		}
		p.given = true
		e.componentBody(p, L.Get(1))
		return 0
	}
	if L.GetTop() >= 2 {
		e.componentBody(p, L.Get(2))
		p.given = true
		return 0
	}
	L.Push(L.NewFunction(body))
	return 1
}

// componentBody records component p with body v.
func (e *evaluator) componentBody(p *pendingComponent, v lua.LValue) {
	t, ok := v.(*lua.LTable)
	if !ok {
		e.problemAt(p.pos, p.name, "", fmt.Sprintf(`body must be a table, got a %s: component %q { command = … }`, v.Type(), p.name))
		return
	}
	c := e.converter(p.pos)
	conv, _ := c.table(t, "")
	for _, ve := range c.errs {
		e.problemAt(p.pos, p.name, ve.Key, ve.Msg)
	}
	if len(c.errs) > 0 {
		return
	}
	values, ok := conv.(map[string]any)
	if !ok {
		e.problemAt(p.pos, p.name, "", `body must have named keys, not list items: { command = "…", max_memory_restart = "150MB" }`)
		return
	}
	e.raw.Components = append(e.raw.Components, config.RawComponent{Name: p.name, Line: p.pos.line, File: e.declaredIn(p.pos.chunk), Values: values})
}

// luaOn is on(event, fn).
func (e *evaluator) luaOn(L *lua.LState) int {
	e.declaring(L, "on")
	at := e.caller(L)
	ev, ok := L.Get(1).(lua.LString)
	if !ok {
		e.problemAt(at, "", "", `on needs an event name and a function: on("restart", function(ev) … end)`)
		return 0
	}
	if !slices.Contains(HookEvents, string(ev)) {
		e.problemAt(at, "", "", fmt.Sprintf("unknown event %q; use one of: %s", string(ev), strings.Join(HookEvents, ", ")))
		return 0
	}
	fn, ok := L.Get(2).(*lua.LFunction)
	if !ok {
		e.problemAt(at, "", "", fmt.Sprintf(`on(%q, …) needs a function, got a %s: on(%q, function(ev) … end)`, string(ev), L.Get(2).Type(), string(ev)))
		return 0
	}
	e.raw.Hooks = append(e.raw.Hooks, config.Hook{Event: string(ev), Func: e.register(fn, at, roleHook), Line: at.line})
	return 0
}

// luaPrint is print(...): tab-joined, to Options.Log at level "info".
func (e *evaluator) luaPrint(L *lua.LState) int {
	parts := make([]string, L.GetTop())
	for i := range parts {
		parts[i] = L.ToStringMeta(L.Get(i + 1)).String()
	}
	e.log("info", strings.Join(parts, "\t"), e.caller(L))
	return 0
}

// luaEnv is thorp.env(name): the variable's value, or nil when unset.
func luaEnv(L *lua.LState) int {
	v, ok := os.LookupEnv(L.CheckString(1))
	if !ok {
		L.Push(lua.LNil)
		return 1
	}
	L.Push(lua.LString(v))
	return 1
}

// syntaxProblem turns a load error of src, thorp.lua's or an included
// file's, into a problem of file at LINE:COL.
func syntaxProblem(file string, err error, src []byte) config.Problem {
	p := config.Problem{File: file, Message: err.Error()}
	var apiErr *lua.ApiError
	if errors.As(err, &apiErr) && apiErr.Cause != nil {
		err = apiErr.Cause
	}
	var perr *parse.Error
	var cerr *lua.CompileError
	switch {
	case errors.As(err, &perr):
		if perr.Pos.Line == parse.EOF {
			p.Line = 1 + strings.Count(luaLineBreaks.Replace(string(src)), "\n")
			p.Message = "unexpected end of file (a missing 'end', '}' or ')'?)"
			if m := strings.TrimSpace(perr.Message); m != "syntax error" {
				p.Message = m + " at end of file"
			}
		} else {
			p.Line, p.Col = perr.Pos.Line, perr.Pos.Column
			p.Message = strings.TrimSpace(perr.Message)
			if perr.Token != "" {
				p.Message += fmt.Sprintf(" near '%s'", perr.Token)
			}
		}
	case errors.As(err, &cerr):
		p.Line = cerr.Line
		p.Message = strings.TrimSpace(cerr.Message)
	}
	return p
}

// errorAt splits "chunk:LINE: message", of thorp.lua, of a file it
// includes, of a plugin file or of a module, into its place and message; the line is 0 when msg names none.
func (e *evaluator) errorAt(msg string) (pos, string) {
	for _, f := range e.inc.files {
		if line, text := splitWhere(f.chunk, msg); line > 0 {
			return pos{f.chunk, line}, text
		}
	}
	for chunk := range stockModules() {
		if line, text := splitWhere(chunk, msg); line > 0 {
			return pos{chunk, line}, text
		}
	}
	line, text := splitWhere(e.chunk, msg)
	return pos{e.chunk, line}, text
}

// splitWhere splits "chunk:LINE: message" into its line and message; line is 0
// when msg does not start with chunk.
func splitWhere(chunk, msg string) (int, string) {
	rest, ok := strings.CutPrefix(msg, chunk+":")
	if !ok {
		return 0, msg
	}
	num, text, ok := strings.Cut(rest, ":")
	line, err := strconv.Atoi(num)
	if !ok || err != nil {
		return 0, msg
	}
	return line, strings.TrimSpace(text)
}

// runtimeProblem turns the error that ended the script into a problem.
func (e *evaluator) runtimeProblem(err, cause error, timeout time.Duration) config.Problem {
	at, text := e.errorAt(err.Error())
	switch {
	case errors.Is(cause, errMemory):
		text = fmt.Sprintf("grew thorp's memory past the ceiling of %s (settings.plugins.max_memory); look for a table or string growing without end", config.Size(e.lim.max()))
	case cause != nil:
		text = fmt.Sprintf("still running after %s: thorp.lua must finish quickly; look for an endless loop", timeout)
	default:
		text = hint(text)
	}
	return config.Problem{File: e.file(at.chunk), Line: at.line, Message: text}
}

// hint adds what to do to the Lua errors operators meet most.
func hint(msg string) string {
	switch {
	case strings.Contains(msg, "attempt to call a non-function object"),
		strings.Contains(msg, "attempt to call a nil value"):
		return msg + " (a misspelt function name? thorp.lua has settings, component, on, include, plugin, require and thorp.*)"
	case strings.Contains(msg, "attempt to index a non-table object"):
		return msg + " (a misspelt table or field name?)"
	}
	return msg
}
