package plugins

import (
	lua "github.com/yuin/gopher-lua"
)

// removedBaseGlobals are base-library globals a thorp.lua must not see: the ones
// that read code from disk or from strings, the legacy module system, and
// gopher-lua internals.
var removedBaseGlobals = []string{
	"dofile", "loadfile", "load", "loadstring", "module",
	"_printregs", "_GOPHER_LUA_VERSION",
}

// safeOSFuncs are the only os functions a thorp.lua gets.
var safeOSFuncs = []string{"time", "date", "clock", "getenv"}

// newSandboxState returns a fresh LState with only the sandboxed libraries
// open, their builtins bounded by lim. The caller adds thorp's own globals
// (settings, component, on, include, thorp, print).
func newSandboxState(lim *limits) *lua.LState {
	L := lua.NewState(lua.Options{SkipOpenLibs: true})
	for _, lib := range []struct {
		name string
		open lua.LGFunction
	}{
		{lua.LoadLibName, lua.OpenPackage},
		{lua.BaseLibName, lua.OpenBase},
		{lua.TabLibName, lua.OpenTable},
		{lua.StringLibName, lua.OpenString},
		{lua.MathLibName, lua.OpenMath},
	} {
		L.Push(L.NewFunction(lib.open))
		L.Push(lua.LString(lib.name))
		L.Call(1, 0)
	}
	for _, name := range removedBaseGlobals {
		L.SetGlobal(name, lua.LNil)
	}
	restrictPackage(L)
	L.SetGlobal("error", L.NewFunction(luaError))
	L.SetGlobal("os", safeOS(L))
	lim.installBounded(L)
	return L
}

// restrictPackage removes the loader that reads files from package.path
// (and C modules) from gopher-lua's loader list; installPlugins then
// replaces require by thorp's own, which reads only the plugin path and the
// stock library (require.go).
func restrictPackage(L *lua.LState) {
	pkg, ok := L.GetGlobal("package").(*lua.LTable)
	if !ok {
		return
	}
	if loaders, ok := L.GetField(L.Get(lua.RegistryIndex), "_LOADERS").(*lua.LTable); ok {
		// Keep only the first loader, package.preload.
		for loaders.Len() > 1 {
			loaders.Remove(loaders.Len())
		}
	}
	pkg.RawSetString("path", lua.LString(""))
	pkg.RawSetString("cpath", lua.LString(""))
	pkg.RawSetString("loadlib", lua.LNil)
}

// luaError is error(v [, level]) with Lua's levels, so that a function
// checking its arguments can blame its caller's line with error(msg, 2):
// gopher-lua's own error counts one level short (its level 2 names the
// function calling error, like level 1).
func luaError(L *lua.LState) int {
	obj := L.CheckAny(1)
	level := L.OptInt(2, 1)
	if level > 1 {
		level++
	}
	L.Error(obj, level)
	return 0
}

// safeOS builds an os table with only the functions in safeOSFuncs, taken from
// gopher-lua's os library (opened into a throwaway table, not into the globals).
func safeOS(L *lua.LState) *lua.LTable {
	// lua.OpenOs registers the global "os"; open it, copy, then replace it.
	L.Push(L.NewFunction(lua.OpenOs))
	L.Push(lua.LString(lua.OsLibName))
	L.Call(1, 1)
	opened, _ := L.Get(-1).(*lua.LTable)
	L.Pop(1)
	safe := L.NewTable()
	if opened != nil {
		for _, name := range safeOSFuncs {
			safe.RawSetString(name, opened.RawGetString(name))
		}
	}
	// Drop the full library from package.loaded as well, so nothing can reach it.
	if loaded, ok := L.GetField(L.Get(lua.RegistryIndex), "_LOADED").(*lua.LTable); ok {
		loaded.RawSetString(lua.OsLibName, safe)
	}
	return safe
}
