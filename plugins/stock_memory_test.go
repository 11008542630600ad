package plugins_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

// memoryPolicy evaluates a thorp.lua whose component "api" has the
// memory_policy policy (Lua code, after the lines in prelude) and returns
// that function.
func memoryPolicy(t *testing.T, prelude, policy string) config.Func {
	t.Helper()
	path := writeLua(t, prelude+`
component "api" { command = "true", max_memory_restart = "100MB", memory_policy = `+policy+` }
`)
	raw, _, ps := evaluate(t, path, plugins.Options{})
	if len(ps) != 0 {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	fn, ok := raw.Components[0].Values["memory_policy"].(config.Func)
	if !ok {
		t.Fatalf("memory_policy is a %T", raw.Components[0].Values["memory_policy"])
	}
	return fn
}

// sample is a memory_policy argument as engine/memory.go builds it, for a
// limit of 100 MB.
func sample(memory, growthPerHour, cpu float64) map[string]any {
	return map[string]any{
		"component": "api", "instance": 0, "rss": int64(memory), "pss": int64(0), "memory": int64(memory),
		"limit": int64(100e6), "growth_per_hour": growthPerHour, "uptime": 3600.0, "restarts": 0, "cpu": cpu,
	}
}

func callPolicy(t *testing.T, fn config.Func, arg map[string]any) any {
	t.Helper()
	v, err := fn.Call(t.Context(), arg, 5*time.Second)
	if err != nil {
		t.Fatalf("memory_policy: %v", err)
	}
	return v
}

func TestStock_PredictiveMemory(t *testing.T) {
	fn := memoryPolicy(t, `local predictive_memory = require "thorp.policies.predictive_memory"`,
		`predictive_memory{ within = "10m", cpu_below = 20 }`)
	if w := fn.Where(); !strings.HasPrefix(w, "thorp.policies.predictive_memory:") {
		t.Errorf("policy at %q", w)
	}
	tests := []struct {
		name                string
		memory, growth, cpu float64
		want                any
	}{
		{"over the limit", 101e6, 0, 90, "restart"},
		{"not growing", 99e6, 0, 5, nil},
		{"shrinking", 99e6, -1e6, 5, nil},
		{"crossing in an hour", 50e6, 50e6, 5, nil},
		{"crossing in 8 minutes, CPU low", 92e6, 60e6, 5, "restart"},
		{"crossing in 8 minutes, CPU busy", 92e6, 60e6, 80, nil},
		{"crossing in 2 minutes, CPU busy", 98e6, 60e6, 80, "restart"},
		{"crossing in 12 minutes, CPU low", 88e6, 60e6, 5, nil},
	}
	for _, tt := range tests {
		if got := callPolicy(t, fn, sample(tt.memory, tt.growth, tt.cpu)); got != tt.want {
			t.Errorf("%s: %v, want %v", tt.name, got, tt.want)
		}
	}
	// Starting up: a heap filled in the first seconds is no leak.
	young := sample(50e6, 35e9, 5)
	young["uptime"] = 2.5
	if got := callPolicy(t, fn, young); got != nil {
		t.Errorf("2.5 s after its start, growing 35 GB/h: %v, want nil (warmup)", got)
	}
	young["uptime"] = 170.0
	if got := callPolicy(t, fn, young); got != nil {
		t.Errorf("170 s after its start (its start still in the 2-minute fit), growing 35 GB/h: %v, want nil (warmup)", got)
	}
	young["uptime"] = 180.0
	if got := callPolicy(t, fn, young); got != "restart" {
		t.Errorf("3 minutes after its start, growing 35 GB/h: %v, want restart", got)
	}
	young["uptime"], young["memory"] = 2.5, int64(101e6)
	if got := callPolicy(t, fn, young); got != "restart" {
		t.Errorf("2.5 s after its start, over the limit: %v, want restart", got)
	}
	noLimit := sample(500e6, 1e9, 0)
	noLimit["limit"] = int64(0)
	if got := callPolicy(t, fn, noLimit); got != nil {
		t.Errorf("without a limit: %v, want nil", got)
	}
}

// windows returns a quiet_hours window around the current local time and
// one that excludes it, each two hours from now.
func windows() (inside, outside string) {
	now := time.Now()
	hm := func(d time.Duration) string { return now.Add(d).Format("15:04") }
	return hm(-2*time.Hour) + "-" + hm(2*time.Hour), hm(2*time.Hour) + "-" + hm(4*time.Hour)
}

func TestStock_QuietHours(t *testing.T) {
	inside, outside := windows()
	prelude := `local quiet_hours = require "thorp.policies.quiet_hours"
local predictive_memory = require "thorp.policies.predictive_memory"`
	tests := []struct {
		name   string
		policy string
		arg    map[string]any
		want   any
	}{
		{"over the limit in the window", `quiet_hours{ window = "` + inside + `", ceiling = "300MB" }`, sample(150e6, 0, 0), "restart"},
		{"over the limit outside the window: deferred", `quiet_hours{ window = "` + outside + `", ceiling = "300MB" }`, sample(150e6, 0, 0), nil},
		{"over the ceiling outside the window", `quiet_hours{ window = "` + outside + `", ceiling = "300MB" }`, sample(301e6, 0, 0), "restart"},
		{"under the limit in the window", `quiet_hours{ window = "` + inside + `", ceiling = "300MB" }`, sample(50e6, 0, 0), nil},
		{"a wrapped policy's restart, deferred", `quiet_hours{ window = "` + outside + `", ceiling = "300MB", policy = predictive_memory{ within = "10m" } }`, sample(95e6, 60e6, 0), nil},
		{"a wrapped policy's restart, in the window", `quiet_hours{ window = "` + inside + `", ceiling = "300MB", policy = predictive_memory{ within = "10m" } }`, sample(95e6, 60e6, 0), "restart"},
		{"a wrapped policy's alert passes", `quiet_hours{ window = "` + outside + `", ceiling = "300MB", policy = function() return "alert" end }`, sample(95e6, 0, 0), "alert"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := memoryPolicy(t, prelude, tt.policy)
			if got := callPolicy(t, fn, tt.arg); got != tt.want {
				t.Errorf("%v, want %v", got, tt.want)
			}
		})
	}
}

