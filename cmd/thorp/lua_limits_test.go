package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rssBound is the peak RSS a thorp may reach on any of the Lua inputs below:
// the 64 MiB ceiling plus thorp itself and the garbage collector's headroom.
// Before the ceiling, they reached 1 GiB or killed thorp.
const rssBound = 400 << 20

// TestCheck_LuaInputsBounded runs `thorp check` on each Lua input that used
// to run for a minute past the 5 s evaluation limit, allocate a GiB, crash
// thorp or print 10 MB: each must end within the limit, in a problem at its
// thorp.lua line, with a short message and a bounded peak RSS.
func TestCheck_LuaInputsBounded(t *testing.T) {
	tests := []struct {
		name, src, want string
	}{
		{"catastrophic pattern", `string.find(string.rep("a",400), ".-.-.-b")`, "thorp.lua:1: string.find: pattern"},
		{"string.rep 1 GiB", `string.rep("x", 2^30)`, "thorp.lua:1: string.rep: result of 1 GiB is over the memory ceiling of 64 MiB (settings.plugins.max_memory)"},
		{"table grown in a loop", "local t = {}\nfor i = 1, 1e10 do t[i] = i end", "thorp.lua:2: grew thorp's memory past the ceiling of 64 MiB"},
		{"error with a table", "\nerror({})", "thorp.lua:2: (error object is a table value without __tostring)"},
		{"error with 10 MB", `error(string.rep("A",1e7))`, "bytes cut)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := writeConfig(t, tt.src+"\n")
			out, rss, wall := runMeasured(t, thorpBin, "check", "-c", cfg)
			t.Logf("%v, peak RSS %d MiB", wall, rss>>20)
			if !strings.Contains(out, tt.want) {
				t.Errorf("output does not contain %q:\n%.2000s", tt.want, out)
			}
			if strings.Contains(out, "table: 0x") {
				t.Errorf("output shows a table's address:\n%s", out)
			}
			if len(out) > 4096 {
				t.Errorf("output is %d bytes", len(out))
			}
			if wall > 6*time.Second {
				t.Errorf("thorp check took %v, past the 5s evaluation limit", wall)
			}
			if rss > rssBound {
				t.Errorf("thorp check peaked at %d MiB RSS", rss>>20)
			}
		})
	}
}

// runMeasured runs a command to its end and returns its combined output,
// peak RSS (the kernel's maxrss, VmHWM at exit) and wall time.
func runMeasured(t *testing.T, name string, args ...string) (string, int64, time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	start := time.Now()
	err := cmd.Run()
	wall := time.Since(start)
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("%s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %v still running after 90s", name, args)
	}
	ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
	if ru == nil {
		t.Fatal("no resource usage")
	}
	return out.String(), ru.Maxrss << 10, wall
}

func thorpLog(cfg string) string {
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(cfg), "logs", "thorp.log"))
	return string(b)
}

// TestRun_HookCannotStarveReady gives every start a hook that runs the
// catastrophic pattern and a hook that loops for its whole 8s limit. The
// innocent component's ready function runs in another Lua state, so it is
// running within its 5s listen_timeout (it used to wait behind the hooks and
// fail its start); the looping hook is stopped at its limit and disabled.
func TestRun_HookCannotStarveReady(t *testing.T) {
	cfg := writeConfig(t, `
settings { http = "", plugins = { timeout = "8s" } }
component "innocent" {
  command = { "sleep", "1000" },
  listen_timeout = "5s",
  ready = function() return true end,
}
on("start", function(ev) string.find(string.rep("a",400), ".-.-.-b") end)
on("start", function(ev) while true do end end)
`)
	r := startThorp(t, cfg)
	start := time.Now()
	if out, errOut, code := thorpCmd(t, "start", "all", "-c", cfg); code != exitOK {
		t.Fatalf("start all: exit %d\n%s\n%s\n%s", code, out, errOut, thorpLog(cfg))
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("innocent took %v to be running", d)
	}
	for _, c := range status(t, cfg).Components {
		if c.State != "running" {
			t.Fatalf("%s is %s", c.Name, c.State)
		}
	}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("thorp.log:\n%s", thorpLog(cfg))
		}
	})
	waitFor(t, 40*time.Second, "the pattern hook's error and the looping hook disabled", func() bool {
		l := thorpLog(cfg)
		return strings.Contains(l, "too costly") && strings.Contains(l, `hook disabled: it overran its limit`)
	})
	if rss := peakRSS(t, r.cmd.Process.Pid); rss > rssBound {
		t.Errorf("thorp run peaked at %d MiB RSS", rss>>20)
	}
}

// TestRun_HookKeepingMemoryIsBounded gives every start a hook that keeps
// 200 MiB in a global, and restarts the component a few times: the hook is
// stopped at the 64 MiB ceiling and disabled, its state replaced, and
// thorp's peak RSS stays bounded (it used to grow by 200 MiB per event).
func TestRun_HookKeepingMemoryIsBounded(t *testing.T) {
	cfg := writeConfig(t, `
settings { http = "", plugins = { timeout = "30s" } }
component "web" { command = { "sleep", "1000" } }
keep = {}
on("start", function(ev)
  local t = {}
  for i = 1, 200 * 2^20 / 16 do t[i] = i end
  keep[#keep + 1] = t
end)
`)
	r := startThorpRunning(t, cfg)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("thorp.log:\n%s", thorpLog(cfg))
		}
	})
	for i := range 3 {
		if out, errOut, code := thorpCmd(t, "restart", "web", "-c", cfg); code != exitOK {
			t.Fatalf("restart %d: exit %d\n%s\n%s", i, code, out, errOut)
		}
	}
	waitFor(t, 60*time.Second, "the hook disabled and its state replaced", func() bool {
		l := thorpLog(cfg)
		return strings.Contains(l, `hook disabled: it overran`) && strings.Contains(l, "replaced by a fresh evaluation")
	})
	if l := thorpLog(cfg); !strings.Contains(l, "grew thorp's memory past the ceiling of 64 MiB") || !strings.Contains(l, "thorp.lua:5") {
		t.Errorf("thorp.log does not name the ceiling and the hook's line:\n%s", l)
	}
	if rss := peakRSS(t, r.cmd.Process.Pid); rss > rssBound {
		t.Errorf("thorp run peaked at %d MiB RSS", rss>>20)
	}
}
