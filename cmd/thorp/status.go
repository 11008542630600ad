package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

func init() {
	commands["status"] = command{summary: "table of components and their instances: state, pid, uptime, restarts, memory against the per-process limit, cpu % (alias ls)", run: cmdStatus}
	commands["describe"] = command{summary: "everything about one component (or each of @TAG), with recent events", run: cmdDescribe}
}

const statusUsage = `status [-c FILE] [--json] [NAME...|@TAG...]

Prints a row per component and, under a component of more than one
instance (or with a proxy), a row per instance, as pm2 ls does: id, state,
pid, uptime, that instance's restarts, its memory against
max_memory_restart (a limit per process) and its CPU (% of one core
between the last two samples). The row of a component of several
instances counts the running ones (running 2/3), leaves pid and uptime to
the instance rows, and shows their memory summed without the limit and
their CPU summed. --json prints the same figures (instances[].restarts,
instances[].cpu_percent). A name that is no component exits 1.`

const describeUsage = `describe [-c FILE] [--json] NAME|@TAG

Prints everything about one component (each of @TAG): state, restarts by
reason, last exit, memory and its growth, CPU now and in all, its config
(sizes as written, the binary figure beside: 150MB (143.1 MiB)), log
files, a line per instance when there are several (state, pid, uptime,
restarts, memory, CPU) and the last 20 events with their reasons. A name
that is no component exits 1.`

func cmdStatus(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("status", statusUsage, stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, `print {"components": [...], "profile": "…"} as JSON (profile only when one is active)`)
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := clientFor(*cfgPath)
	info, err := client.Info(ctx)
	if err != nil {
		return clientExit(stderr, err)
	}
	comps, err := client.Components(ctx)
	if err != nil {
		return clientExit(stderr, err)
	}
	if len(names) > 0 {
		if comps, err = filterStatus(comps, names); err != nil {
			return clientExit(stderr, err)
		}
	}
	if *asJSON {
		out := map[string]any{"components": comps}
		if info.Profile != "" {
			out["profile"] = info.Profile
		}
		return writeJSON(stdout, out)
	}
	if info.Profile != "" {
		fmt.Fprintf(stdout, "env profile: %s\n", termSafe(info.Profile))
	}
	printStatusTable(stdout, comps)
	return exitOK
}

// stateColors are ANSI colours of equal length, so a coloured column keeps
// the table aligned.
var stateColors = map[engine.State]string{
	engine.StateRunning:  "\x1b[32m",
	engine.StateStarting: "\x1b[33m",
	engine.StateBackoff:  "\x1b[33m",
	engine.StateStopping: "\x1b[33m",
	engine.StateErrored:  "\x1b[31m",
	engine.StateStopped:  "\x1b[90m",
}

// useColor reports whether w is a terminal and NO_COLOR is not set.
func useColor(w io.Writer) bool {
	return os.Getenv("NO_COLOR") == "" && isTerminal(w)
}

func stateCell(st engine.State, color bool) string {
	if !color {
		return termSafe(string(st))
	}
	return stateColors[st] + termSafe(string(st)) + "\x1b[0m"
}

// filterStatus keeps the components names selects (names, "@TAG",
// "all"), in declaration order; a name or tag that selects nothing is an
// error.
func filterStatus(all []engine.Status, names []string) ([]engine.Status, error) {
	order := make([]string, len(all))
	tags := map[string][]string{}
	for i, st := range all {
		order[i] = st.Name
		tags[st.Name] = st.Tags
	}
	sel, unknown := config.Select(order, func(n string) []string { return tags[n] }, names)
	if len(unknown) > 0 {
		return nil, fmt.Errorf("%w %s; known: %s", engine.ErrUnknownComponent, strings.Join(unknown, ", "),
			strings.Join(config.Known(order, func(n string) []string { return tags[n] }), ", "))
	}
	var out []engine.Status
	for _, st := range all {
		if slices.Contains(sel, st.Name) {
			out = append(out, st)
		}
	}
	return out, nil
}

func writeJSON(w io.Writer, v any) int {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(v); err != nil {
		return exitFailed
	}
	return exitOK
}

