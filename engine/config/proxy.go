package config

import (
	"maps"
	"net"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// envNameRE is what proxy.port_env must look like: a portable shell
// variable name, so that `$PORT`-style expansion finds it.
var envNameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// validateProxy checks a component's proxy (raw is thorp.lua's value of the
// key, nil when absent) and rolling. bad reports one problem for a key, as
// validateComponent's does.
func validateProxy(c *Component, raw any, bad func(key, format string, args ...any)) {
	if c.Rolling < 1 {
		bad("rolling", "must be at least 1, got %d", c.Rolling)
	}
	p := c.Proxy
	if p == nil {
		return
	}
	table, _ := raw.(map[string]any)
	if _, ok := table["listen"]; table != nil && !ok {
		bad("proxy.listen", `is required in a proxy table (e.g. "tcp://0.0.0.0:3000")`)
	} else if msg := checkSocketAddr(p.Listen); msg != "" {
		bad("proxy.listen", "%s", msg)
	} else {
		for _, name := range slices.Sorted(maps.Keys(c.Sockets)) {
			if sameBind(c.Sockets[name], p.Listen) {
				bad("proxy.listen", "sockets.%s and proxy.listen both bind %s; a component either serves held sockets or sits behind the proxy (remove one)", name, p.Listen)
				break
			}
		}
	}
	switch p.Mode {
	case ProxyTCP, ProxyHTTP:
	default:
		bad("proxy.mode", `%q is not a proxy mode (use "tcp" or "http")`, p.Mode)
	}
	switch {
	case !envNameRE.MatchString(p.PortEnv):
		bad("proxy.port_env", "%q is not an environment variable name (letters, digits and '_', not starting with a digit)", p.PortEnv)
	case reservedEnv(p.PortEnv):
		bad("proxy.port_env", "%s is reserved: thorp sets THORP_*, LISTEN_*, WATCHDOG_* and NOTIFY_SOCKET itself (choose another name)", p.PortEnv)
	default:
		if _, ok := c.Env[p.PortEnv]; ok {
			bad("proxy.port_env", "env also sets %s; thorp sets it per process (remove it from env or change proxy.port_env)", p.PortEnv)
		}
	}
}

// reservedEnv reports whether thorp already sets (or removes) the variable
// name in every process it starts.
func reservedEnv(name string) bool {
	for _, prefix := range []string{"THORP_", "LISTEN_", "WATCHDOG_"} {
		if strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return name == "NOTIFY_SOCKET"
}

// sameBind reports whether two valid socket addresses would bind the same
// thing: the same unix path, or the same TCP port on the same host or on
// a wildcard host (which takes the port on every address).
func sameBind(a, b string) bool {
	if pa, ok := strings.CutPrefix(a, "unix://"); ok {
		pb, ok := strings.CutPrefix(b, "unix://")
		return ok && filepath.Clean(pa) == filepath.Clean(pb)
	}
	ha, porta, err := net.SplitHostPort(strings.TrimPrefix(a, "tcp://"))
	if err != nil || !strings.HasPrefix(a, "tcp://") {
		return false
	}
	hb, portb, err := net.SplitHostPort(strings.TrimPrefix(b, "tcp://"))
	if err != nil || !strings.HasPrefix(b, "tcp://") || porta != portb || porta == "0" {
		return false
	}
	wildcard := func(h string) bool { return h == "" || h == "0.0.0.0" || h == "::" }
	return ha == hb || wildcard(ha) || wildcard(hb)
}
