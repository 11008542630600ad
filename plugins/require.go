package plugins

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// moduleNameRE is what a require() name must look like: dotted words.
var moduleNameRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_-]*(\.[A-Za-z0-9_][A-Za-z0-9_-]*)*$`)

// stockPrefix starts the names of the embedded stock library's modules;
// require never looks for them in the plugin path.
const stockPrefix = "thorp."

// luaRequire is require(name): package.loaded[name] when the state loaded
// it already, else the module thorp.* of the stock library, or name.lua
// (dots become directories) in settings.plugins.path, run once with name
// as its argument; its result (true when it returns nothing) is kept in
// package.loaded. Anything else is a Lua error naming where it looked.
func (e *evaluator) luaRequire(L *lua.LState) int {
	name := L.CheckString(1)
	loaded, ok := L.GetField(L.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable)
	if !ok {
		L.RaiseError("require: package.loaded is gone")
	}
	switch v := loaded.RawGetString(name); v {
	case lua.LNil:
	case e.requiring:
		L.RaiseError("require(%q): the module requires itself (directly or through another module)", name)
	default:
		L.Push(v)
		return 1
	}
	f, err := e.findModule(name)
	if err != nil {
		L.RaiseError("require(%q): %v", name, err)
	}
	loaded.RawSetString(name, e.requiring)
	L.Push(L.NewFunctionFromProto(f.proto))
	L.Push(lua.LString(name))
	if err := L.PCall(1, 1, nil); err != nil {
		loaded.RawSetString(name, lua.LNil)
		var apiErr *lua.ApiError
		if errors.As(err, &apiErr) && apiErr.Object != nil {
			L.Error(apiErr.Object, 0)
		}
		L.Error(lua.LString(err.Error()), 0)
	}
	ret := L.Get(-1)
	L.Pop(1)
	if loaded.RawGetString(name) == e.requiring { // the module did not set it itself
		if ret == lua.LNil {
			ret = lua.LTrue
		}
		loaded.RawSetString(name, ret)
	}
	L.Push(loaded.RawGetString(name))
	return 1
}

// findModule returns the compiled module name: from the stock library for
// thorp.* names, else from the plugin path. A module of the plugin path is
// read and compiled once, by the first evaluation; later states (and hooks
// requiring it later) get the same one, and one the first evaluation never
// required is an error once it ended.
func (e *evaluator) findModule(name string) (*includedFile, error) {
	if !moduleNameRE.MatchString(name) {
		return nil, fmt.Errorf(`a module name is dotted words of letters, digits, '_' and '-' (no paths): require("a.b") reads a/b.lua in the plugin path %s`, e.pluginDir)
	}
	if strings.HasPrefix(name, stockPrefix) {
		if f := stockModules()[name]; f != nil {
			return f, nil
		}
		return nil, fmt.Errorf("no such module in thorp's stock library (it has %s); thorp.* names are looked for only there", strings.Join(stockNames(), ", "))
	}
	key := e.pluginDir + "\x00" + name
	if path, ok := e.inc.modules[key]; ok {
		return e.inc.files[path], nil
	}
	path := filepath.Join(e.pluginDir, filepath.FromSlash(strings.ReplaceAll(name, ".", "/"))+".lua")
	if e.inc.frozen {
		return nil, fmt.Errorf("%s was not required while thorp.lua loaded: modules of the plugin path are read then, once; require it at the top of the file that uses it", path)
	}
	if err := insidePluginDir(e.pluginDir, path); err != nil {
		if _, statErr := os.Lstat(path); statErr != nil {
			return nil, fmt.Errorf("not found: looked for %s (settings.plugins.path) and in the stock library (thorp.* names only)", path)
		}
		return nil, err
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	f := &includedFile{chunk: e.chunkOf(path), src: src}
	if f.proto, err = compileChunk(src, f.chunk); err != nil {
		p := syntaxProblem(e.file(f.chunk), err, src)
		return nil, fmt.Errorf("%s", p)
	}
	e.inc.files[path] = f
	e.inc.modules[key] = path
	return f, nil
}
