package config

import (
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
)

// decodeOne decodes a config with one component "api" at line 7 holding
// values (command added) and returns it, or the problems as lines.
func decodeOne(t *testing.T, values map[string]any) (*Component, []string) {
	t.Helper()
	values["command"] = []any{"node", "server.js"}
	cfg, problems := Decode(&Raw{File: "/srv/thorp.lua", Name: "thorp.lua", Components: []RawComponent{
		{Name: "api", Line: 7, Values: values},
	}}, nil, nil)
	var lines []string
	for _, p := range problems {
		lines = append(lines, p.String())
	}
	if cfg == nil {
		return nil, lines
	}
	return &cfg.Components[0], lines
}

func TestDecode_Proxy(t *testing.T) {
	def := DefaultProxy()
	withListen := func(listen string, change func(*Proxy)) *Proxy {
		p := def
		p.Listen = listen
		if change != nil {
			change(&p)
		}
		return &p
	}
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   *Proxy
		ready  string
	}{
		{"absent", map[string]any{}, nil, "started"},
		{"short form", map[string]any{"proxy": "tcp://0.0.0.0:3000"},
			withListen("tcp://0.0.0.0:3000", nil), "started"},
		{"table over the defaults", map[string]any{"proxy": map[string]any{"listen": "tcp://127.0.0.1:3000", "mode": "http"}},
			withListen("tcp://127.0.0.1:3000", func(p *Proxy) { p.Mode = ProxyHTTP }), "started"},
		{"every key", map[string]any{"proxy": map[string]any{"listen": "unix:///run/api.sock", "mode": "tcp",
			"port_env": "HTTP_PORT", "drain_timeout": "1m", "queue_timeout": 0.0}},
			&Proxy{Listen: "unix:///run/api.sock", Mode: ProxyTCP, PortEnv: "HTTP_PORT", DrainTimeout: time.Minute}, "started"},
		{"ready set wins", map[string]any{"proxy": "tcp://127.0.0.1:3000", "ready": "http://127.0.0.1:8080/up"},
			withListen("tcp://127.0.0.1:3000", nil), "http://127.0.0.1:8080/up"},
		{"sockets on another address", map[string]any{"proxy": "tcp://127.0.0.1:3000",
			"sockets": map[string]any{"admin": "tcp://127.0.0.1:3001", "ctl": "unix:///run/api.sock"}},
			withListen("tcp://127.0.0.1:3000", nil), "started"},
		{"restart_mode does not matter", map[string]any{"proxy": "tcp://127.0.0.1:3000", "restart_mode": "stop-start"},
			withListen("tcp://127.0.0.1:3000", nil), "started"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, problems := decodeOne(t, tc.values)
			if c == nil {
				t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
			}
			if !reflect.DeepEqual(c.Proxy, tc.want) {
				t.Errorf("Proxy = %+v, want %+v", c.Proxy, tc.want)
			}
			if c.Ready != tc.ready {
				t.Errorf("Ready = %q, want %q", c.Ready, tc.ready)
			}
		})
	}
}

