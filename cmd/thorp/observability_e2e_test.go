package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// observabilityDir is examples/observability, from cmd/thorp.
var observabilityDir = filepath.Join("..", "..", "examples", "observability")

// exampleExpr is one PromQL expression of examples/observability and
// where it is.
type exampleExpr struct {
	where, expr string
}

// promRules is the part of a Prometheus rule file the tests read.
type promRules struct {
	Groups []struct {
		Name  string `yaml:"name"`
		Rules []struct {
			Alert string `yaml:"alert"`
			Expr  string `yaml:"expr"`
		} `yaml:"rules"`
	} `yaml:"groups"`
}

// readYAML decodes examples/observability/NAME into v, strictly.
func readYAML(t *testing.T, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(observabilityDir, name))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
}

// labelValuesQuery is a Grafana variable query: label_values(SELECTOR, LABEL).
var labelValuesQuery = regexp.MustCompile(`^label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\)$`)

// observabilityExprs returns every PromQL expression of the example: the
// alert rules' and the Grafana dashboard's (its panels' targets and the
// selector of its variable queries, whose label is returned as a grouping
// label of that expression).
func observabilityExprs(t *testing.T) (exprs []exampleExpr, varLabels map[string][]string) {
	t.Helper()
	var rules promRules
	readYAML(t, "thorp-rules.yml", &rules)
	for _, g := range rules.Groups {
		for _, r := range g.Rules {
			exprs = append(exprs, exampleExpr{"thorp-rules.yml alert " + r.Alert, r.Expr})
		}
	}
	b, err := os.ReadFile(filepath.Join(observabilityDir, "grafana-dashboard.json"))
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Panels []struct {
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
		Templating struct {
			List []struct {
				Name  string `json:"name"`
				Type  string `json:"type"`
				Query any    `json:"query"`
			} `json:"list"`
		} `json:"templating"`
	}
	if err := json.Unmarshal(b, &dash); err != nil {
		t.Fatalf("grafana-dashboard.json: %v", err)
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 {
			t.Errorf("grafana-dashboard.json panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			exprs = append(exprs, exampleExpr{"grafana-dashboard.json panel " + p.Title, tg.Expr})
		}
	}
	varLabels = map[string][]string{}
	for _, v := range dash.Templating.List {
		if v.Type != "query" {
			continue
		}
		q, _ := v.Query.(map[string]any)
		m := labelValuesQuery.FindStringSubmatch(fmt.Sprint(q["query"]))
		if m == nil {
			t.Errorf("grafana-dashboard.json variable %s: query %v is not label_values(SELECTOR, LABEL)", v.Name, v.Query)
			continue
		}
		where := "grafana-dashboard.json variable " + v.Name
		exprs = append(exprs, exampleExpr{where, m[1]})
		varLabels[where] = []string{m[2]}
	}
	if len(exprs) < 10 {
		t.Fatalf("only %d expressions found in examples/observability", len(exprs))
	}
	return exprs, varLabels
}

// targetLabels are the labels Prometheus gives every series it scrapes.
var targetLabels = []string{"job", "instance"}

// Every metric name the alert rules and the dashboard use is one a live
// thorp running the example's thorp.lua exports, with the labels they
// select and group by (and the label values they match exactly).
func TestObservability_NamesExistInLiveMetrics(t *testing.T) {
	exprs, varLabels := observabilityExprs(t)
	var promCfg struct {
		ScrapeConfigs []struct {
			JobName string `yaml:"job_name"`
		} `yaml:"scrape_configs"`
	}
	readYAML(t, "prometheus.yml", &promCfg)
	if len(promCfg.ScrapeConfigs) != 1 {
		t.Fatalf("prometheus.yml has %d scrape configs, want 1", len(promCfg.ScrapeConfigs))
	}
	job := promCfg.ScrapeConfigs[0].JobName

	type ref struct {
		where string
		refs  promqlRefs
	}
	var all []ref
	names := map[string]bool{}
	for _, e := range exprs {
		r, err := parsePromQLRefs(e.expr)
		if err != nil {
			t.Fatalf("%s: %v", e.where, err)
		}
		if len(r.selectors) == 0 {
			t.Errorf("%s: no metric in %q", e.where, e.expr)
		}
		r.labels = append(r.labels, varLabels[e.where]...)
		all = append(all, ref{e.where, r})
		for _, s := range r.selectors {
			if s.name != "up" { // Prometheus' own, per target
				names[s.name] = true
			}
		}
	}

	cfg, ports := exampleConfigPorts(t, "observability", 9615, 9730)
	startThorp(t, cfg)
	// Every name must have a sample: the balancer's histogram needs a
	// request through it, the memory gauges a sample, the log
	// filesystems a log file.
	client := &http.Client{Timeout: 5 * time.Second}
	var ms samples
	var missing []string
	deadline := time.Now().Add(60 * time.Second)
	for {
		if resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", ports[9730])); err == nil {
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
		ms = parseSamples(metricsText(t, ports[9615]))
		missing = missing[:0]
		for name := range names {
			if !slices.ContainsFunc(ms, func(s metricSample) bool { return s.name == name }) {
				missing = append(missing, name)
			}
		}
		if len(missing) == 0 {
			break
		}
		if time.Now().After(deadline) {
			slices.Sort(missing)
			t.Fatalf("no sample of %q in a live thorp's /metrics after 60s", missing)
		}
		time.Sleep(100 * time.Millisecond)
	}

	// hasLabel reports whether a sample of name has label (with value, when not "").
	hasLabel := func(name, label, value string) bool {
		for _, s := range ms {
			if v, ok := s.labels[label]; s.name == name && ok && (value == "" || v == value) {
				return true
			}
		}
		return false
	}
	for _, r := range all {
		for _, sel := range r.refs.selectors {
			for _, m := range sel.matchers {
				switch {
				case m.label == "job":
					if m.op != "=" || m.value != job {
						t.Errorf("%s: %s{job%s%q}, but prometheus.yml's job is %q", r.where, sel.name, m.op, m.value, job)
					}
				case slices.Contains(targetLabels, m.label):
				case sel.name == "up":
					t.Errorf("%s: up has no label %s", r.where, m.label)
				case m.op == "=" && !hasLabel(sel.name, m.label, m.value):
					t.Errorf("%s: no series %s{%s=%q} in /metrics", r.where, sel.name, m.label, m.value)
				case !hasLabel(sel.name, m.label, ""):
					t.Errorf("%s: %s has no label %s in /metrics", r.where, sel.name, m.label)
				}
			}
		}
		for _, l := range r.refs.labels {
			if slices.Contains(targetLabels, l) {
				continue
			}
			if !slices.ContainsFunc(r.refs.selectors, func(sel promqlSelector) bool { return hasLabel(sel.name, l, "") }) {
				t.Errorf("%s: groups or matches by %s, which none of its metrics has in /metrics", r.where, l)
			}
		}
	}
}

// promtoolOrFail returns the path of Debian's prometheus package's tool
// (promtool or prometheus); CI installs it with `make test-deps`.
func promtoolOrFail(t *testing.T, name string) string {
	t.Helper()
	path, err := exec.LookPath(name)
	if err != nil {
		t.Fatalf("%s is not installed: `make test-deps` installs Debian's prometheus package", name)
	}
	return path
}

// promtool's own checks of the example's config (which names the rules
// file) and rules.
func TestObservability_PromtoolChecks(t *testing.T) {
	promtool := promtoolOrFail(t, "promtool")
	for _, args := range [][]string{
		{"check", "config", "prometheus.yml"},
		{"check", "rules", "thorp-rules.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = observabilityDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
}

// observabilityTrouble are components added to the example's thorp.lua
// for the Prometheus test: one that ends errored at once, and one that
// holds about 180 MB against a 200 MB limit (within 10 % of it).
const observabilityTrouble = `
component "broken" {
  command = { thorp.self, "simulate", "crash", "--after", "100ms" },
  min_uptime = "5s",
  max_restarts = 1,
  restart_delay = "100ms",
}

component "hog" {
  command = { thorp.self, "simulate", "leak", "--rate", "100MB/s", "--max", "180MB" },
  max_memory_restart = "200MB",
}
`

// A real Prometheus, with the example's prometheus.yml and rules (scraping
// every second, the target moved to the test's thorp), scrapes a live
// thorp: the target is up, a thorp series arrives, every alert rule
// evaluates without error against what thorp exports, the errored rule
// fires for a component that ended errored, and the memory rule's
// expression selects the instance within 10 % of its limit and nothing
// else.
func TestObservability_PrometheusScrapesThorp(t *testing.T) {
	prometheus := promtoolOrFail(t, "prometheus")
	cfg, ports := exampleConfigPorts(t, "observability", 9615, 9730)
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(observabilityTrouble); err != nil {
		t.Fatal(err)
	}
	f.Close()
	startThorp(t, cfg)

	var promCfg map[string]any
	readYAML(t, "prometheus.yml", &promCfg)
	rulesPath, err := filepath.Abs(filepath.Join(observabilityDir, "thorp-rules.yml"))
	if err != nil {
		t.Fatal(err)
	}
	promCfg["global"] = map[string]any{"scrape_interval": "1s", "evaluation_interval": "1s"}
	promCfg["rule_files"] = []string{rulesPath}
	scrapes := promCfg["scrape_configs"].([]any)
	scrapes[0].(map[string]any)["static_configs"] = []any{map[string]any{"targets": []string{fmt.Sprintf("127.0.0.1:%d", ports[9615])}}}
	job := scrapes[0].(map[string]any)["job_name"].(string)
	dir := t.TempDir()
	out, err := yaml.Marshal(promCfg)
	if err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(cfgPath, out, 0o644); err != nil {
		t.Fatal(err)
	}

	promPort := freeTCPPort(t)
	var promOut bytes.Buffer
	cmd := exec.Command(prometheus,
		"--config.file="+cfgPath,
		"--storage.tsdb.path="+filepath.Join(dir, "data"),
		fmt.Sprintf("--web.listen-address=127.0.0.1:%d", promPort))
	cmd.Stdout, cmd.Stderr = &promOut, &promOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = syscall.Kill(cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(cmd.Process.Pid, syscall.SIGKILL)
			<-exited
			t.Errorf("prometheus (pid %d) did not exit within 20s of SIGTERM", cmd.Process.Pid)
		}
		if t.Failed() {
			t.Logf("prometheus output:\n%s", promOut.String())
		}
	})

	client := &http.Client{Timeout: 5 * time.Second}
	api := func(path string, v any) error {
		resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", promPort, path))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b, _ := io.ReadAll(resp.Body)
			return fmt.Errorf("%s: %s %s", path, resp.Status, b)
		}
		return json.NewDecoder(resp.Body).Decode(v)
	}
	// query returns the labels of each series the instant query returns.
	query := func(q string) []map[string]string {
		var res struct {
			Data struct {
				Result []struct {
					Metric map[string]string `json:"metric"`
				} `json:"result"`
			} `json:"data"`
		}
		if err := api("/api/v1/query?query="+url.QueryEscape(q), &res); err != nil {
			select {
			case err := <-exited:
				exited <- err
				t.Fatalf("prometheus exited (%v):\n%s", err, promOut.String())
			default:
			}
			return nil
		}
		var out []map[string]string
		for _, r := range res.Data.Result {
			out = append(out, r.Metric)
		}
		return out
	}
	waitFor(t, 60*time.Second, "Prometheus to scrape thorp (up == 1)", func() bool {
		return len(query(fmt.Sprintf(`up{job=%q} == 1`, job))) == 1
	})
	waitFor(t, 60*time.Second, "thorp_component_up{component=\"web\"} == 1 in Prometheus", func() bool {
		return len(query(fmt.Sprintf(`thorp_component_up{job=%q, component="web"} == 1`, job))) == 1
	})

	var want promRules
	readYAML(t, "thorp-rules.yml", &want)
	nRules := 0
	exprOf := map[string]string{}
	for _, g := range want.Groups {
		nRules += len(g.Rules)
		for _, r := range g.Rules {
			exprOf[r.Alert] = r.Expr
		}
	}
	var bad []string
	waitFor(t, 60*time.Second, "every alert rule evaluated", func() bool {
		var res struct {
			Data struct {
				Groups []struct {
					Rules []struct {
						Name           string    `json:"name"`
						Health         string    `json:"health"`
						LastError      string    `json:"lastError"`
						LastEvaluation time.Time `json:"lastEvaluation"`
					} `json:"rules"`
				} `json:"groups"`
			} `json:"data"`
		}
		if err := api("/api/v1/rules?type=alert", &res); err != nil {
			return false
		}
		evaluated := 0
		bad = bad[:0]
		for _, g := range res.Data.Groups {
			for _, r := range g.Rules {
				if r.LastEvaluation.Year() > 2000 {
					evaluated++
				}
				if r.Health == "err" {
					bad = append(bad, r.Name+": "+r.LastError)
				}
			}
		}
		return evaluated == nRules || len(bad) > 0
	})
	if len(bad) > 0 {
		t.Errorf("alert rules failing to evaluate:\n%s", strings.Join(bad, "\n"))
	}

	waitFor(t, 60*time.Second, "ThorpComponentErrored firing for broken", func() bool {
		return len(query(`ALERTS{alertname="ThorpComponentErrored", alertstate="firing", component="broken"}`)) == 1
	})
	// The memory rule waits 5 minutes before firing; its expression is
	// what selects, so it is queried as written.
	var near []map[string]string
	waitFor(t, 60*time.Second, "ThorpMemoryNearLimit's expression to select hog", func() bool {
		near = query(exprOf["ThorpMemoryNearLimit"])
		return slices.ContainsFunc(near, func(m map[string]string) bool { return m["component"] == "hog" })
	})
	for _, m := range near {
		if m["component"] != "hog" || m["index"] != "0" {
			t.Errorf("ThorpMemoryNearLimit's expression selects %v; want hog's instance 0 only", m)
		}
	}
}
