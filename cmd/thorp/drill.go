package main

import (
	"context"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/drill"
)

func init() {
	commands["drill"] = command{summary: "restart a component under synthetic load; report failed requests and downtime", run: cmdDrill}
}

const drillUsage = `drill [-c FILE] NAME [--url URL] [--duration 6s] [--concurrency 4] [--action reload|restart] [--json]

Sends GET requests to the component from several workers (fresh connections,
loopback), restarts it a third of the way in (reload by default: zero-downtime
with restart_mode = "overlap", and a rolling replacement of every process
behind a proxy), and reports requests, failures, success rate,
the longest gap without a successful answer and latencies. The URL defaults to
the component's proxy (its listen address, on loopback when it listens on
every interface), else its first tcp socket. Exit 1 when any request failed, the
restart failed, the downtime exceeded --max-downtime, or the load did not
cover the restart (no request in flight during it or none after it), so it
can gate a deploy.`

func cmdDrill(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("drill", drillUsage, stderr)
	cfgPath := configFlag(fs)
	url := fs.String("url", "", "`URL` to request (default: http:// on the component's proxy, else its first tcp socket)")
	duration := fs.Duration("duration", 6*time.Second, "how long the load runs")
	concurrency := fs.Int("concurrency", 4, "workers sending requests")
	action := fs.String("action", "reload", "restart action: reload or restart")
	asJSON := fs.Bool("json", false, "print the validation report as JSON")
	maxDowntime := fs.Duration("max-downtime", 0, "also fail when the longest gap without a successful answer exceeds this (0: failed requests only)")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(names) != 1 || (*action != "reload" && *action != "restart") || *duration <= 0 || *concurrency < 1 {
		fs.Usage()
		return exitUsage
	}
	name := names[0]
	cfg, problems := readConfig(*cfgPath, activeProfile(""))
	if cfg == nil {
		printProblems(stderr, problems.Errors())
		return exitFailed
	}
	cc := cfg.Component(name)
	if cc == nil {
		fmt.Fprintf(stderr, "thorp drill: unknown component %q in %s; known: %s\n", termSafe(name), *cfgPath, termSafe(strings.Join(cfg.Names(), ", ")))
		return exitFailed
	}
	if *url == "" {
		*url = drillURL(cc)
		if *url == "" {
			fmt.Fprintf(stderr, "thorp drill: component %q has no tcp proxy or socket; give --url\n", name)
			return exitUsage
		}
	}
	client := controlClient(cfg, *cfgPath)
	before, err := client.Describe(ctx, name)
	if err != nil {
		return clientExit(stderr, err)
	}
	if !*asJSON {
		fmt.Fprintf(stderr, "drilling %s: %s of load on %s, %s at %s\n", name, *duration, *url, *action, *duration/3)
	}
	rep, err := drill.Run(ctx, drill.Options{URL: *url, Duration: *duration, Concurrency: *concurrency,
		Restart: func(ctx context.Context) error {
			_, err := client.Act(ctx, *action, []string{name}, true)
			return err
		}})
	if err != nil {
		fmt.Fprintf(stderr, "thorp drill: %s\n", termSafeErr(err))
		return exitFailed
	}
	after, _ := client.Describe(ctx, name)
	passed := rep.Failed == 0 && rep.RestartError == "" && rep.Covered() &&
		(*maxDowntime <= 0 || rep.DowntimeMS <= float64(maxDowntime.Milliseconds()))
	if *asJSON {
		writeJSON(stdout, drillReport{Component: name, Action: *action, OldPID: before.PID, NewPID: after.PID,
			OldPIDs: instancePIDs(before.Status), NewPIDs: instancePIDs(after.Status),
			RestartMode: cc.RestartMode, Passed: passed, Report: rep})
	} else {
		printDrill(stdout, name, *action, before.Status, after.Status, rep, passed)
	}
	if !passed {
		return exitFailed
	}
	return exitOK
}

// drillReport is `thorp drill --json`.
type drillReport struct {
	Component   string `json:"component"`
	Action      string `json:"action"`
	RestartMode string `json:"restart_mode"`
	OldPID      int    `json:"old_pid"`
	NewPID      int    `json:"new_pid"`
	// OldPIDs and NewPIDs list every instance's pid when there are several.
	OldPIDs []int `json:"old_pids,omitempty"`
	NewPIDs []int `json:"new_pids,omitempty"`
	Passed  bool  `json:"passed"`
	drill.Report
}

// drillURL is where drill sends its load by default: http:// on the
// component's proxy when it has one on tcp (the address its clients use),
// else on its first tcp socket (by name); "" when neither.
func drillURL(cc *config.Component) string {
	if cc.Proxy != nil {
		if u := tcpURL(cc.Proxy.Listen); u != "" {
			return u
		}
	}
	names := make([]string, 0, len(cc.Sockets))
	for n := range cc.Sockets {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if u := tcpURL(cc.Sockets[n]); u != "" {
			return u
		}
	}
	return ""
}

// tcpURL is http:// on a "tcp://host:port" address, "" for any other. An
// address on every interface (0.0.0.0, ::, no host) is reached on loopback.
func tcpURL(addr string) string {
	hostport, ok := strings.CutPrefix(addr, "tcp://")
	if !ok {
		return ""
	}
	host, port, err := net.SplitHostPort(hostport)
	if err != nil {
		return ""
	}
	switch host {
	case "", "0.0.0.0":
		host = "127.0.0.1"
	case "::":
		host = "::1"
	}
	return "http://" + net.JoinHostPort(host, port) + "/"
}

// instancePIDs lists the pid of each instance when st has several, nil
// otherwise.
func instancePIDs(st engine.Status) []int {
	if len(st.Instances) < 2 {
		return nil
	}
	pids := make([]int, len(st.Instances))
	for i, in := range st.Instances {
		pids[i] = in.PID
	}
	return pids
}

// joinInts is "1,2,3", "-" for none.
func joinInts(ns []int) string {
	if len(ns) == 0 {
		return "-"
	}
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ",")
}

func printDrill(w io.Writer, name, action string, before, after engine.Status, rep drill.Report, passed bool) {
	verdict := "PASS"
	if !passed {
		verdict = "FAIL"
	}
	pids := fmt.Sprintf("pid %d -> %d", before.PID, after.PID)
	if old, cur := instancePIDs(before), instancePIDs(after); old != nil || cur != nil {
		pids = fmt.Sprintf("pids %s -> %s", joinInts(old), joinInts(cur))
	}
	fmt.Fprintf(w, "%s: %s of %s (%s) took %.0f ms\n", verdict, action, name, pids, rep.RestartMS)
	fmt.Fprintf(w, "  requests  %d, failed %d, success rate %.4f%%\n", rep.Requests, rep.Failed, rep.SuccessRate*100)
	fmt.Fprintf(w, "  coverage  %d in flight during the restart, %d after it\n", rep.DuringRestart, rep.AfterRestart)
	if !rep.Covered() {
		fmt.Fprintf(w, "  the load did not cover the restart; give a longer --duration\n")
	}
	fmt.Fprintf(w, "  downtime  %.0f ms (longest gap between successful answers around the restart)\n", rep.DowntimeMS)
	fmt.Fprintf(w, "  latency   p50 %.1f ms, p99 %.1f ms, max %.1f ms\n", rep.LatencyP50MS, rep.LatencyP99MS, rep.LatencyMaxMS)
	for _, e := range rep.Errors {
		fmt.Fprintf(w, "  error     %s\n", termSafe(e))
	}
	if rep.RestartError != "" {
		fmt.Fprintf(w, "  restart   %s\n", termSafe(rep.RestartError))
	}
}
