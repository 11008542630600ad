package main

import (
	"bytes"
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
