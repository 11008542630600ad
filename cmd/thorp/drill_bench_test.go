package main

import (
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
)

// BenchmarkDrill is `thorp drill` on the seed scenario: the repo's own
// thorp.lua (its three addresses moved to free loopback ports, everything
// else as shipped: two leaking `thorp-system` processes behind the http
// proxy, `cache` before them) run by a real thorp, and b.N rounds (at least
// 3) of `thorp drill thorp-system --duration 3s --json`: 4 clients on fresh
// connections, a rolling reload of both processes a third of the way in.
// It reports the requests sent and failed over all rounds and the longest
// time without a successful answer (median and max of the rounds), and
// fails when a request failed or a round's load did not cover its reload
// (the seed promises no failed request).
func BenchmarkDrill(b *testing.B) {
	seed, err := os.ReadFile("../../thorp.lua")
	if err != nil {
		b.Fatal(err)
	}
	cfg := string(seed)
	for _, addr := range []struct{ old, format string }{
		{`http = "127.0.0.1:9615"`, `http = "127.0.0.1:%d"`},
		{`"--port", "3101"`, `"--port", "%d"`},
		{`listen = "tcp://127.0.0.1:3100"`, `listen = "tcp://127.0.0.1:%d"`},
	} {
		if strings.Count(cfg, addr.old) != 1 {
			b.Fatalf("the seed thorp.lua no longer has %s once: update this benchmark", addr.old)
		}
		cfg = strings.Replace(cfg, addr.old, fmt.Sprintf(addr.format, freeTCPPort(b)), 1)
	}
	path := writeConfig(b, cfg)
	startThorpRunning(b, path)

	rounds := max(b.N, 3)
	var requests, failed int
	var gaps []float64
	b.ResetTimer()
	for range rounds {
		out, errOut, code := thorpCmd(b, "drill", "thorp-system", "--duration", "3s", "--json", "-c", path)
		var rep struct {
			Passed     bool    `json:"passed"`
			Requests   int     `json:"requests"`
			Failed     int     `json:"failed"`
			DowntimeMS float64 `json:"downtime_ms"`
			During     int     `json:"during_restart"`
			After      int     `json:"after_restart"`
		}
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			b.Fatalf("drill (exit %d): %v\n%s\n%s", code, err, out, errOut)
		}
		if rep.During == 0 || rep.After == 0 {
			b.Fatalf("the drill's load did not cover the reload: %s", out)
		}
		if !rep.Passed || code != exitOK {
			b.Errorf("drill failed (exit %d): %s", code, out)
		}
		requests += rep.Requests
		failed += rep.Failed
		gaps = append(gaps, rep.DowntimeMS)
	}
	b.StopTimer()
	b.ReportMetric(float64(requests), "requests")
	b.ReportMetric(float64(failed), "failed")
	b.ReportMetric(median(gaps), "gap-median-ms")
	b.ReportMetric(slices.Max(gaps), "gap-max-ms")
	b.ReportMetric(float64(rounds), "reloads")
}
