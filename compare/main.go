// Command compare runs the same workloads under thorp, PM2 and supervisord
// in one run and prints one table: each figure for the three, and thorp's
// as a ratio of the other two. `make compare` installs PM2 and supervisord
// into a temporary directory (install.sh) and runs it:
//
//	go run ./compare -thorp bin/thorp -tools DIR
//
// Workloads (docs/benchmarks.md, "Comparison"): the supervisors' own CPU
// and RSS with 1, 10 and 50 idle components, side by side through one
// window; crash → respawn with each one's fastest restart settings; a
// 20 MiB/s leak against a 150 MiB memory limit (thorp and PM2);
// failed requests across each one's restart command under load; log
// throughput to the last line and lines lost across size rotation. Every
// process it starts is stopped by pid before it exits, also on Ctrl-C.
// Loopback only; about 5 minutes.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	_ "embed"
)

//go:embed app.js
var appJS []byte

// supLabels orders the table's columns; supervisor.label() names them.
var supLabels = []string{"thorp", "PM2", "supervisord"}

// row is one figure of the table for each supervisor, in supLabels order.
type row struct {
	figure string
	prec   int  // decimals
	plain  bool // no ratios: the figure is a description more than a quantity
	vals   [3]float64
	has    [3]bool
	notes  [3]string
}

func (r *row) set(k int, v float64) { r.vals[k], r.has[k] = v, true }

func (r row) cell(k int) string {
	if !r.has[k] {
		if r.notes[k] != "" {
			return r.notes[k]
		}
		return "—"
	}
	s := fmt.Sprintf("%.*f", r.prec, r.vals[k])
	if r.notes[k] != "" {
		s += " (" + r.notes[k] + ")"
	}
	return s
}

// ratio is thorp's figure divided by column k's.
func (r row) ratio(k int) string {
	if r.plain || !r.has[0] || !r.has[k] {
		return "—"
	}
	if r.vals[k] == 0 {
		if r.vals[0] == 0 {
			return "= (both 0)"
		}
		return "∞"
	}
	v := r.vals[0] / r.vals[k]
	switch {
	case v == 0:
		return "0"
	case math.Abs(v) < 0.01:
		return fmt.Sprintf("%.4f", v)
	default:
		return fmt.Sprintf("%.2f", v)
	}
}

func main() {
	os.Exit(run())
}

func run() int {
	thorpBin := flag.String("thorp", "bin/thorp", "thorp `binary` to measure")
	toolsDir := flag.String("tools", "", "`directory` install.sh installed PM2 and supervisord into (required)")
	idleWindow := flag.Duration("idle-window", 60*time.Second, "CPU measuring window of the idle workload (PM2's daemon works every 30 s)")
	keep := flag.Bool("keep", false, "keep the run's scratch directory (configs, logs, stamps) under -tools")
	only := flag.String("only", "", "comma-separated workloads to run (idle,crash,crashloop,memory,requests,logs); default all")
	flag.Parse()
	if *toolsDir == "" {
		flag.Usage()
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := compare(ctx, os.Stdout, *thorpBin, *toolsDir, *idleWindow, *only, *keep); err != nil {
		fmt.Fprintln(os.Stderr, "compare:", err)
		return 1
	}
	return 0
}

func compare(ctx context.Context, out io.Writer, thorpBin, toolsDir string, idleWindow time.Duration, only string, keep bool) error {
	var err error
	if thorpBin, err = filepath.Abs(thorpBin); err != nil {
		return err
	}
	if toolsDir, err = filepath.Abs(toolsDir); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(toolsDir, "run-")
	if err != nil {
		return err
	}
	if keep {
		fmt.Fprintln(os.Stderr, "compare: keeping", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	r := &runner{tools: tools{thorp: thorpBin, dir: toolsDir}, dir: dir,
		workload: filepath.Join(dir, "workload"), app: filepath.Join(dir, "app.js")}
	if r.sleep, err = exec.LookPath("sleep"); err != nil {
		return err
	}
	if err := os.WriteFile(r.app, appJS, 0o644); err != nil {
		return err
	}
	build := exec.CommandContext(ctx, "go", "build", "-trimpath", "-o", r.workload, "./compare/workload")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("building compare/workload: %w\n%s", err, b)
	}
	versions, err := versionsOf(ctx, r)
	if err != nil {
		return err
	}
	load0, _ := os.ReadFile("/proc/loadavg")
	start := time.Now()

	want := func(name string) bool {
		return only == "" || strings.Contains(","+only+",", ","+name+",")
	}
	var rows []row
	steps := []struct {
		name string
		run  func() ([]row, error)
	}{
		{"idle", func() ([]row, error) { return r.idle(ctx, []int{1, 10, 50}, idleWindow) }},
		{"crash", func() ([]row, error) { return r.crash(ctx) }},
		{"crashloop", func() ([]row, error) { return r.crashLoop(ctx, 30*time.Second) }},
		{"memory", func() ([]row, error) { return r.memory(ctx, 150*time.Second) }},
		{"requests", func() ([]row, error) { return r.requests(ctx, 3) }},
		{"logs", func() ([]row, error) { return r.logs(ctx, 500_000, 10<<20) }},
	}
	for _, st := range steps {
		if !want(st.name) {
			continue
		}
		fmt.Fprintf(os.Stderr, "compare: %s (%s so far)\n", st.name, time.Since(start).Round(time.Second))
		got, err := st.run()
		if err != nil {
			return fmt.Errorf("%s: %w", st.name, err)
		}
		rows = append(rows, got...)
	}
	load1, _ := os.ReadFile("/proc/loadavg")

	fmt.Fprintf(out, "\n%s; %s\n", versions, time.Now().UTC().Format("2006-01-02 15:04 UTC"))
	fmt.Fprintf(out, "load average at start %s, at end %s; run took %s\n\n",
		strings.Join(strings.Fields(string(load0))[:3], " "), strings.Join(strings.Fields(string(load1))[:3], " "),
		time.Since(start).Round(time.Second))
	fmt.Fprintln(out, "| figure | thorp | PM2 | supervisord | thorp ÷ PM2 | thorp ÷ supervisord |")
	fmt.Fprintln(out, "|---|---|---|---|---|---|")
	for _, rw := range rows {
		fmt.Fprintf(out, "| %s | %s | %s | %s | %s | %s |\n", rw.figure, rw.cell(0), rw.cell(1), rw.cell(2), rw.ratio(1), rw.ratio(2))
	}
	return nil
}

// versionsOf names what is compared: thorp's version, PM2's, supervisord's
// and node's.
func versionsOf(ctx context.Context, r *runner) (string, error) {
	v := func(env []string, argv ...string) (string, error) {
		out, err := runCmd(ctx, env, argv...)
		return strings.TrimSpace(out), err
	}
	th, err := v(nil, r.thorp, "version")
	if err != nil {
		return "", err
	}
	// PM2's own CLI might start a daemon to answer; its package says it.
	var pkg struct{ Version string }
	b, err := os.ReadFile(filepath.Join(r.tools.dir, "pm2/node_modules/pm2/package.json"))
	if err != nil {
		return "", err
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		return "", err
	}
	sv, err := v([]string{"PYTHONPATH=" + r.pythonPath()}, "/usr/bin/python3", "-m", "supervisor.supervisord", "--version")
	if err != nil {
		return "", err
	}
	node, err := v(nil, "node", "--version")
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%s; PM2 %s (node %s); supervisord %s (Debian 12's package, python3)",
		strings.Split(th, "\n")[0], pkg.Version, node, sv), nil
}
