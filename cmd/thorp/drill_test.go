package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/drill"
)

func TestDrillURL_ProxyFirst(t *testing.T) {
	tests := []struct {
		name  string
		proxy string // "" for none
		socks map[string]string
		want  string
	}{
		{"proxy on every interface", "tcp://0.0.0.0:3000", nil, "http://127.0.0.1:3000/"},
		{"proxy on loopback", "tcp://127.0.0.1:3100", nil, "http://127.0.0.1:3100/"},
		{"proxy without host", "tcp://:3000", nil, "http://127.0.0.1:3000/"},
		{"proxy on every IPv6 interface", "tcp://[::]:3000", nil, "http://[::1]:3000/"},
		{"proxy on one address", "tcp://10.1.2.3:80", nil, "http://10.1.2.3:80/"},
		{"proxy before sockets", "tcp://127.0.0.1:3000", map[string]string{"http": "tcp://127.0.0.1:4000"}, "http://127.0.0.1:3000/"},
		{"unix proxy, tcp socket", "unix:///run/app.sock", map[string]string{"http": "tcp://127.0.0.1:4000"}, "http://127.0.0.1:4000/"},
		{"unix proxy alone", "unix:///run/app.sock", nil, ""},
		{"first tcp socket by name", "", map[string]string{"b": "tcp://127.0.0.1:2", "a": "unix:///x.sock", "c": "tcp://127.0.0.1:3"}, "http://127.0.0.1:2/"},
		{"socket on every interface", "", map[string]string{"http": "tcp://0.0.0.0:8080"}, "http://127.0.0.1:8080/"},
		{"nothing", "", nil, ""},
	}
	for _, tt := range tests {
		cc := &config.Component{Sockets: tt.socks}
		if tt.proxy != "" {
			p := config.DefaultProxy()
			p.Listen = tt.proxy
			cc.Proxy = &p
		}
		if got := drillURL(cc); got != tt.want {
			t.Errorf("%s: drillURL = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestPrintDrill_InstancePIDs(t *testing.T) {
	inst := func(pids ...int) engine.Status {
		st := engine.Status{PID: pids[0]}
		for i, p := range pids {
			st.Instances = append(st.Instances, engine.InstanceStatus{Index: i, PID: p})
		}
		return st
	}
	var b bytes.Buffer
	printDrill(&b, "api", "reload", inst(10, 11), inst(20, 21), drill.Report{}, true)
	if first, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(first, "reload of api (pids 10,11 -> 20,21)") {
		t.Errorf("first line %q", first)
	}
	b.Reset()
	printDrill(&b, "one", "reload", inst(10), inst(20), drill.Report{}, true)
	if first, _, _ := strings.Cut(b.String(), "\n"); !strings.Contains(first, "reload of one (pid 10 -> 20)") {
		t.Errorf("first line %q", first)
	}
}

// TestDrill_ProxyOfAppThatBindsPORT is the user's proof on the seed's form:
// two processes of an app that only listens on $PORT behind a proxy.
// status shows each process in rotation, and drill, finding the URL on the
// proxy by itself, sees no request fail across a rolling reload that
// replaced both processes.
func TestDrill_ProxyOfAppThatBindsPORT(t *testing.T) {
	port := freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "" }
component "web" {
  command = { %q, "simulate", "http", "--port-env", "PORT" },
  instances = 2,
  proxy = "tcp://127.0.0.1:%d",
  kill_timeout = "5s",
}
`, thorpBin, port))
	startThorpRunning(t, cfg)
	out, _, code := thorpCmd(t, "status", "-c", cfg)
	if code != exitOK {
		t.Fatalf("status: exit %d", code)
	}
	for _, row := range []string{"#0", "#1"} {
		if r := rowOf(out, row); !strings.Contains(r, "running") || !strings.Contains(r, "in rotation") || !strings.Contains(r, "port ") {
			t.Errorf("status row %s = %q, want a running process in rotation with its port:\n%s", row, r, out)
		}
	}
	out, _, _ = thorpCmd(t, "describe", "web", "-c", cfg)
	if want := fmt.Sprintf("tcp://127.0.0.1:%d (tcp)", port); !strings.Contains(out, want) {
		t.Errorf("describe lacks the proxy %q:\n%s", want, out)
	}

	// No --url: drill finds the proxy (the component has no socket).
	out, errOut, code := thorpCmd(t, "drill", "web", "--duration", "3s", "--json", "-c", cfg)
	if code != exitOK {
		t.Fatalf("drill: exit %d\n%s\n%s", code, out, errOut)
	}
	var rep struct {
		Passed   bool  `json:"passed"`
		Requests int   `json:"requests"`
		Failed   int   `json:"failed"`
		During   int   `json:"during_restart"`
		After    int   `json:"after_restart"`
		OldPIDs  []int `json:"old_pids"`
		NewPIDs  []int `json:"new_pids"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !rep.Passed || rep.Failed != 0 || rep.Requests < 50 || rep.During == 0 || rep.After < 10 {
		t.Fatalf("drill report: %s", out)
	}
	if len(rep.OldPIDs) != 2 || len(rep.NewPIDs) != 2 || slices.ContainsFunc(rep.NewPIDs, func(p int) bool { return slices.Contains(rep.OldPIDs, p) }) {
		t.Fatalf("the reload did not replace both processes: %v -> %v", rep.OldPIDs, rep.NewPIDs)
	}
}
