package main

import (
	"bytes"
	"regexp"
	"strings"
	"testing"

	"github.com/thorp-dev/thorp/engine"
)

func TestHumanDuration(t *testing.T) {
	for _, tt := range []struct {
		sec  float64
		want string
	}{
		{0, "-"}, {0.4, "0s"}, {45, "45s"}, {61, "1m1s"}, {3600, "1h0m"}, {3*3600 + 4*60, "3h4m"},
		{47 * 3600, "47h0m"}, {53 * 3600, "2d5h"},
	} {
		if got := humanDuration(tt.sec); got != tt.want {
			t.Errorf("humanDuration(%v) = %q, want %q", tt.sec, got, tt.want)
		}
	}
}

func TestPrintStatusTable(t *testing.T) {
	var b bytes.Buffer
	printStatusTable(&b, []engine.Status{
		{Name: "api", State: engine.StateRunning, PID: 42, UptimeSeconds: 75, Restarts: 3,
			RestartsByReason: map[string]int{"memory": 2, "crash": 1, "manual": 0},
			MemoryBytes:      100 << 20, MemoryLimitBytes: 150 << 20, MemoryGrowthPercentPerHour: 578},
		{Name: "db", State: engine.StateStopped},
	})
	out := b.String()
	for _, want := range []string{"NAME", "api", "running", "42", "1m15s", "3 (crash 1, memory 2)",
		"100 MiB / 150 MiB (+578%/h)", "db", "stopped"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "\x1b[") {
		t.Errorf("colours written to a non-terminal:\n%q", out)
	}
}

// proxiedStatus is a proxied component in the middle of a rolling restart:
// instance 0 replaced (its old process draining), instance 1 in rotation.
func proxiedStatus() engine.Status {
	return engine.Status{Name: "api", State: engine.StateRunning, PID: 101, UptimeSeconds: 5, Restarts: 1,
		RestartsByReason: map[string]int{"manual": 1},
		Instances: []engine.InstanceStatus{
			{Index: 0, PID: 101, State: engine.StateRunning, UptimeSeconds: 5, MemoryBytes: 20 << 20, Port: 40001, Rotation: engine.RotationIn, Connections: 1},
			{Index: 1, PID: 102, State: engine.StateRunning, UptimeSeconds: 65, MemoryBytes: 30 << 20, Port: 40002, Rotation: engine.RotationIn, Connections: 3},
		},
		Proxy: &engine.ProxyStatus{Listen: "tcp://0.0.0.0:3000", Mode: "http", ConnectionsTotal: 1234, Active: 6,
			Errors:   map[string]uint64{"refused": 2, "timeout": 1, "reset": 0},
			Requests: map[string]uint64{"200": 1200, "502": 2},
			Backends: []engine.BackendStatus{
				{Instance: 0, PID: 99, Port: 40000, Rotation: engine.RotationDraining, Connections: 2},
				{Instance: 0, PID: 101, Port: 40001, Rotation: engine.RotationIn, Connections: 1},
				{Instance: 1, PID: 102, Port: 40002, Rotation: engine.RotationIn, Connections: 3},
			}},
	}
}

// squeeze collapses the padding of aligned columns to one space.
func squeeze(s string) string {
	return regexp.MustCompile(` {2,}`).ReplaceAllString(s, " ")
}

// rowOf returns the line of out whose first field is first, "" if none.
func rowOf(out, first string) string {
	for _, l := range strings.Split(out, "\n") {
		if f := strings.Fields(l); len(f) > 0 && f[0] == first {
			return l
		}
	}
	return ""
}

func TestPrintStatusTable_Proxy(t *testing.T) {
	var b bytes.Buffer
	printStatusTable(&b, []engine.Status{proxiedStatus(), {Name: "db", State: engine.StateRunning, PID: 7,
		Instances: []engine.InstanceStatus{{Index: 0, PID: 7, State: engine.StateRunning}}}})
	out := b.String()
	for first, want := range map[string][]string{
		"api": {"running 2/2", "1 (manual 1)"},
		"#0":  {"running", "101", "20 MiB", "port 40001, in rotation, 1 connection"},
		"#1":  {"running", "102", "1m5s", "30 MiB", "port 40002, in rotation, 3 connections"},
	} {
		row := rowOf(out, first)
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("row %s lacks %q:\n%s", first, w, out)
			}
		}
	}
	if row := rowOf(out, "api"); strings.Contains(row, "101") {
		t.Errorf("the component row of two instances shows instance 0's pid: %s", row)
	}
	if row := rowOf(out, "#0"); strings.Contains(rowOf(out, "#0"), "99") {
		t.Errorf("instance row shows the replaced process: %s", row)
	}
	lines := strings.Split(out, "\n")
	var replaced string
	for _, l := range lines {
		if strings.Contains(l, "(replaced)") {
			replaced = l
		}
	}
	if !strings.Contains(replaced, "#0 (replaced)") || !strings.Contains(replaced, "99") || !strings.Contains(replaced, "port 40000, draining, 2 connections") {
		t.Errorf("no row for the draining replaced process:\n%s", out)
	}
	// The instance rows sit under api, and db (no proxy) has none.
	if !strings.HasPrefix(lines[2], "  #0") || !strings.HasPrefix(lines[5], "db ") || len(lines) != 7 {
		t.Errorf("rows out of place:\n%s", out)
	}
	// Columns stay aligned: the pid column starts at one offset in every row.
	col := strings.Index(lines[0], "PID")
	for _, l := range lines[1:6] {
		if l[col-1] != ' ' || l[col] == ' ' {
			t.Errorf("pid column misaligned at %d in %q\n%s", col, l, out)
		}
	}
}

