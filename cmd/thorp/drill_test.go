package main

import (
	"bytes"
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
