package main

import (
	"fmt"
	"net"
	"runtime"
	"strings"
	"testing"
)

// Every bad proxy value is a `thorp check` error at its component's line,
// naming the key; the good forms pass.
func TestCheck_Proxy(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	_, busyPort, _ := net.SplitHostPort(busy.Addr().String())
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "" }
component "mode" { command = { "sleep", "60" }, proxy = { listen = "tcp://127.0.0.1:%[1]d", mode = "udp" } }
component "drain" { command = { "sleep", "60" }, proxy = { listen = "tcp://127.0.0.1:%[2]d", drain_timeout = "-1s" } }
component "env" {
  command = { "sleep", "60" },
  env = { PORT = "8080" },
  proxy = "tcp://127.0.0.1:%[3]d",
}
component "both" {
  command = { "sleep", "60" },
  sockets = { http = "tcp://127.0.0.1:%[4]d" },
  proxy = "tcp://127.0.0.1:%[4]d",
}
component "kind" { command = { "sleep", "60" }, proxy = 3000 }
component "typo" { command = { "sleep", "60" }, proxy = { listen = "tcp://127.0.0.1:%[1]d", drain = "1s" } }
`, freeTCPPort(t), freeTCPPort(t), freeTCPPort(t), freeTCPPort(t)))
	out, _, code := thorpCmd(t, "check", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("check: exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		`thorp.lua:3: component "mode": proxy.mode: "udp" is not a proxy mode (use "tcp" or "http")`,
		`thorp.lua:4: component "drain": proxy.drain_timeout: "-1s" is negative; a duration must be 0 or more`,
		`thorp.lua:5: component "env": proxy.port_env: env also sets PORT; thorp sets it per process (remove it from env or change proxy.port_env)`,
		`thorp.lua:10: component "both": proxy.listen: sockets.http and proxy.listen both bind tcp://127.0.0.1:`,
		`thorp.lua:15: component "kind": proxy: expected an address like "tcp://0.0.0.0:3000" or a table`,
		"thorp.lua:16: component \"typo\": proxy.drain: unknown key; did you mean `proxy.drain_timeout`?",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check output lacks %q", want)
		}
	}
	if t.Failed() {
		t.Log(out)
	}

	// The host checks run once the file is valid: a busy address.
	cfg = writeConfig(t, fmt.Sprintf(`
settings { http = "" }
component "api" { command = { "sleep", "60" }, instances = "max", proxy = "tcp://127.0.0.1:%s" }
`, busyPort))
	out, _, code = thorpCmd(t, "check", "-c", cfg)
	want := fmt.Sprintf(`thorp.lua:3: component "api": proxy.listen: port %s is busy: 127.0.0.1:%s is already in use by another program`, busyPort, busyPort)
	if code != exitFailed || !strings.Contains(out, want) {
		t.Fatalf("check: exit %d, want 1 and %q:\n%s", code, want, out)
	}

	// The good forms pass: the short form with instances = "max", and a
	// full table with rolling and any restart_mode.
	cfg = writeConfig(t, fmt.Sprintf(`
settings { http = "" }
component "short" { command = { "sleep", "60" }, instances = "max", proxy = "tcp://127.0.0.1:%d" }
component "table" {
  command = { "sleep", "60" },
  instances = %d,
  rolling = 2,
  restart_mode = "stop-start",
  proxy = { listen = "tcp://127.0.0.1:%d", mode = "http", port_env = "HTTP_PORT", drain_timeout = "5s", queue_timeout = 0 },
}
`, freeTCPPort(t), runtime.NumCPU()+1, freeTCPPort(t)))
	if out, _, code := thorpCmd(t, "check", "-c", cfg); code != exitOK || !strings.Contains(out, "ok, 2 component(s), 0 warning(s)") {
		t.Fatalf("check of good proxies: exit %d\n%s", code, out)
	}
}

// The proxy address the running thorp of a config holds is not busy for
// `thorp check` of that config; for another config it is.
func TestCheck_ProxyHeldByTheRunningThorpIsNotBusy(t *testing.T) {
	port := freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "" }
component "api" { command = { %q, "simulate", "http", "--port-env", "PORT" }, instances = 2, proxy = "tcp://127.0.0.1:%d" }
`, thorpBin, port))
	startThorp(t, cfg)
	if out, _, code := thorpCmd(t, "check", "-c", cfg); code != exitOK {
		t.Fatalf("check while thorp holds its own proxy address: exit %d\n%s", code, out)
	}
	other := writeConfig(t, fmt.Sprintf(`
settings { http = "" }
component "api" { command = { "sleep", "1" }, proxy = "tcp://127.0.0.1:%d" }
`, port))
	want := fmt.Sprintf(`thorp.lua:3: component "api": proxy.listen: port %d is busy`, port)
	if out, _, code := thorpCmd(t, "check", "-c", other); code != exitFailed || !strings.Contains(out, want) {
		t.Fatalf("an address another thorp holds must be busy: exit %d, want 1 and %q\n%s", code, want, out)
	}
}