func TestStock_BadOptions(t *testing.T) {
	tests := []struct{ code, want string }{
		{`require("thorp.policies.quiet_hours"){ window = "2-5", ceiling = "1G" }`, `thorp.lua:2: quiet_hours: window must be "HH:MM-HH:MM"`},
		{`require("thorp.policies.quiet_hours"){ window = "02:00-05:00" }`, `thorp.lua:2: quiet_hours: ceiling is required`},
		{`require("thorp.policies.quiet_hours"){ window = "02:00-05:00", ceiling = "1G", restart_every = "1d" }`, `thorp.lua:2: quiet_hours: restart_every: "1d" is not a duration`},
		{`require("thorp.policies.quiet_hours"){ window = "02:00-05:00", ceiling = "1G", restart_every = "1h" }`, `thorp.lua:2: quiet_hours: restart_every needs component`},
		{`require("thorp.policies.predictive_memory"){ within = "soon" }`, `thorp.lua:2: predictive_memory: within: "soon" is not a duration`},
		{`require("thorp.policies.predictive_memory"){ warmup = "later" }`, `thorp.lua:2: predictive_memory: warmup: "later" is not a duration`},
		{`require("thorp.policies.predictive_memory"){ cpu_below = "low" }`, `thorp.lua:2: predictive_memory: cpu_below must be a CPU percentage`},
		{`require("thorp.policies.restart_budget"){ component = "@web" }`, `thorp.lua:2: restart_budget: component must be a component name or "all", got "@web"`},
		{`require("thorp.policies.restart_budget"){ max = 0 }`, `thorp.lua:2: restart_budget: max must be a whole number of restarts, 1 or more, got 0`},
		{`require("thorp.policies.restart_budget"){ action = "panic" }`, `thorp.lua:2: restart_budget: action must be "stop" or "alert", got "panic"`},
		{`require("thorp.policies.restart_budget"){ window = "0s" }`, `thorp.lua:2: restart_budget: window: must be more than 0`},
		{`require("thorp.policies.notify_webhook"){}`, `thorp.lua:2: notify_webhook: url must be the webhook's URL, got nil`},
		{`require("thorp.policies.notify_slack")("x")`, `thorp.lua:2: notify_slack takes a table`},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			path := writeLua(t, "\n"+tt.code+"\n")
			_, _, ps := evaluate(t, path, plugins.Options{})
			if got := strings.Join(problemStrings(ps), "\n"); !strings.Contains(got, tt.want) {
				t.Errorf("problems:\n%s\nwant one containing:\n%s", got, tt.want)
			}
		})
	}
}