// printStatusTable prints the status table people read: a row per
// component and, under a component with more than one instance or a
// proxy, a row per instance (see instanceRows).
//
// A component row of several instances reads "running 2/3" (instances
// running of those configured, or its aggregate state with 0/3 when none
// runs) and leaves PID and UPTIME to the instance rows; its MEMORY is the
// sum over the instances, without max_memory_restart, a per-process limit
// that each instance row shows beside its own figure. CPU is % of one core
// between the last two samples.
func printStatusTable(w io.Writer, comps []engine.Status) {
	color := useColor(w)
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	header := "STATE"
	if color {
		header = "\x1b[39mSTATE\x1b[0m" // same invisible width as a coloured state
	}
	fmt.Fprintf(tw, "NAME\t%s\tPID\tUPTIME\tRESTARTS\tMEMORY\tCPU\n", header)
	for _, st := range comps {
		if len(st.Instances) > 1 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t%s\t%s\t%s\n", termSafe(st.Name), countedStateCell(st, color),
				restartsCell(st), sizeOrDash(st.MemoryBytes), cpuCell(st.CPUPercent))
		} else {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", termSafe(st.Name), stateCell(st.State, color), pidCell(st.PID),
				humanDuration(st.UptimeSeconds), restartsCell(st), memoryCell(st), cpuCell(st.CPUPercent))
		}
		printInstanceRows(tw, st, color)
	}
	tw.Flush()
	if len(comps) == 0 {
		fmt.Fprintln(w, "(no components)")
	}
	for _, st := range comps {
		if !st.Autostart && st.State == engine.StateStopped && st.Message != "" {
			fmt.Fprintf(w, "%s: %s\n", termSafe(st.Name), termSafe(st.Message))
		}
		if st.Scale != nil {
			fmt.Fprintf(w, "%s: %s\n", termSafe(st.Name), scaleCell(st.Scale))
		}
	}
}

// scaleCell is a runtime instance count for people.
func scaleCell(s *engine.ScaleStatus) string {
	return fmt.Sprintf("%d instances (scaled, thorp.lua says %d)", s.Instances, s.ConfigInstances)
}

// countedStateCell is the state of a component of several instances:
// "running 2/3" while any runs, else its aggregate state, "errored 0/3".
func countedStateCell(st engine.Status, color bool) string {
	running := 0
	for _, in := range st.Instances {
		if in.State == engine.StateRunning {
			running++
		}
	}
	state := st.State
	if running > 0 {
		state = engine.StateRunning
	}
	text := termSafe(fmt.Sprintf("%s %d/%d", state, running, len(st.Instances)))
	if !color {
		return text
	}
	code := stateColors[state]
	if running > 0 && running < len(st.Instances) {
		code = stateColors[engine.StateStarting] // yellow: some are not running
	}
	return code + text + "\x1b[0m"
}

// cpuCell is a CPU percentage: "0%", "12%", "3.5%".
func cpuCell(pct float64) string {
	if pct < 10 && pct != 0 {
		return fmt.Sprintf("%.1f%%", pct)
	}
	return fmt.Sprintf("%.0f%%", pct)
}

func sizeOrDash(n int64) string {
	if n > 0 {
		return config.Size(n).String()
	}
	return "-"
}

// printInstanceRows adds, under a component with more than one instance
// or a proxy, one row per instance: id, state, pid, uptime, restarts,
// memory against the per-process limit and CPU; then, behind a proxy, any
// replaced process still draining. Behind a proxy the last cell (outside
// the columns) is the process's $PORT, rotation and open connections.
func printInstanceRows(tw io.Writer, st engine.Status, color bool) {
	if len(st.Instances) < 2 && st.Proxy == nil {
		return
	}
	for _, in := range st.Instances {
		mem := sizeOrDash(in.MemoryBytes)
		if st.MemoryLimitBytes > 0 {
			mem += " / " + config.Size(st.MemoryLimitBytes).String()
		}
		row := fmt.Sprintf("  #%d\t%s\t%s\t%s\t%d\t%s\t%s", in.Index, stateCell(in.State, color), pidCell(in.PID),
			humanDuration(in.UptimeSeconds), in.Restarts, mem, cpuCell(in.CPUPercent))
		if st.Proxy != nil {
			row += "\t" + rotationCell(in.Port, in.Rotation, in.Connections)
		}
		fmt.Fprintln(tw, row)
	}
	for _, b := range replacedBackends(st) {
		fmt.Fprintf(tw, "  #%d (replaced)\t\t%s\t\t\t\t\t%s\n", b.Instance, pidCell(b.PID), rotationCell(b.Port, b.Rotation, b.Connections))
	}
}

// replacedBackends are the processes behind st's balancer that are not an
// instance's current process: the old ones of overlap restarts, draining.
func replacedBackends(st engine.Status) []engine.BackendStatus {
	if st.Proxy == nil {
		return nil
	}
	current := map[int]bool{}
	for _, in := range st.Instances {
		current[in.PID] = true
	}
	var out []engine.BackendStatus
	for _, b := range st.Proxy.Backends {
		if !current[b.PID] {
			out = append(out, b)
		}
	}
	return out
}

func pidCell(pid int) string {
	if pid > 0 {
		return fmt.Sprint(pid)
	}
	return "-"
}

