package plugins

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	lua "github.com/yuin/gopher-lua"

	"github.com/thorp-dev/thorp/engine/config"
)

// defaultPluginDir is settings.plugins.path when thorp.lua sets none,
// beside thorp.lua (engine/config's default is the same).
const defaultPluginDir = "plugins"

// installPlugins adds plugin "name" { file = …, … } and a require that
// finds .lua modules in settings.plugins.path and the embedded stock
// library (thorp.*), nothing else.
func (e *evaluator) installPlugins(L *lua.LState) {
	L.SetGlobal("plugin", L.NewFunction(e.luaPlugin))
	L.SetGlobal("require", L.NewFunction(e.luaRequire))
	e.requiring = L.NewUserData()
}

// setPluginDir applies settings.plugins.path as soon as it is declared, so
// that the plugin declarations and require() calls after it look there; a
// bad value is left to engine/config to report.
func (e *evaluator) setPluginDir() {
	p, _ := e.raw.Settings["plugins"].(map[string]any)
	dir, ok := p["path"].(string)
	if !ok || dir == "" {
		return
	}
	if !filepath.IsAbs(dir) {
		dir = filepath.Join(e.dir, dir)
	}
	e.pluginDir = filepath.Clean(dir)
}

// luaPlugin is plugin "name" { file = "plugins/x.lua", opts… } (returning
// the function that takes the body), and also plugin("name", { … }).
func (e *evaluator) luaPlugin(L *lua.LState) int {
	e.declaring(L, "plugin")
	at := e.caller(L)
	ignore := L.NewFunction(func(*lua.LState) int { return 0 })
	name, ok := L.Get(1).(lua.LString)
	if !ok {
		e.problemAt(at, "", "", `plugin needs a name before its options: plugin "slack" { webhook = … }`)
		L.Push(ignore)
		return 1
	}
	n := string(name)
	if !config.ValidName(n) {
		e.problemAt(at, "", "", fmt.Sprintf("plugin %q: invalid name: %s", n, componentNameRule))
		L.Push(ignore)
		return 1
	}
	if first, dup := e.plugins[n]; dup {
		e.problemAt(at, "", "", fmt.Sprintf("duplicate plugin %q, first declared at %s", n, first))
		L.Push(ignore)
		return 1
	}
	e.plugins[n] = at
	p := &pendingComponent{name: n, pos: at}
	e.pendingPlugins = append(e.pendingPlugins, p)
	if L.GetTop() >= 2 {
		p.given = true
		e.loadPlugin(L, p, L.Get(2))
		return 0
	}
	L.Push(L.NewFunction(func(L *lua.LState) int {
		e.declaring(L, "plugin")
		if p.given {
			e.problemAt(e.caller(L), "", "", fmt.Sprintf("plugin %q: options given twice", n))
			return 0
		}
		p.given = true
		e.loadPlugin(L, p, L.Get(1))
		return 0
	}))
	return 1
}

// unfinishedPlugins reports the plugin "name" calls never given options.
func (e *evaluator) unfinishedPlugins() {
	for _, p := range e.pendingPlugins {
		if !p.given {
			e.problemAt(p.pos, "", "", fmt.Sprintf(`plugin %q has a name but no options; write plugin %q {} to load it`, p.name, p.name))
		}
	}
}

// loadPlugin runs the plugin file of p in L with its options (body without
// file) and its name as arguments. A file that cannot be found, read or
// compiled, or that lies outside the plugin path, is a problem at the
// declaration (a syntax error at the file's own LINE:COL); an error while
// it runs is a problem at its own file:line, and evaluation goes on.
func (e *evaluator) loadPlugin(L *lua.LState, p *pendingComponent, body lua.LValue) {
	t, ok := body.(*lua.LTable)
	if !ok {
		e.problemAt(p.pos, "", "", fmt.Sprintf(`plugin %q: options must be a table, got a %s: plugin %q { file = "plugins/%s.lua" }`, p.name, body.Type(), p.name, p.name))
		return
	}
	path := filepath.Join(e.pluginDir, p.name+".lua")
	switch file := t.RawGetString("file").(type) {
	case *lua.LNilType:
	case lua.LString:
		path = string(file)
		if !filepath.IsAbs(path) {
			path = filepath.Join(e.dir, path)
		}
		path = filepath.Clean(path)
	default:
		e.problemAt(p.pos, "", "", fmt.Sprintf("plugin %q: file must be a path, got a %s", p.name, file.Type()))
		return
	}
	f := e.inc.files[path]
	if f == nil {
		if e.inc.frozen {
			return // the first evaluation reported it
		}
		if err := insidePluginDir(e.pluginDir, path); err != nil {
			e.problemAt(p.pos, "", "", fmt.Sprintf("plugin %q: %v", p.name, err))
			return
		}
		if f = e.compile(path, p.pos); f.src == nil && f.proto == nil {
			return // unreadable: not kept, so the problem is not repeated as missing
		}
		e.inc.files[path] = f
	}
	if f.proto == nil {
		return
	}
	opts := L.NewTable()
	t.ForEach(func(k, v lua.LValue) {
		if k != lua.LString("file") {
			opts.RawSet(k, v)
		}
	})
	L.Push(L.NewFunctionFromProto(f.proto))
	L.Push(opts)
	L.Push(lua.LString(p.name))
	e.runChunk(L, f.chunk, 2)
}

// insidePluginDir returns nil when path, after symlinks, is a file inside
// dir (also after symlinks); otherwise an error saying why not.
func insidePluginDir(dir, path string) error {
	realDir, err := filepath.EvalSymlinks(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("the plugin path %s does not exist (settings.plugins.path)", dir)
		}
		return fmt.Errorf("cannot use the plugin path: %w", err)
	}
	if fi, err := os.Stat(realDir); err == nil && !fi.IsDir() {
		return fmt.Errorf("the plugin path %s is a file, not a directory (settings.plugins.path)", dir)
	}
	real, err := filepath.EvalSymlinks(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("no file %s", path)
		}
		return err
	}
	rel, err := filepath.Rel(realDir, real)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("plugin file outside the plugin path: %s is not in %s (settings.plugins.path)", path, dir)
	}
	return nil
}
