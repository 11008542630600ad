package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"
)

// instanceJSON is the part of an instance in `status --json` these tests read.
type instanceJSON struct {
	Index      int     `json:"index"`
	PID        int     `json:"pid"`
	State      string  `json:"state"`
	Restarts   int     `json:"restarts"`
	MemoryB    int64   `json:"memory_bytes"`
	CPUPercent float64 `json:"cpu_percent"`
}

type componentJSON struct {
	Name             string         `json:"name"`
	State            string         `json:"state"`
	RestartsByReason map[string]int `json:"restarts_by_reason"`
	MemoryLimitBytes int64          `json:"memory_limit_bytes"`
	CPUPercent       *float64       `json:"cpu_percent"`
	Instances        []instanceJSON `json:"instances"`
}

func componentStatus(t *testing.T, cfg, name string) componentJSON {
	t.Helper()
	out, errOut, code := thorpCmd(t, "status", "--json", "-c", cfg, name)
	if code != exitOK {
		t.Fatalf("status --json %s: exit %d: %s", name, code, errOut)
	}
	var st struct{ Components []componentJSON }
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Components) != 1 {
		t.Fatalf("status --json %s: %v\n%s", name, err, out)
	}
	return st.Components[0]
}

// Three instances: #0 burns CPU, #1 exits 0 after a moment (autorestart
// "always", so it restarts with reason exit), #2 sleeps. The status table
// has a component row counting running instances (never instance 0's pid
// under another instance's backoff) and one row per instance with its
// own restarts, memory against the per-process limit and CPU %.
func TestStatus_InstanceRows(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "web" {
  command = [[if [ "$THORP_INSTANCE" = 0 ]; then while :; do :; done; fi; if [ "$THORP_INSTANCE" = 1 ]; then sleep 0.3; exit 0; fi; exec sleep 1000]],
  instances = 3,
  autorestart = "always",
  min_uptime = "0s",
  restart_delay = "200ms",
  max_memory_restart = "100MB",
  memory_interval = "250ms",
}
`)
	startThorp(t, cfg)
	var web componentJSON
	waitFor(t, 30*time.Second, "instance 1 restarted twice and instance 0's CPU measured", func() bool {
		web = componentStatus(t, cfg, "web")
		return len(web.Instances) == 3 && web.Instances[1].Restarts >= 2 && web.Instances[0].CPUPercent > 20
	})
	if web.RestartsByReason["exit"] < 2 || web.RestartsByReason["crash"] != 0 {
		t.Errorf("restarts_by_reason = %v; an exit 0 under always is reason exit, not crash", web.RestartsByReason)
	}
	if web.Instances[0].Restarts != 0 || web.Instances[2].Restarts != 0 {
		t.Errorf("restarts of the steady instances = %d, %d; want 0", web.Instances[0].Restarts, web.Instances[2].Restarts)
	}
	if web.CPUPercent == nil || *web.CPUPercent < web.Instances[0].CPUPercent {
		t.Errorf("component cpu_percent %v is not the instances' sum (instance 0 alone: %.1f)", web.CPUPercent, web.Instances[0].CPUPercent)
	}
	if web.MemoryLimitBytes != 100_000_000 {
		t.Errorf("memory_limit_bytes = %d", web.MemoryLimitBytes)
	}

	out, _, code := thorpCmd(t, "status", "-c", cfg)
	if code != exitOK {
		t.Fatalf("status: exit %d", code)
	}
	row := squeeze(rowOf(out, "web"))
	if !regexp.MustCompile(`^web (running|starting|backoff) [0-3]/3 - - \d+ \(exit \d+\) `).MatchString(row) {
		t.Errorf("component row %q: want a counted state, no pid, restarts by reason", row)
	}
	if strings.Contains(row, "95.4 MiB") {
		t.Errorf("the component row compares the summed memory with the per-process limit: %q", row)
	}
	pid0 := fmt.Sprint(web.Instances[0].PID)
	for i := range 3 {
		r := squeeze(rowOf(out, fmt.Sprintf("#%d", i)))
		if !strings.Contains(r, " / 95.4 MiB ") || !strings.HasSuffix(r, "%") {
			t.Errorf("instance row %q: want memory against the per-process limit and a CPU %%:\n%s", r, out)
		}
	}
	if r := strings.TrimSpace(squeeze(rowOf(out, "#0"))); !strings.HasPrefix(r, "#0 running "+pid0+" ") {
		t.Errorf("instance 0 row %q, want running with pid %s", r, pid0)
	}

	// describe: per-instance lines, the limit as written.
	out, _, _ = thorpCmd(t, "describe", "web", "-c", cfg)
	for _, want := range []string{"max memory restart: 100MB (95.4 MiB)", "instance 1: ", "restarts, memory ", "(max_memory_restart is per instance)"} {
		if !strings.Contains(squeeze(out), want) {
			t.Errorf("describe lacks %q:\n%s", want, out)
		}
	}
	if !regexp.MustCompile(`state: (running|starting|backoff) [0-3]/3\n`).MatchString(squeeze(out)) || strings.Contains(out, "pid: ") {
		t.Errorf("describe of 3 instances: want a counted state and no component pid:\n%s", out)
	}
	if strings.Contains(out, "e+") {
		t.Errorf("describe prints a number in exponent form:\n%s", out)
	}
}

// Unknown names are exit 1 with "unknown component NAME", wherever a name
// is accepted; signal names what it signalled.
func TestUnknownNamesAndSignal(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "a" { command = {"sleep", "1000"} }
component "b" { command = {"sleep", "1000"}, instances = 2 }
`)
	startThorpRunning(t, cfg)
	for _, args := range [][]string{
		{"status", "nope"}, {"status", "--json", "a", "nope"}, {"describe", "nope"}, {"logs", "nope"},
		{"start", "nope"}, {"stop", "nope"}, {"restart", "nope"}, {"reload", "nope"}, {"signal", "HUP", "nope"},
		{"rotate", "nope"}, {"flush", "nope"}, {"reset", "nope"}, {"scale", "nope", "2"}, {"env", "nope"},
		{"drill", "nope"}, {"remove", "nope"},
	} {
		out, errOut, code := thorpCmd(t, append(args, "-c", cfg)...)
		if code != exitFailed || !strings.Contains(errOut, "unknown component") || !strings.Contains(errOut, "nope") {
			t.Errorf("thorp %v: exit %d, stderr %q, stdout %q; want exit 1 naming the unknown component", args, code, errOut, out)
		}
	}

	st := status(t, cfg)
	pids := map[string][]int{}
	for _, c := range st.Components {
		for _, in := range c.Instances {
			pids[c.Name] = append(pids[c.Name], in.PID)
		}
	}
	out, errOut, code := thorpCmd(t, "signal", "HUP", "all", "-c", cfg)
	want := fmt.Sprintf("sent SIGHUP to a (pid %d), b (pids %d, %d)\n", pids["a"][0], pids["b"][0], pids["b"][1])
	// SIGHUP ends sleep, but the answer names the processes signalled,
	// read before the signal: never "no process" or a replacement's pid.
	if code != exitOK || out != want {
		t.Errorf("signal HUP all: exit %d, stdout %q (want %q), stderr %q", code, out, want, errOut)
	}
}

