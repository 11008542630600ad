package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// BenchmarkPID1 measures thorp run as PID 1 of a new PID namespace (issue
// 15's figures), each run a fresh namespace:
//
//   - orphans=1000: a component leaves 990 orphaned grandchildren (half of
//     them through setsid) and a process entering the namespace 10 more,
//     all released at once; "zombies" is the most left in any run 60 s
//     after (must be 0), "reap-ms" the median time from their release to
//     none left, live or zombie (polled every 10 ms).
//   - components=20: 20 components (sleep, which dies at SIGTERM), all
//     running; "sigterm-to-exit-ms" is the median (and "max-ms" the
//     longest) time from the SIGTERM the benchmark sends to thorp's exit
//     (cmd.Wait returning), exit code 0 checked. ",chain" makes each depend on the one before, so they
//     stop one after another.
func BenchmarkPID1(b *testing.B) {
	b.Run("orphans=1000", func(b *testing.B) {
		worst := 0
		var reap []time.Duration
		for range b.N {
			cfg, gate := orphanConfig(b, 495, "")
			r := startPID1(b, cfg)
			zombies, took := orphansReaped(b, r, gate, 990)
			worst = max(worst, zombies)
			reap = append(reap, took)
			_ = r.cmd.Process.Signal(syscall.SIGTERM)
			if code := r.exit(b, 60*time.Second); code != exitOK {
				b.Fatalf("exit code %d:\n%s", code, r.stderr)
			}
		}
		b.ReportMetric(float64(worst), "zombies")
		b.ReportMetric(float64(median(reap).Microseconds())/1000, "reap-ms")
		if worst != 0 {
			b.Errorf("%d zombies left after 1,000 orphaned grandchildren exited", worst)
		}
	})
	for _, chain := range []bool{false, true} {
		name := "components=20"
		if chain {
			name += ",chain"
		}
		b.Run(name, func(b *testing.B) {
			var cfg strings.Builder
			cfg.WriteString("settings { http = \"\" }\n")
			for i := range 20 {
				dep := ""
				if chain && i > 0 {
					dep = fmt.Sprintf(", depends_on = { \"c%d\" }", i-1)
				}
				fmt.Fprintf(&cfg, "component \"c%d\" { command = { \"sleep\", \"100000\" }%s }\n", i, dep)
			}
			var took []time.Duration
			for range b.N {
				path := filepath.Join(b.TempDir(), "thorp.lua")
				if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
					b.Fatal(err)
				}
				r := startPID1(b, path)
				waitFor(b, 60*time.Second, "20 components running", func() bool {
					st := status(b, path)
					for _, c := range st.Components {
						if c.State != "running" {
							return false
						}
					}
					return len(st.Components) == 20
				})
				began := time.Now()
				_ = r.cmd.Process.Signal(syscall.SIGTERM)
				if code := r.exit(b, 60*time.Second); code != exitOK {
					b.Fatalf("exit code %d:\n%s", code, r.stderr)
				}
				took = append(took, time.Since(began))
			}
			b.ReportMetric(float64(median(took).Microseconds())/1000, "sigterm-to-exit-ms")
			b.ReportMetric(float64(slices.Max(took).Microseconds())/1000, "max-ms")
		})
	}
}