// rotationCell is one proxied process for people: "port 40123, in
// rotation, 2 connections".
func rotationCell(port int, rotation string, conns int) string {
	p := "port -"
	if port > 0 {
		p = fmt.Sprintf("port %d", port)
	}
	if rotation == "" {
		rotation = engine.RotationOut
	}
	c := "connections"
	if conns == 1 {
		c = "connection"
	}
	return termSafe(fmt.Sprintf("%s, %s, %d %s", p, rotation, conns, c))
}

// proxyCell is a balancer for people: its address and mode, connections
// open and accepted, errors and (http mode) responses by code.
func proxyCell(p *engine.ProxyStatus) string {
	s := fmt.Sprintf("%s (%s), %d active, %d total, errors %s", p.Listen, p.Mode, p.Active, p.ConnectionsTotal, countsCell(p.Errors))
	if p.Mode == config.ProxyHTTP {
		s += ", responses " + countsCell(p.Requests)
	}
	return s
}

// countsCell renders counts by key, sorted: "refused 1, timeout 2"; "0"
// when there are none.
func countsCell(m map[string]uint64) string {
	var parts []string
	for k, n := range m {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", k, n))
		}
	}
	if len(parts) == 0 {
		return "0"
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func restartsCell(st engine.Status) string {
	if st.Restarts == 0 {
		return "0"
	}
	var parts []string
	for r, n := range st.RestartsByReason {
		if n > 0 {
			parts = append(parts, fmt.Sprintf("%s %d", termSafe(r), n))
		}
	}
	sort.Strings(parts)
	return fmt.Sprintf("%d (%s)", st.Restarts, strings.Join(parts, ", "))
}

func memoryCell(st engine.Status) string {
	mem := "-"
	if st.MemoryBytes > 0 {
		mem = config.Size(st.MemoryBytes).String()
	}
	if st.MemoryLimitBytes > 0 {
		mem += " / " + config.Size(st.MemoryLimitBytes).String()
	}
	if st.MemoryGrowthPercentPerHour != 0 {
		mem += fmt.Sprintf(" (%+.0f%%/h)", st.MemoryGrowthPercentPerHour)
	}
	return mem
}

// humanDuration renders seconds as 45s, 12m, 3h4m, 2d5h.
func humanDuration(sec float64) string {
	if sec <= 0 {
		return "-"
	}
	d := time.Duration(sec * float64(time.Second))
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%ds", int(d.Minutes()), int(d.Seconds())%60)
	case d < 48*time.Hour:
		return fmt.Sprintf("%dh%dm", int(d.Hours()), int(d.Minutes())%60)
	default:
		return fmt.Sprintf("%dd%dh", int(d.Hours())/24, int(d.Hours())%24)
	}
}

func cmdDescribe(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("describe", describeUsage, stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, "print JSON: the status object plus config and events (a list of them for @TAG)")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(names) != 1 {
		fmt.Fprintln(stderr, "thorp describe: give exactly one component name or @tag")
		return exitUsage
	}
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	client := clientFor(*cfgPath)
	if !strings.HasPrefix(names[0], config.TagPrefix) {
		d, err := client.Describe(ctx, names[0])
		if err != nil {
			return clientExit(stderr, err)
		}
		if *asJSON {
			return writeJSON(stdout, d)
		}
		printDetail(stdout, d)
		return exitOK
	}
	// @TAG: every component tagged TAG, one after the other.
	details, err := client.DescribeTag(ctx, names[0])
	if err != nil {
		return clientExit(stderr, err)
	}
	if *asJSON {
		return writeJSON(stdout, details)
	}
	for i, d := range details {
		if i > 0 {
			fmt.Fprintln(stdout)
		}
		printDetail(stdout, d)
	}
	return exitOK
}