// logs: --lines is -n; --since takes days, Go durations, dates and RFC
// 3339; a log without timestamps is named on stderr instead of printing
// nothing; logs thorp is thorp's own log.
func TestLogs_LinesSinceAndThorp(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "talk" { command = [[for i in 1 2 3 4 5; do echo line$i; done; exec sleep 1000]] }
component "plain" { command = [[echo untimed; exec sleep 1000]], logs = { timestamps = false } }
`)
	startThorpRunning(t, cfg)
	waitFor(t, 10*time.Second, "five lines logged", func() bool {
		out, _, _ := thorpCmd(t, "logs", "talk", "--out", "-c", cfg)
		return strings.Contains(out, "line5")
	})
	out, errOut, code := thorpCmd(t, "logs", "talk", "--out", "--lines", "2", "-c", cfg)
	if code != exitOK || strings.Count(out, "\n") != 2 || !strings.Contains(out, "line4") || !strings.Contains(out, "line5") {
		t.Errorf("logs --lines 2: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	today := time.Now().Format(time.DateOnly)
	for _, since := range []string{"2d", "90m", "1h30m", today, today + " 00:00", time.Now().Add(-time.Hour).Format(time.RFC3339)} {
		out, errOut, code := thorpCmd(t, "logs", "talk", "--out", "--since", since, "-c", cfg)
		if code != exitOK || strings.Count(out, "line") != 5 {
			t.Errorf("logs --since %q: exit %d, stdout %q, stderr %q; want the five lines", since, code, out, errOut)
		}
	}
	future := time.Now().Add(time.Hour).Format("2006-01-02 15:04")
	if out, _, code := thorpCmd(t, "logs", "talk", "--since", future, "-c", cfg); code != exitOK || out != "" {
		t.Errorf("logs --since %q (an hour ahead): exit %d, stdout %q; want nothing", future, code, out)
	}
	if _, errOut, code := thorpCmd(t, "logs", "talk", "--since", "yesterday", "-c", cfg); code != exitUsage || !strings.Contains(errOut, "90m, 2d") {
		t.Errorf("logs --since yesterday: exit %d, stderr %q; want a usage error with the accepted forms", code, errOut)
	}

	out, errOut, code = thorpCmd(t, "logs", "plain", "--out", "--since", "1h", "-c", cfg)
	if code != exitOK || !strings.Contains(errOut, "no timestamps") || !strings.Contains(errOut, "logs.timestamps = false") || !strings.Contains(out, "untimed") {
		t.Errorf("logs --since on a log without timestamps: exit %d, stdout %q, stderr %q; want a note and its last lines", code, out, errOut)
	}

	out, errOut, code = thorpCmd(t, "logs", "thorp", "-c", cfg)
	if code != exitOK || !strings.Contains(out, "msg=") {
		t.Errorf("logs thorp: exit %d, stdout %q, stderr %q; want thorp's own log", code, out, errOut)
	}
	if out, _, _ := thorpCmd(t, "logs", "thorp", "--since", "1h", "-c", cfg); !strings.Contains(out, "msg=") {
		t.Errorf("logs thorp --since 1h: %q; thorp's own lines carry their time", out)
	}
}

// log_file with {instance}: each instance writes its own file, one added
// by scale too, and logs shows every instance's lines, labelled.
func TestLogs_PerInstanceLogFile(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "api" { command = [[echo hello-$THORP_INSTANCE; exec sleep 1000]], instances = 2, log_file = "logs/api-{instance}.log" }
`)
	startThorpRunning(t, cfg)
	shows := func(n int) func() bool {
		return func() bool {
			out, _, _ := thorpCmd(t, "logs", "api", "--out", "-c", cfg)
			for i := range n {
				if !strings.Contains(out, fmt.Sprintf("api#%d/out | ", i)) || !strings.Contains(out, fmt.Sprintf("hello-%d", i)) {
					return false
				}
			}
			return true
		}
	}
	waitFor(t, 10*time.Second, "both instances' lines in thorp logs", shows(2))
	dir := filepath.Join(filepath.Dir(cfg), "logs")
	for i := range 2 {
		b, err := os.ReadFile(filepath.Join(dir, fmt.Sprintf("api-%d.log", i)))
		if err != nil || strings.Count(string(b), "hello-") != 1 || !strings.Contains(string(b), fmt.Sprintf("hello-%d", i)) {
			t.Errorf("api-%d.log: %q, %v; want its instance's line alone", i, b, err)
		}
	}
	if _, errOut, code := thorpCmd(t, "scale", "api", "3", "-c", cfg); code != exitOK {
		t.Fatalf("scale api 3: exit %d, %s", code, errOut)
	}
	waitFor(t, 10*time.Second, "the scaled instance's line in thorp logs", shows(3))

	out, _, _ := thorpCmd(t, "status", "--json", "-c", cfg)
	var st struct {
		Components []struct {
			Logs []struct {
				Stream, Path string
			} `json:"logs"`
		} `json:"components"`
	}
	if err := json.Unmarshal([]byte(out), &st); err != nil || len(st.Components) != 1 {
		t.Fatalf("status --json: %v\n%s", err, out)
	}
	var got []string
	for _, l := range st.Components[0].Logs {
		got = append(got, l.Stream+" "+filepath.Base(l.Path))
	}
	if want := []string{"out api-0.log", "err api-error.log", "out api-1.log", "out api-2.log"}; !slices.Equal(got, want) {
		t.Errorf("status --json logs %v, want %v", got, want)
	}
}

