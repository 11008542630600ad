package main

import (
	"os"
	"strings"
	"testing"
	"time"
)

func running(st statusJSON, name string) int {
	n := 0
	for _, c := range st.Components {
		if c.Name != name {
			continue
		}
		for _, in := range c.Instances {
			if in.State == "running" && in.PID > 0 {
				n++
			}
		}
	}
	return n
}

func component(t *testing.T, st statusJSON, name string) (c struct {
	restarts int
	byReason map[string]int
}) {
	t.Helper()
	for _, x := range st.Components {
		if x.Name == name {
			c.restarts, c.byReason = x.Restarts, x.RestartsByReason
			return c
		}
	}
	t.Fatalf("no component %q in status", name)
	return c
}

func TestReset_ZeroesTheCounters(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "flaky" { command = {"sh", "-c", "exit 1"}, restart_delay = "0s", max_restarts = 2, retry_errored_after = "0s" }
component "steady" { command = {"sleep", "1000"} }
`)
	startThorp(t, cfg)
	waitFor(t, 20*time.Second, "flaky errored", func() bool {
		for _, c := range status(t, cfg).Components {
			if c.Name == "flaky" {
				return c.State == "errored"
			}
		}
		return false
	})
	if c := component(t, status(t, cfg), "flaky"); c.restarts == 0 {
		t.Fatalf("flaky has no restarts to reset: %+v", c)
	}
	if out, errOut, code := thorpCmd(t, "restart", "steady", "-c", cfg); code != exitOK {
		t.Fatalf("restart steady: exit %d\n%s%s", code, out, errOut)
	}
	out, errOut, code := thorpCmd(t, "reset", "flaky", "-c", cfg)
	if code != exitOK {
		t.Fatalf("reset: exit %d\n%s%s", code, out, errOut)
	}
	if !strings.Contains(out, "flaky") || strings.Contains(out, "steady") {
		t.Errorf("reset prints the table of what it reset:\n%s", out)
	}
	st := status(t, cfg)
	if c := component(t, st, "flaky"); c.restarts != 0 || c.byReason["crash"] != 0 {
		t.Errorf("after reset flaky: %+v", c)
	}
	if in := componentStatus(t, cfg, "flaky").Instances[0]; in.Restarts != 0 {
		t.Errorf("after reset flaky's instance 0 still counts %d restarts", in.Restarts)
	}
	if c := component(t, st, "steady"); c.byReason["manual"] != 1 {
		t.Errorf("steady was not named, yet: %+v", c)
	}
	desc, _, _ := thorpCmd(t, "describe", "flaky", "-c", cfg)
	if strings.Contains(desc, "last restart:") || !strings.Contains(desc, "reset") {
		t.Errorf("describe after the reset shows a last restart or no reset event:\n%s", desc)
	}
	if _, errOut, code := thorpCmd(t, "reset", "all", "-c", cfg); code != exitOK {
		t.Fatalf("reset all: exit %d: %s", code, errOut)
	}
	if c := component(t, status(t, cfg), "steady"); c.restarts != 0 {
		t.Errorf("after reset all steady: %+v", c)
	}
	_, errOut, code = thorpCmd(t, "reset", "nope", "-c", cfg)
	if code != exitFailed || !strings.Contains(errOut, `unknown component nope`) {
		t.Errorf("reset nope: exit %d, %q", code, errOut)
	}
	if _, _, code := thorpCmd(t, "reset", "-c", cfg); code != exitUsage {
		t.Errorf("reset without a name: exit %d, want %d", code, exitUsage)
	}
}

func TestScale_RuntimeCountUntilTheFileChanges(t *testing.T) {
	body := `settings { http = "" }
component "pool" { command = {"sleep", "1000"}, instances = 2 }
`
	cfg := writeConfig(t, body)
	startThorpRunning(t, cfg)

	out, errOut, code := thorpCmd(t, "scale", "pool", "4", "-c", cfg)
	if code != exitOK {
		t.Fatalf("scale 4: exit %d\n%s%s", code, out, errOut)
	}
	// scale waits: the new instances run when it returns.
	if n := running(status(t, cfg), "pool"); n != 4 {
		t.Fatalf("%d instances running after scale 4", n)
	}
	for _, args := range [][]string{{"scale", "pool", "4"}, {"status"}} {
		out, _, _ := thorpCmd(t, append(args, "-c", cfg)...)
		if !strings.Contains(out, "pool: 4 instances (scaled, thorp.lua says 2)") {
			t.Errorf("thorp %v does not say it is scaled:\n%s", args, out)
		}
	}
	desc, _, _ := thorpCmd(t, "describe", "pool", "-c", cfg)
	if !strings.Contains(desc, "scaled, thorp.lua says 2") {
		t.Errorf("describe does not say it is scaled:\n%s", desc)
	}

	// An unchanged file keeps the scaled count.
	if out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != exitOK {
		t.Fatalf("reload-config: exit %d\n%s%s", code, out, errOut)
	}
	if n := running(status(t, cfg), "pool"); n != 4 {
		t.Fatalf("%d instances running after a reload of the unchanged file, want the scaled 4", n)
	}

	// Down, then a file whose instances changed wins.
	if _, errOut, code := thorpCmd(t, "scale", "pool", "1", "-c", cfg); code != exitOK {
		t.Fatalf("scale 1: exit %d: %s", code, errOut)
	}
	if st := status(t, cfg); running(st, "pool") != 1 || len(st.Components[0].Instances) != 1 {
		t.Fatalf("after scale 1: %+v", st.Components[0].Instances)
	}
	if err := os.WriteFile(cfg, []byte(strings.Replace(body, "instances = 2", "instances = 3", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if out, errOut, code := thorpCmd(t, "reload-config", "-c", cfg); code != exitOK {
		t.Fatalf("reload-config: exit %d\n%s%s", code, out, errOut)
	}
	waitFor(t, 10*time.Second, "the file's 3 instances", func() bool { return running(status(t, cfg), "pool") == 3 })
	if out, _, _ := thorpCmd(t, "status", "-c", cfg); strings.Contains(out, "scaled") {
		t.Errorf("status still says scaled after the file changed:\n%s", out)
	}

	for _, tt := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"scale", "nope", "2"}, exitFailed, "unknown component nope"},
		{[]string{"scale", "pool", "0"}, exitUsage, "from 1 to 1024"},
		{[]string{"scale", "pool", "1025"}, exitUsage, "from 1 to 1024"},
		{[]string{"scale", "pool"}, exitUsage, "like thorp scale web 4"},
	} {
		_, errOut, code := thorpCmd(t, append(tt.args, "-c", cfg)...)
		if code != tt.code || !strings.Contains(errOut, tt.want) {
			t.Errorf("thorp %v: exit %d (want %d), stderr %q (want %q)", tt.args, code, tt.code, errOut, tt.want)
		}
	}
}

// TestScale_ProxiedJoinsAndLeavesTheRotation: a proxied component scaled
// up has every new process in rotation when scale returns; scaled down,
// the removed ones are gone and the balancer keeps serving.
func TestScale_ProxiedJoinsAndLeavesTheRotation(t *testing.T) {
	p := startProxied(t, proxyConf{mode: "http"})
	before := p.status(t).inRotation()
	if out, errOut, code := thorpCmd(t, "scale", "app", "4", "-c", p.cfg); code != exitOK {
		t.Fatalf("scale 4: exit %d\n%s%s", code, out, errOut)
	}
	up := p.status(t).inRotation()
	if len(up) != 4 {
		t.Fatalf("in rotation after scale 4: %v (before %v)", up, before)
	}
	l := startLoad(t, p.url, clients, true)
	l.waitOK(t, 200, l.t0)
	if out, errOut, code := thorpCmd(t, "scale", "app", "1", "-c", p.cfg); code != exitOK {
		t.Fatalf("scale 1: exit %d\n%s%s", code, out, errOut)
	}
	down := time.Now()
	l.waitOK(t, 100, down)
	l.stop()
	if l.failed.Load() != 0 {
		t.Fatalf("requests failed while scaling: %s", l.report())
	}
	if got := p.status(t).inRotation(); len(got) != 1 {
		t.Fatalf("in rotation after scale 1: %v", got)
	}
	for _, pid := range up[1:] {
		if alive(pid) {
			t.Errorf("pid %d of a removed instance still runs", pid)
		}
	}
}