func TestDecode_ProxyBad(t *testing.T) {
	const at = `thorp.lua:7: component "api": `
	for _, tc := range []struct {
		name   string
		values map[string]any
		want   []string
	}{
		{"a number", map[string]any{"proxy": 3000.0},
			[]string{`proxy: expected an address like "tcp://0.0.0.0:3000" or a table { listen = "tcp://0.0.0.0:3000", mode = "tcp", … }, got 3000`}},
		{"a list", map[string]any{"proxy": []any{"tcp://0.0.0.0:3000"}},
			[]string{`proxy: expected an address like "tcp://0.0.0.0:3000" or a table { listen = "tcp://0.0.0.0:3000", mode = "tcp", … }, got a list`}},
		{"a function", map[string]any{"proxy": &testFunc{where: "thorp.lua:9"}},
			[]string{`proxy: expected an address like "tcp://0.0.0.0:3000" or a table { listen = "tcp://0.0.0.0:3000", mode = "tcp", … }, got a function`}},
		{"not an address", map[string]any{"proxy": "0.0.0.0:3000"},
			[]string{`proxy.listen: "0.0.0.0:3000" is not a socket address (use "tcp://host:port" or "unix:///path")`}},
		{"bad port", map[string]any{"proxy": "tcp://0.0.0.0:99999"},
			[]string{`proxy.listen: "0.0.0.0:99999" has no valid port (0..65535) (use "tcp://host:port")`}},
		{"no listen", map[string]any{"proxy": map[string]any{"mode": "http"}},
			[]string{`proxy.listen: is required in a proxy table (e.g. "tcp://0.0.0.0:3000")`}},
		{"empty table", map[string]any{"proxy": map[string]any{}},
			[]string{`proxy.listen: is required in a proxy table (e.g. "tcp://0.0.0.0:3000")`}},
		// One bad value leaves the others checked.
		{"every value bad", map[string]any{"proxy": map[string]any{"listen": "tcp://x", "mode": "udp",
			"port_env": "2PORT", "drain_timeout": "-1s", "queue_timeout": true, "listn": "tcp://:1"}}, []string{
			`proxy.drain_timeout: "-1s" is negative; a duration must be 0 or more`,
			`proxy.listen: "x" is not host:port (use "tcp://host:port")`,
			`proxy.listn: unknown key; did you mean ` + "`proxy.listen`?",
			`proxy.mode: "udp" is not a proxy mode (use "tcp" or "http")`,
			`proxy.port_env: "2PORT" is not an environment variable name (letters, digits and '_', not starting with a digit)`,
			`proxy.queue_timeout: expected a duration like "4s" or a number of seconds, got true`,
		}},
		{"unknown key", map[string]any{"proxy": map[string]any{"listen": "tcp://:3000", "timeout": "1s"}},
			[]string{`proxy.timeout: unknown key`}},
		{"empty port_env", map[string]any{"proxy": map[string]any{"listen": "tcp://:3000", "port_env": ""}},
			[]string{`proxy.port_env: "" is not an environment variable name (letters, digits and '_', not starting with a digit)`}},
		{"port_env thorp sets", map[string]any{"proxy": map[string]any{"listen": "tcp://:3000", "port_env": "THORP_INSTANCE"}},
			[]string{`proxy.port_env: THORP_INSTANCE is reserved: thorp sets THORP_*, LISTEN_*, WATCHDOG_* and NOTIFY_SOCKET itself (choose another name)`}},
		{"env sets PORT", map[string]any{"proxy": "tcp://:3000", "env": map[string]any{"PORT": 8080.0}},
			[]string{`proxy.port_env: env also sets PORT; thorp sets it per process (remove it from env or change proxy.port_env)`}},
		{"env sets port_env", map[string]any{"proxy": map[string]any{"listen": "tcp://:3000", "port_env": "HTTP_PORT"},
			"env": map[string]any{"HTTP_PORT": "1"}},
			[]string{`proxy.port_env: env also sets HTTP_PORT; thorp sets it per process (remove it from env or change proxy.port_env)`}},
		{"sockets on the same address", map[string]any{"proxy": "tcp://127.0.0.1:3000",
			"sockets": map[string]any{"http": "tcp://127.0.0.1:3000"}},
			[]string{`proxy.listen: sockets.http and proxy.listen both bind tcp://127.0.0.1:3000; a component either serves held sockets or sits behind the proxy (remove one)`}},
		{"sockets on the wildcard", map[string]any{"proxy": "tcp://127.0.0.1:3000",
			"sockets": map[string]any{"http": "tcp://0.0.0.0:3000"}},
			[]string{`proxy.listen: sockets.http and proxy.listen both bind tcp://127.0.0.1:3000; a component either serves held sockets or sits behind the proxy (remove one)`}},
		{"sockets on the same path", map[string]any{"proxy": "unix:///run/api.sock",
			"sockets": map[string]any{"http": "unix:///run//api.sock"}},
			[]string{`proxy.listen: sockets.http and proxy.listen both bind unix:///run/api.sock; a component either serves held sockets or sits behind the proxy (remove one)`}},
		{"rolling 0", map[string]any{"proxy": "tcp://:3000", "rolling": 0.0},
			[]string{`rolling: must be at least 1, got 0`}},
		{"rolling not a number", map[string]any{"rolling": "all"},
			[]string{`rolling: expected a whole number, got "all"`}},
		{"instances other string", map[string]any{"instances": "auto"},
			[]string{`instances: expected a whole number or "max" (one per CPU), got "auto"`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, problems := decodeOne(t, tc.values)
			if c != nil {
				t.Fatalf("decoded %+v, want errors", c)
			}
			var want []string
			for _, w := range tc.want {
				want = append(want, at+w)
			}
			if strings.Join(problems, "\n") != strings.Join(want, "\n") {
				t.Errorf("problems:\n%s\nwant:\n%s", strings.Join(problems, "\n"), strings.Join(want, "\n"))
			}
		})
	}
}