func printDetail(w io.Writer, d engine.Detail) {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	// Every value is formatted first and printed through termSafe.
	row := func(k, format string, a ...any) { fmt.Fprintf(tw, "%s:\t%s\n", k, termSafe(fmt.Sprintf(format, a...))) }
	row("name", "%s", d.Name)
	if len(d.Tags) > 0 {
		row("tags", "%s", strings.Join(d.Tags, ", "))
	}
	multi := len(d.Instances) > 1 // pid, uptime and the limit are per instance, below
	if multi {
		row("state", "%s", countedStateCell(d.Status, false))
	} else {
		row("state", "%s", d.State)
	}
	if d.Message != "" {
		row("why", "%s", d.Message)
	}
	if !multi {
		row("pid", "%s", pidCell(d.PID))
		row("uptime", "%s", humanDuration(d.UptimeSeconds))
	}
	row("restarts", "%s", restartsCell(d.Status))
	if d.LastRestartReason != "" {
		row("last restart", "%s", d.LastRestartReason)
	}
	if d.LastExit != nil {
		how := fmt.Sprintf("code %d", d.LastExit.Code)
		if d.LastExit.Signal != "" {
			how = "signal " + d.LastExit.Signal
		}
		row("last exit", "%s at %s", how, d.LastExit.Time.Format(time.RFC3339))
	}
	if multi {
		row("memory", "%s in all (max_memory_restart is per instance)", sizeOrDash(d.MemoryBytes))
	} else {
		row("memory", "%s", memoryCell(d.Status))
	}
	if d.MemoryGrowthBytesPerHour != 0 {
		row("growth", "%s/h (%+.1f%%/h)", config.Size(int64(d.MemoryGrowthBytesPerHour)), d.MemoryGrowthPercentPerHour)
	}
	if d.MemoryTimeToLimitSeconds > 0 {
		row("limit in", "%s", humanDuration(d.MemoryTimeToLimitSeconds))
	}
	row("cpu", "%s now, %.2fs in all", cpuCell(d.CPUPercent), d.CPUSeconds)
	if critical, _ := d.Config["critical"].(bool); critical {
		row("critical", "yes: when it ends errored, thorp run stops everything and exits %d", exitCritical)
	}
	for _, k := range []string{"command", "cwd", "depends_on", "max_memory_restart", "restart_delay", "min_uptime", "max_restarts", "kill_timeout"} {
		if v, ok := d.Config[k]; ok {
			row(strings.ReplaceAll(k, "_", " "), "%v", v)
		}
	}
	if d.Profile != "" {
		how := "not defined here: env only"
		if _, ok := d.Config["env_"+d.Profile]; ok {
			how = "env_" + d.Profile + " merged over env"
		}
		row("env profile", "%s (%s)", d.Profile, how)
	}
	for _, l := range d.Logs {
		row("log "+l.Stream, "%s (%s written, %d rotations, %s dropped)", l.Path, config.Size(l.Bytes), l.Rotations, config.Size(l.DroppedBytes))
	}
	if d.Proxy != nil {
		row("proxy", "%s", proxyCell(d.Proxy))
	}
	if d.Scale != nil {
		row("instances", "%s", scaleCell(d.Scale))
	}
	if len(d.Instances) > 1 || d.Proxy != nil {
		for _, in := range d.Instances {
			proc := ""
			if d.Proxy != nil {
				proc = ", " + rotationCell(in.Port, in.Rotation, in.Connections)
			}
			row(fmt.Sprintf("instance %d", in.Index), "%s pid %s up %s, %d restarts, memory %s, cpu %s%s", in.State, pidCell(in.PID),
				humanDuration(in.UptimeSeconds), in.Restarts, sizeOrDash(in.MemoryBytes), cpuCell(in.CPUPercent), proc)
		}
	}
	for _, b := range replacedBackends(d.Status) {
		row(fmt.Sprintf("instance %d", b.Instance), "replaced, pid %d, %s", b.PID, rotationCell(b.Port, b.Rotation, b.Connections))
	}
	tw.Flush()
	fmt.Fprintln(w, "\nrecent events:")
	evs := d.Events
	if len(evs) > 20 {
		evs = evs[len(evs)-20:]
	}
	for _, ev := range evs {
		fmt.Fprintf(w, "  %s  %s\n", ev.Time.Format("2006-01-02 15:04:05.000"), formatEvent(ev))
	}
}

// formatEvent renders an event for people, through termSafe.
func formatEvent(ev engine.Event) (s string) {
	var b strings.Builder
	defer func() { s = termSafe(b.String()) }()
	b.WriteString(ev.Type)
	if ev.Alert != "" && ev.Alert != string(ev.Reason) { // "alert (memory)", not "alert memory (memory)"
		b.WriteString(" " + ev.Alert)
	}
	if ev.Reason != "" {
		fmt.Fprintf(&b, " (%s)", ev.Reason)
	}
	if ev.PID > 0 {
		fmt.Fprintf(&b, " pid %d", ev.PID)
	}
	if ev.Message != "" {
		b.WriteString(": " + ev.Message)
	}
	if len(ev.Fields) > 0 {
		var kv []string
		for _, k := range slices.Sorted(maps.Keys(ev.Fields)) {
			kv = append(kv, k+"="+fieldValue(ev.Fields[k]))
		}
		b.WriteString(" [" + strings.Join(kv, " ") + "]")
	}
	return ""
}

// fieldValue is an alert field's value as formatEvent shows it: quoted
// when it is empty or holds a space, a quote or a bracket.
func fieldValue(v string) string {
	if v == "" || strings.ContainsAny(v, " \t\"[]") {
		return strconv.Quote(v)
	}
	return v
}