// A component of three instances, one healthy, one in backoff, one
// errored: the component row counts the running ones instead of reading
// "backoff" with instance 0's pid; memory is the sum without the
// per-process limit, which each instance row shows beside its own.
func TestPrintStatusTable_Instances(t *testing.T) {
	st := engine.Status{Name: "web", State: engine.StateBackoff, PID: 28900, Restarts: 4,
		RestartsByReason: map[string]int{"crash": 3, "exit": 1}, MemoryBytes: 300 << 20, MemoryLimitBytes: 150 << 20,
		CPUPercent: 12.5, Instances: []engine.InstanceStatus{
			{Index: 0, PID: 28900, State: engine.StateRunning, UptimeSeconds: 300, MemoryBytes: 200 << 20, CPUPercent: 12.5},
			{Index: 1, State: engine.StateBackoff, Restarts: 3, MemoryBytes: 100 << 20},
			{Index: 2, State: engine.StateErrored, Restarts: 1}}}
	var b bytes.Buffer
	printStatusTable(&b, []engine.Status{st})
	out := squeeze(b.String())
	for _, want := range []string{
		"web running 1/3 - - 4 (crash 3, exit 1) 300 MiB 12%\n",
		"#0 running 28900 5m0s 0 200 MiB / 150 MiB 12%\n",
		"#1 backoff - - 3 100 MiB / 150 MiB 0%\n",
		"#2 errored - - 1 - / 150 MiB 0%\n",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	st.Instances[0].State = engine.StateErrored
	b.Reset()
	printStatusTable(&b, []engine.Status{st})
	if out := squeeze(b.String()); !strings.Contains(out, "web backoff 0/3 ") {
		t.Errorf("none running: want the aggregate state with 0/3:\n%s", out)
	}
}

// describe shows "-" for the pid of an instance or a component that has
// no process, never pid 0.
func TestPrintDetail_NoProcessNoPID(t *testing.T) {
	var b bytes.Buffer
	printDetail(&b, engine.Detail{Status: engine.Status{Name: "web", State: engine.StateBackoff, PID: 28900,
		MemoryLimitBytes: 150 << 20, Instances: []engine.InstanceStatus{
			{Index: 0, PID: 28900, State: engine.StateRunning, UptimeSeconds: 300, MemoryBytes: 200 << 20},
			{Index: 1, State: engine.StateBackoff, Restarts: 3}}}})
	out := squeeze(b.String())
	for _, want := range []string{"state: running 1/2\n", "instance 0: running pid 28900 up 5m0s, 0 restarts, memory 200 MiB, cpu 0%\n",
		"instance 1: backoff pid - up -, 3 restarts, memory -, cpu 0%\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	b.Reset()
	printDetail(&b, engine.Detail{Status: engine.Status{Name: "db", State: engine.StateStopped,
		Instances: []engine.InstanceStatus{{Index: 0, State: engine.StateStopped}}}})
	if out := squeeze(b.String()); !strings.Contains(out, "pid: -\n") {
		t.Errorf("describe of a stopped component: want pid -:\n%s", out)
	}
}

func TestPrintDetail_Proxy(t *testing.T) {
	var b bytes.Buffer
	printDetail(&b, engine.Detail{Status: proxiedStatus()})
	out := squeeze(b.String())
	for _, want := range []string{
		"proxy: tcp://0.0.0.0:3000 (http), 6 active, 1234 total, errors refused 2, timeout 1, responses 200 1200, 502 2",
		"instance 0: running pid 101 up 5s, 0 restarts, memory 20 MiB, cpu 0%, port 40001, in rotation, 1 connection",
		"instance 1: running pid 102 up 1m5s, 0 restarts, memory 30 MiB, cpu 0%, port 40002, in rotation, 3 connections",
		"instance 0: replaced, pid 99, port 40000, draining, 2 connections",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}

	// tcp mode: no responses; a single proxied instance still shows its port.
	st := proxiedStatus()
	st.Instances = st.Instances[:1]
	st.Proxy.Mode, st.Proxy.Requests, st.Proxy.Errors, st.Proxy.Backends = "tcp", nil, nil, st.Proxy.Backends[1:2]
	b.Reset()
	printDetail(&b, engine.Detail{Status: st})
	out = squeeze(b.String())
	for _, want := range []string{"tcp://0.0.0.0:3000 (tcp), 6 active, 1234 total, errors 0\n", "running pid 101 up 5s, 0 restarts, memory 20 MiB, cpu 0%, port 40001, in rotation, 1 connection\n"} {
		if !strings.Contains(out, want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "replaced") || strings.Contains(out, "responses") {
		t.Errorf("describe of a tcp proxy without replaced processes:\n%s", out)
	}
}

func TestPrintDetail_NoProxyUnchanged(t *testing.T) {
	var b bytes.Buffer
	printDetail(&b, engine.Detail{Status: engine.Status{Name: "one", State: engine.StateRunning, PID: 3,
		Instances: []engine.InstanceStatus{{Index: 0, PID: 3, State: engine.StateRunning}}}})
	if out := b.String(); strings.Contains(out, "instance") || strings.Contains(out, "proxy") || strings.Contains(out, "port") {
		t.Errorf("describe of a plain single instance:\n%s", out)
	}
}