func TestDecode_InstancesMaxAndRolling(t *testing.T) {
	c, problems := decodeOne(t, map[string]any{"instances": "max", "rolling": 3.0, "proxy": "tcp://:3000"})
	if c == nil {
		t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
	}
	if want := runtime.NumCPU(); c.Instances != want {
		t.Errorf("instances = %d, want %d (runtime.NumCPU)", c.Instances, want)
	}
	// More at a time than there are instances is allowed: all at once.
	if c.Rolling != 3 {
		t.Errorf("rolling = %d, want 3", c.Rolling)
	}
	c, _ = decodeOne(t, map[string]any{})
	if c.Rolling != 1 || c.Instances != 1 {
		t.Errorf("defaults: rolling = %d, instances = %d, want 1, 1", c.Rolling, c.Instances)
	}
	c, problems = decodeOne(t, map[string]any{"instances": 2.0, "rolling": 2.0})
	want := `thorp.lua:7: component "api": rolling: has no effect without proxy or restart_mode = "overlap": only overlap restarts are rolling`
	if c == nil || strings.Join(problems, "\n") != want {
		t.Errorf("rolling without proxy: problems %q, want the warning %q", problems, want)
	}
	if c, problems = decodeOne(t, map[string]any{"instances": 2.0, "rolling": 2.0, "restart_mode": "overlap"}); c == nil || len(problems) != 0 {
		t.Errorf("rolling with restart_mode = overlap: problems %q, want none", problems)
	}
}

func TestSameBind(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"tcp://127.0.0.1:3000", "tcp://127.0.0.1:3000", true},
		{"tcp://127.0.0.1:3000", "tcp://127.0.0.1:3001", false},
		{"tcp://127.0.0.1:3000", "tcp://127.0.0.2:3000", false},
		{"tcp://:3000", "tcp://127.0.0.1:3000", true},
		{"tcp://[::1]:3000", "tcp://[::]:3000", true},
		{"tcp://127.0.0.1:0", "tcp://127.0.0.1:0", false},
		{"unix:///a/b.sock", "unix:///a/./b.sock", true},
		{"unix:///a/b.sock", "unix:///a/c.sock", false},
		{"unix:///a/b.sock", "tcp://127.0.0.1:3000", false},
		{"tcp://127.0.0.1:3000", "unix:///a/b.sock", false},
	} {
		if got := sameBind(tc.a, tc.b); got != tc.want {
			t.Errorf("sameBind(%q, %q) = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}

// describe shows the proxy as thorp.lua spells it, defaults filled in.
func TestComponentMap_Proxy(t *testing.T) {
	c, problems := decodeOne(t, map[string]any{"proxy": "tcp://0.0.0.0:3000"})
	if c == nil {
		t.Fatalf("problems:\n%s", strings.Join(problems, "\n"))
	}
	m := c.Map()
	want := map[string]any{"listen": "tcp://0.0.0.0:3000", "mode": "tcp", "port_env": "PORT", "drain_timeout": "30s", "queue_timeout": "10s"}
	if !reflect.DeepEqual(m["proxy"], want) || m["ready"] != "started" || m["rolling"] != 1 {
		t.Errorf("proxy = %v, ready = %v, rolling = %v; want %v, started, 1", m["proxy"], m["ready"], m["rolling"], want)
	}
}
