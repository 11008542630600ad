package plugins

import (
	lua "github.com/yuin/gopher-lua"
)

// installPlugins adds plugin "name" { file = …, … } and a require that
// finds .lua modules in settings.plugins.path and the embedded stock
// library (thorp.policies.*), nothing else.
func (e *evaluator) installPlugins(L *lua.LState) {}
