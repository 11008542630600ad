package plugins

import (
	"net"
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"time"

	lua "github.com/yuin/gopher-lua"

	"github.com/thorp-dev/thorp/engine/config"
)

// DefaultWaitTimeout is the timeout of a thorp.http or thorp.exec call
// that names none; MaxWaitTimeout is the longest one may name.
const (
	DefaultWaitTimeout = 5 * time.Second
	MaxWaitTimeout     = 60 * time.Second
)

// installWorld adds the functions that reach outside thorp to the thorp
// table t: http (settings.plugins.allow_hosts), exec
// (settings.plugins.allow_exec) and json.
func (e *evaluator) installWorld(L *lua.LState, t *lua.LTable) {
	j, null := jsonTable(L)
	t.RawSetString("json", j)
	t.RawSetString("http", L.NewFunction(func(L *lua.LState) int { return e.luaHTTP(L, null) }))
	t.RawSetString("exec", L.NewFunction(e.luaExec))
}

// grants are what thorp.http and thorp.exec may reach: the decoded
// settings.plugins.allow_hosts and allow_exec, installed by Script.Grant.
// Until then no host but loopback and no program. One grants is shared by
// a Script's states and the evaluations that make them; it leads back to
// neither. Safe for concurrent use.
type grants struct {
	set atomic.Pointer[grantSet]
}

type grantSet struct {
	hosts    map[string]bool // normalised by hostKey
	programs map[string]bool // absolute paths, exactly as listed
}

// Grant installs what thorp.http and thorp.exec of s's functions may
// reach: p.AllowHosts (besides loopback, always allowed) and p.AllowExec.
// The load path calls it once the config is decoded, so THORP_* variables
// and --set flags count; until then only loopback hosts and no programs
// are allowed. Safe for concurrent use; a later call replaces the grants.
func (s *Script) Grant(p config.PluginSettings) {
	set := &grantSet{hosts: map[string]bool{}, programs: map[string]bool{}}
	for _, h := range p.AllowHosts {
		set.hosts[hostKey(h)] = true
	}
	for _, prog := range p.AllowExec {
		set.programs[prog] = true
	}
	s.grants.set.Store(set)
}

// host reports whether thorp.http may reach host (a URL's Hostname()).
func (g *grants) host(host string) bool {
	if isLoopback(host) {
		return true
	}
	set := g.set.Load()
	return set != nil && set.hosts[hostKey(host)]
}

// program reports whether thorp.exec may run path.
func (g *grants) program(path string) bool {
	set := g.set.Load()
	return set != nil && set.programs[path]
}

// programs lists the programs granted, for messages.
func (g *grants) programs() []string {
	set := g.set.Load()
	if set == nil {
		return nil
	}
	out := make([]string, 0, len(set.programs))
	for p := range set.programs {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// hostKey is a host name or IP address as allow_hosts entries and URL
// hosts are compared: lower case, without brackets or a final dot, an IP
// address in its canonical form.
func hostKey(h string) string {
	h = strings.TrimSuffix(strings.ToLower(strings.Trim(strings.TrimSpace(h), "[]")), ".")
	if ip := net.ParseIP(h); ip != nil {
		return ip.String()
	}
	return h
}

// isLoopback reports whether host is "localhost" or a loopback address
// (127.0.0.0/8, ::1).
func isLoopback(host string) bool {
	h := hostKey(host)
	if h == "localhost" {
		return true
	}
	ip := net.ParseIP(h)
	return ip != nil && ip.IsLoopback()
}

// refuseWhileLoading raises a Lua error when fn, a function that waits on
// the world, is called while thorp.lua loads: its top level runs several
// times (thorp check, each Lua state), and must finish quickly.
func (e *evaluator) refuseWhileLoading(L *lua.LState, fn string) {
	if e.loading {
		L.RaiseError("%s can only be called from hooks, timers and functions thorp calls later, not while thorp.lua loads", fn)
	}
}

// argTable returns a world function's one table argument, raising a Lua
// error for anything else or for a key not in known (a typo would
// otherwise be ignored).
func argTable(L *lua.LState, fn, example string, known ...string) *lua.LTable {
	t, ok := L.Get(1).(*lua.LTable)
	if !ok || L.GetTop() != 1 {
		L.RaiseError("%s takes one table: %s", fn, example)
	}
	var bad []string
	t.ForEach(func(k, _ lua.LValue) {
		name, ok := k.(lua.LString)
		if !ok || !slices.Contains(known, string(name)) {
			bad = append(bad, lua.LVAsString(L.ToStringMeta(k)))
		}
	})
	if len(bad) > 0 {
		sort.Strings(bad)
		L.RaiseError("%s: unknown field %q (fields: %s)", fn, bad[0], strings.Join(known, ", "))
	}
	return t
}

// optString returns the string field name of t, def when absent.
func optString(L *lua.LState, fn string, t *lua.LTable, name, def string) string {
	switch v := t.RawGetString(name).(type) {
	case *lua.LNilType:
		return def
	case lua.LString:
		return string(v)
	default:
		L.RaiseError("%s: %s must be a string, got a %s", fn, name, v.Type())
		return ""
	}
}

// stringMap returns the table field name of t as names and strings (nil
// when absent); numbers and booleans are taken as their text.
func stringMap(L *lua.LState, fn string, t *lua.LTable, name string) map[string]string {
	v := t.RawGetString(name)
	if v == lua.LNil {
		return nil
	}
	tab, ok := v.(*lua.LTable)
	if !ok {
		L.RaiseError("%s: %s must be a table of names and strings, got a %s", fn, name, v.Type())
	}
	out := map[string]string{}
	tab.ForEach(func(k, val lua.LValue) {
		ks, ok := k.(lua.LString)
		if !ok {
			L.RaiseError("%s: %s: a %s key; use names, like { Authorization = \"…\" }", fn, name, k.Type())
		}
		switch val.(type) {
		case lua.LString, lua.LNumber, lua.LBool:
			out[string(ks)] = lua.LVAsString(L.ToStringMeta(val))
		default:
			L.RaiseError("%s: %s.%s must be a string, got a %s", fn, name, string(ks), val.Type())
		}
	})
	return out
}

// waitTimeout returns the timeout field of t: a duration string ("5s",
// "500ms") or a number of seconds, DefaultWaitTimeout when absent, at
// most MaxWaitTimeout.
func waitTimeout(L *lua.LState, fn string, t *lua.LTable) time.Duration {
	var d time.Duration
	var err error
	switch v := t.RawGetString("timeout").(type) {
	case *lua.LNilType:
		return DefaultWaitTimeout
	case lua.LString:
		d, err = config.ParseDuration(string(v))
	case lua.LNumber:
		d, err = config.ParseDuration(v.String())
	default:
		L.RaiseError(`%s: timeout must be a duration like "5s", got a %s`, fn, v.Type())
	}
	switch {
	case err != nil:
		L.RaiseError("%s: timeout: %v", fn, err)
	case d <= 0:
		L.RaiseError("%s: timeout must be more than 0", fn)
	case d > MaxWaitTimeout:
		L.RaiseError("%s: timeout %s is over the longest allowed, %s", fn, d, MaxWaitTimeout)
	}
	return d
}
