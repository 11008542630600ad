package plugins

import (
	lua "github.com/yuin/gopher-lua"
)

// installWorld adds the functions that reach outside thorp to the thorp
// table t: http (settings.plugins.allow_hosts), exec
// (settings.plugins.allow_exec) and json.
func (e *evaluator) installWorld(L *lua.LState, t *lua.LTable) {}
