package plugins

import (
	"slices"
	"strings"

	lua "github.com/yuin/gopher-lua"
)

// logLevels are the levels thorp.log(level, msg) accepts, in the order
// messages list them. Treat it as read-only.
var logLevels = []string{"debug", "info", "warn", "error"}

// luaLog is thorp.log(msg), at level "info", or thorp.log(level, msg) with
// a level of logLevels (any case); msg goes through tostring.
func (e *evaluator) luaLog(L *lua.LState) int {
	if L.GetTop() <= 1 {
		e.log("info", L.ToStringMeta(L.Get(1)).String(), e.caller(L))
		return 0
	}
	s, ok := L.Get(1).(lua.LString)
	level := strings.ToLower(string(s))
	if !ok || !slices.Contains(logLevels, level) {
		L.RaiseError("thorp.log: unknown level %q; use one of %s, or thorp.log(msg) for info", L.ToStringMeta(L.Get(1)).String(), strings.Join(logLevels, ", "))
	}
	e.log(level, L.ToStringMeta(L.Get(2)).String(), e.caller(L))
	return 0
}