// With logs.format = "json", each line of a shared log file says which
// instance wrote it, and that instance's pid.
func TestLogs_JSONLinesCarryTheInstance(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "", logs = { format = "json" } }
component "api" { command = [[echo hello-$THORP_INSTANCE; exec sleep 1000]], instances = 3 }
`)
	startThorpRunning(t, cfg)
	path := filepath.Join(filepath.Dir(cfg), "logs", "api-out.log")
	type line struct {
		Component string `json:"component"`
		Instance  int    `json:"instance"`
		PID       int    `json:"pid"`
		Msg       string `json:"msg"`
	}
	var lines []line
	waitFor(t, 10*time.Second, "three lines in api-out.log", func() bool {
		b, _ := os.ReadFile(path)
		return strings.Count(string(b), "\n") >= 3
	})
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("line %q: %v", s, err)
		}
		lines = append(lines, l)
	}
	pids := map[int]int{}
	for _, in := range componentStatus(t, cfg, "api").Instances {
		pids[in.Index] = in.PID
	}
	seen := map[int]bool{}
	for _, l := range lines {
		if l.Component != "api" || l.Msg != fmt.Sprintf("hello-%d", l.Instance) || l.PID != pids[l.Instance] {
			t.Errorf("line %+v: want instance %d's line with its pid %d", l, l.Instance, pids[l.Instance])
		}
		seen[l.Instance] = true
	}
	if len(lines) != 3 || len(seen) != 3 {
		t.Errorf("lines %+v: want one of each of the three instances", lines)
	}
}
