package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// BenchmarkMonitIdle measures the CPU of `thorp monit` left alone in an
// 80x24 terminal (tmux) for 30 s, refreshing every 2 s as by default, its
// log pane following a component that writes a line a second (issue 13's
// figure: under 2 % of a core). components is how many rows it draws.
func BenchmarkMonitIdle(b *testing.B) {
	tmux := lookTmux(b)
	for _, n := range []int{2, 50} {
		b.Run(fmt.Sprintf("components=%d", n), func(b *testing.B) {
			var cfg strings.Builder
			cfg.WriteString("settings { http = \"\" }\n")
			cfg.WriteString(`component "ticker" { command = { "sh", "-c", "while true; do echo tock line; sleep 1; done" }, max_memory_restart = "100MB" }` + "\n")
			for i := 1; i < n; i++ {
				fmt.Fprintf(&cfg, "component \"idle-%d\" { command = { \"sleep\", \"100000\" }, max_memory_restart = \"100MB\" }\n", i)
			}
			path := writeConfig(b, cfg.String())
			startThorpRunning(b, path)
			pidFile := filepath.Join(b.TempDir(), "pid")
			// exec keeps the shell's pid, which the shell wrote down.
			tm := newTmux(b, tmux, 80, 24, "echo $$ > "+pidFile+"; exec "+thorpBin+" monit -c "+path)
			waitFor(b, 15*time.Second, "monit to draw", func() bool {
				return strings.Contains(tm.capture(), "tock line")
			})
			raw, err := os.ReadFile(pidFile)
			if err != nil {
				b.Fatal(err)
			}
			pid, err := strconv.Atoi(strings.TrimSpace(string(raw)))
			if err != nil {
				b.Fatal(err)
			}
			time.Sleep(2 * time.Second) // settle after the first frames
			_, cpu0 := procStat(b, pid)
			window := 30 * time.Second
			b.ResetTimer()
			time.Sleep(window)
			b.StopTimer()
			rss, cpu1 := procStat(b, pid)
			b.ReportMetric((cpu1-cpu0)/window.Seconds()*100, "cpu-%")
			b.ReportMetric(float64(rss)/(1<<20), "rss-MiB")
			if !strings.Contains(tm.capture(), "tock line") {
				b.Fatalf("monit stopped showing the log:\n%s", tm.capture())
			}
		})
	}
}
