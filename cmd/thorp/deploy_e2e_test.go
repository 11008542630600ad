package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/hcl/v2/hclparse"
	"github.com/hashicorp/hcl/v2/hclsyntax"
	"github.com/zclconf/go-cty/cty"
	"go.yaml.in/yaml/v3"
)

// deployDir is examples/deploy, from cmd/thorp.
var deployDir = filepath.Join("..", "..", "examples", "deploy")

// The ports examples/deploy/thorp.lua listens on: settings.http and web's
// balancer.
const (
	deployHTTPPort  = 9615
	deployProxyPort = 8080
	// deployConfig is where the examples install thorp.lua.
	deployConfig = "/srv/thorp/thorp.lua"
)

// deployThorp is a live thorp running examples/deploy/thorp.lua, with its
// addresses moved to free loopback ports (moved maps the file's port to
// the test's).
type deployThorp struct {
	*runningThorp
	moved map[int]int
}

// startDeployThorp starts examples/deploy/thorp.lua on loopback and
// returns once its components run and /health answers 200.
func startDeployThorp(t *testing.T) *deployThorp {
	t.Helper()
	src, err := os.ReadFile(filepath.Join(deployDir, "thorp.lua"))
	if err != nil {
		t.Fatal(err)
	}
	text := strings.ReplaceAll(string(src), "0.0.0.0:", "127.0.0.1:")
	moved := map[int]int{}
	for _, p := range []int{deployHTTPPort, deployProxyPort} {
		if !strings.Contains(text, fmt.Sprintf("127.0.0.1:%d", p)) {
			t.Fatalf("examples/deploy/thorp.lua does not listen on port %d", p)
		}
		moved[p] = freeTCPPort(t)
		text = strings.ReplaceAll(text, fmt.Sprintf(":%d", p), fmt.Sprintf(":%d", moved[p]))
	}
	cfg := writeConfig(t, text)
	d := &deployThorp{runningThorp: startThorpRunning(t, cfg), moved: moved}
	waitFor(t, 30*time.Second, "/health to answer 200", func() bool {
		code, _ := d.get(t, deployHTTPPort, "/health")
		return code == http.StatusOK
	})
	return d
}

// get GETs path on the test's port for the file's port (0 and the error
// text when nothing answers).
func (d *deployThorp) get(t *testing.T, port int, path string) (int, string) {
	t.Helper()
	p, ok := d.moved[port]
	if !ok {
		t.Fatalf("port %d is not one examples/deploy/thorp.lua listens on (%d for /health and /metrics, %d for web)", port, deployHTTPPort, deployProxyPort)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d%s", p, path))
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// expectOK fails t unless path on port answers 200, as the probe or check
// named by what expects.
func (d *deployThorp) expectOK(t *testing.T, what string, port int, path string) {
	t.Helper()
	if code, body := d.get(t, port, path); code != http.StatusOK {
		t.Errorf("%s: GET :%d%s = %d %s, want 200", what, port, path, code, body)
	}
}

// The Dockerfile, the Kubernetes Deployment and the Nomad job, read with
// their formats' parsers, name endpoints and ports a live thorp running
// examples/deploy/thorp.lua answers; the Dockerfile's build-time check
// accepts the config and the Kubernetes preStop drains it (runs last: it
// stops every component, and thorp then exits 0 on SIGTERM).
func TestDeploy_ExamplesAgainstLiveThorp(t *testing.T) {
	d := startDeployThorp(t)
	t.Run("Dockerfile", func(t *testing.T) { checkDockerfile(t, d) })
	t.Run("Nomad", func(t *testing.T) { checkNomadJob(t, d) })
	var preStop []string
	t.Run("Kubernetes", func(t *testing.T) { preStop = checkKubernetes(t, d) })
	t.Run("KubernetesPreStopDrains", func(t *testing.T) {
		if preStop == nil {
			t.Skip("the Deployment has no preStop exec command (reported above)")
		}
		checkPreStop(t, d, preStop)
	})
}

// dockerInstruction is one instruction of a Dockerfile.
type dockerInstruction struct {
	line int
	cmd  string // upper case: FROM, RUN, …
	args string
}

// parseDockerfile splits a Dockerfile into instructions: comments and
// blank lines skipped, lines ending in `\` joined with the next. It is not
// BuildKit's parser (github.com/moby/buildkit: a large module graph for one
// test, and no Docker daemon to build with here); the exec forms the tests
// rely on are JSON arrays, read with encoding/json as Docker reads them.
func parseDockerfile(text string) ([]dockerInstruction, error) {
	var out []dockerInstruction
	var cur strings.Builder
	start := 0
	sc := bufio.NewScanner(strings.NewReader(text))
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if cur.Len() == 0 && (line == "" || strings.HasPrefix(line, "#")) {
			continue
		}
		if cur.Len() == 0 {
			start = n
		}
		if rest, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(rest + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(cur.String(), " ")
		if !regexp.MustCompile(`^[A-Za-z]+$`).MatchString(cmd) {
			return nil, fmt.Errorf("Dockerfile:%d: %q is not an instruction", start, cmd)
		}
		out = append(out, dockerInstruction{start, strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		return nil, errors.New("Dockerfile: ends in a line continuation")
	}
	return out, sc.Err()
}

// execForm decodes an instruction's exec form (a JSON array of strings).
func execForm(t *testing.T, in dockerInstruction) []string {
	t.Helper()
	var argv []string
	if err := json.Unmarshal([]byte(in.args), &argv); err != nil || len(argv) == 0 {
		t.Fatalf("Dockerfile:%d: %s %s: want the exec form, a JSON array (%v)", in.line, in.cmd, in.args, err)
	}
	return argv
}

func checkDockerfile(t *testing.T, d *deployThorp) {
	text, err := os.ReadFile(filepath.Join(deployDir, "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	ins, err := parseDockerfile(string(text))
	if err != nil {
		t.Fatal(err)
	}
	by := func(cmd string) []dockerInstruction {
		var out []dockerInstruction
		for _, in := range ins {
			if in.cmd == cmd {
				out = append(out, in)
			}
		}
		return out
	}
	// The build stage's Go is go.mod's, and it builds as `make build` does.
	gomod, err := os.ReadFile(filepath.Join("..", "..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVersion := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	froms := by("FROM")
	if len(froms) != 2 || goVersion == nil || !strings.HasPrefix(froms[0].args, "golang:"+string(goVersion[1])+"-") {
		t.Errorf("Dockerfile: want two stages, the first FROM golang:%s-…; got %v", goVersion[1], froms)
	}
	if !slices.ContainsFunc(by("RUN"), func(in dockerInstruction) bool { return strings.HasPrefix(in.args, "make build") }) {
		t.Error("Dockerfile: no RUN make build (the static binary, built as the Makefile does)")
	}
	if !slices.ContainsFunc(by("COPY"), func(in dockerInstruction) bool {
		f := strings.Fields(in.args)
		return len(f) == 3 && strings.HasPrefix(f[0], "--from=") && strings.HasSuffix(f[1], "/bin/thorp") && f[2] == "/usr/local/bin/thorp"
	}) {
		t.Error("Dockerfile: no COPY --from=… …/bin/thorp /usr/local/bin/thorp (make build's output)")
	}
	// The config copied in is the one checked at build time and run.
	var copied bool
	for _, in := range by("COPY") {
		if f := strings.Fields(in.args); len(f) == 2 && f[1] == deployConfig {
			copied = true
			if _, err := os.Stat(filepath.Join("..", "..", f[0])); err != nil {
				t.Errorf("Dockerfile:%d: COPY %s: %v (the build context is the repository's root)", in.line, f[0], err)
			}
		}
	}
	if !copied {
		t.Errorf("Dockerfile: nothing copied to %s", deployConfig)
	}
	// The build's thorp check runs with the ENV set before it, as the
	// image's thorp run does; the THORP_ ones are settings.
	var env []string
	var checked bool
	for _, in := range ins {
		switch in.cmd {
		case "ENV":
			k, v, ok := strings.Cut(in.args, "=")
			if !ok || strings.ContainsAny(v, " \"'") {
				t.Fatalf("Dockerfile:%d: ENV %s: want one KEY=VALUE without quotes or spaces", in.line, in.args)
			}
			env = append(env, k+"="+v)
		case "RUN":
			if !strings.HasPrefix(in.args, "[") || !slices.Equal(execForm(t, in), []string{"thorp", "check", "-c", deployConfig}) {
				continue
			}
			checked = true
			// What the build runs, on the test's copy of the config.
			ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
			cmd := exec.CommandContext(ctx, thorpBin, "check", "-c", d.cfg)
			cmd.Env = append(os.Environ(), env...)
			out, err := cmd.CombinedOutput()
			cancel()
			if err != nil {
				t.Errorf("Dockerfile:%d: thorp check with %q: %v\n%s", in.line, env, err, out)
			}
		}
	}
	if !slices.Contains(env, "THORP_LOGS__STDOUT=true") {
		t.Errorf("Dockerfile: no ENV THORP_LOGS__STDOUT=true (components' lines for the log driver); ENV %q", env)
	}
	if !checked {
		t.Errorf(`Dockerfile: no RUN ["thorp", "check", "-c", %q]`, deployConfig)
	}
	entry := by("ENTRYPOINT")
	if len(entry) != 1 || !slices.Equal(execForm(t, entry[0]), []string{"thorp", "run", "-c", deployConfig}) {
		t.Errorf(`Dockerfile: want ENTRYPOINT ["thorp", "run", "-c", %q]; got %v`, deployConfig, entry)
	}
	if s := by("STOPSIGNAL"); len(s) != 1 || s[0].args != "SIGTERM" {
		t.Errorf("Dockerfile: want STOPSIGNAL SIGTERM (thorp's ordered stop); got %v", s)
	}
	expose := by("EXPOSE")
	if len(expose) != 1 {
		t.Fatalf("Dockerfile: want one EXPOSE, got %v", expose)
	}
	for _, f := range strings.Fields(expose[0].args) {
		port, err := strconv.Atoi(strings.TrimSuffix(f, "/tcp"))
		if err != nil {
			t.Errorf("Dockerfile:%d: EXPOSE %s: %v", expose[0].line, f, err)
			continue
		}
		path := "/health"
		if port == deployProxyPort {
			path = "/"
		}
		d.expectOK(t, "Dockerfile EXPOSE", port, path)
	}
}

// kubeManifest is the part of a Kubernetes object the test reads.
type kubeManifest struct {
	Kind string `yaml:"kind"`
	Spec struct {
		Template struct {
			Spec struct {
				TerminationGracePeriodSeconds int             `yaml:"terminationGracePeriodSeconds"`
				Containers                    []kubeContainer `yaml:"containers"`
			} `yaml:"spec"`
		} `yaml:"template"`
		Ports []struct {
			TargetPort any `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

type kubeContainer struct {
	Ports []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	LivenessProbe  *kubeProbe `yaml:"livenessProbe"`
	ReadinessProbe *kubeProbe `yaml:"readinessProbe"`
	Lifecycle      struct {
		PreStop struct {
			Exec struct {
				Command []string `yaml:"command"`
			} `yaml:"exec"`
		} `yaml:"preStop"`
	} `yaml:"lifecycle"`
}

type kubeProbe struct {
	HTTPGet struct {
		Path string `yaml:"path"`
		Port any    `yaml:"port"`
	} `yaml:"httpGet"`
}

// port resolves a port given by number or by the container port's name.
func (c *kubeContainer) port(t *testing.T, p any) int {
	t.Helper()
	switch v := p.(type) {
	case int:
		return v
	case string:
		for _, cp := range c.Ports {
			if cp.Name == v {
				return cp.ContainerPort
			}
		}
	}
	t.Errorf("kubernetes.yaml: port %v is neither a number nor a container port's name", p)
	return 0
}

// checkKubernetes checks kubernetes.yaml and returns the preStop command.
func checkKubernetes(t *testing.T, d *deployThorp) []string {
	f, err := os.Open(filepath.Join(deployDir, "kubernetes.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var objs []kubeManifest
	dec := yaml.NewDecoder(f)
	for {
		var m kubeManifest
		if err := dec.Decode(&m); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatalf("kubernetes.yaml: %v", err)
		}
		objs = append(objs, m)
	}
	i := slices.IndexFunc(objs, func(m kubeManifest) bool { return m.Kind == "Deployment" })
	if i < 0 || len(objs[i].Spec.Template.Spec.Containers) != 1 {
		t.Fatalf("kubernetes.yaml: want a Deployment with one container, got %+v", objs)
	}
	pod := objs[i].Spec.Template.Spec
	c := &pod.Containers[0]
	for _, cp := range c.Ports {
		path := "/health"
		if cp.ContainerPort == deployProxyPort {
			path = "/"
		}
		d.expectOK(t, "kubernetes.yaml containerPort "+cp.Name, cp.ContainerPort, path)
	}
	for _, p := range []struct {
		what  string
		probe *kubeProbe
		want  *regexp.Regexp
	}{
		{"livenessProbe", c.LivenessProbe, regexp.MustCompile(`^/health$`)},
		{"readinessProbe", c.ReadinessProbe, regexp.MustCompile(`^/health/[a-z][a-z0-9_-]*$`)},
	} {
		if p.probe == nil || !p.want.MatchString(p.probe.HTTPGet.Path) {
			t.Errorf("kubernetes.yaml: %s: want an httpGet on %s, got %+v", p.what, p.want, p.probe)
			continue
		}
		d.expectOK(t, "kubernetes.yaml "+p.what, c.port(t, p.probe.HTTPGet.Port), p.probe.HTTPGet.Path)
	}
	for _, o := range objs {
		if o.Kind != "Service" {
			continue
		}
		for _, sp := range o.Spec.Ports {
			if port := c.port(t, sp.TargetPort); port != deployProxyPort {
				t.Errorf("kubernetes.yaml: the Service targets port %d, not web's balancer (%d)", port, deployProxyPort)
			}
		}
	}
	cmd := c.Lifecycle.PreStop.Exec.Command
	if len(cmd) == 0 {
		t.Error("kubernetes.yaml: no preStop exec command")
		return nil
	}
	// The grace period covers the preStop's wait and thorp's ordered stop,
	// as long as thorp startup gives systemd (TimeoutStopSec).
	sleep := 0
	if m := regexp.MustCompile(`sleep (\d+)`).FindStringSubmatch(strings.Join(cmd, " ")); m != nil {
		sleep, _ = strconv.Atoi(m[1])
	}
	unit, errOut, code := thorpCmd(t, "startup", "-c", d.cfg)
	m := regexp.MustCompile(`(?m)^TimeoutStopSec=(\d+)s$`).FindStringSubmatch(unit)
	if code != exitOK || m == nil {
		t.Fatalf("thorp startup: exit %d, no TimeoutStopSec:\n%s%s", code, unit, errOut)
	}
	stop, _ := strconv.Atoi(m[1])
	if grace := pod.TerminationGracePeriodSeconds; grace < sleep+stop {
		t.Errorf("kubernetes.yaml: terminationGracePeriodSeconds %d < the preStop's %ds + thorp's ordered stop (%ds)", grace, sleep, stop)
	}
	return cmd
}

// checkPreStop runs the Deployment's preStop command against the live
// thorp, as the kubelet would in the container: every component ends
// stopped, /health and the readiness endpoint still answer, and the
// SIGTERM that follows ends thorp with 0.
func checkPreStop(t *testing.T, d *deployThorp, preStop []string) {
	argv := make([]string, len(preStop))
	for i, a := range preStop {
		argv[i] = strings.ReplaceAll(a, deployConfig, d.cfg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(thorpBin)+string(os.PathListSeparator)+os.Getenv("PATH"))
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("preStop %q: %v\n%s", argv, err, out)
	}
	for _, c := range status(t, d.cfg).Components {
		if c.State != "stopped" {
			t.Errorf("after the preStop, %s is %s, want stopped", c.Name, c.State)
		}
	}
	d.expectOK(t, "/health after the preStop (stopped on purpose is fine)", deployHTTPPort, "/health")
	if err := d.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-d.done:
		d.done <- err // for startThorp's cleanup
		if err != nil {
			t.Errorf("thorp after the preStop and SIGTERM: %v, want exit 0\n%s", err, d.stderr.String())
		}
	case <-time.After(20 * time.Second):
		t.Error("thorp did not exit within 20s of the SIGTERM that follows the preStop")
	}
}

// hclBlocks returns body's blocks of type typ.
func hclBlocks(body *hclsyntax.Body, typ string) []*hclsyntax.Block {
	var out []*hclsyntax.Block
	for _, b := range body.Blocks {
		if b.Type == typ {
			out = append(out, b)
		}
	}
	return out
}

// hclValue evaluates a literal attribute of body (cty.NilVal when absent).
func hclValue(t *testing.T, body *hclsyntax.Body, name string) cty.Value {
	t.Helper()
	a, ok := body.Attributes[name]
	if !ok {
		return cty.NilVal
	}
	v, diags := a.Expr.Value(nil)
	if diags.HasErrors() {
		t.Fatalf("thorp.nomad.hcl: %s: %v", name, diags)
	}
	return v
}

// hclString is a literal string attribute of body, "" when absent.
func hclString(t *testing.T, body *hclsyntax.Body, name string) string {
	t.Helper()
	v := hclValue(t, body, name)
	if v == cty.NilVal {
		return ""
	}
	if v.Type() != cty.String {
		t.Fatalf("thorp.nomad.hcl: %s is %s, not a string", name, v.Type().FriendlyName())
	}
	return v.AsString()
}

func checkNomadJob(t *testing.T, d *deployThorp) {
	f, diags := hclparse.NewParser().ParseHCLFile(filepath.Join(deployDir, "thorp.nomad.hcl"))
	if diags.HasErrors() {
		t.Fatalf("thorp.nomad.hcl: %v", diags)
	}
	jobs := hclBlocks(f.Body.(*hclsyntax.Body), "job")
	if len(jobs) != 1 {
		t.Fatalf("thorp.nomad.hcl: %d job blocks, want 1", len(jobs))
	}
	groups := hclBlocks(jobs[0].Body, "group")
	if len(groups) != 1 {
		t.Fatalf("thorp.nomad.hcl: %d groups, want 1", len(groups))
	}
	group := groups[0].Body
	// Port labels to the static ports thorp.lua listens on.
	ports := map[string]int{}
	for _, nw := range hclBlocks(group, "network") {
		for _, p := range hclBlocks(nw.Body, "port") {
			v := hclValue(t, p.Body, "static")
			if v == cty.NilVal || len(p.Labels) != 1 {
				t.Errorf("thorp.nomad.hcl: port %v has no static port (thorp.lua's ports are fixed)", p.Labels)
				continue
			}
			n, _ := v.AsBigFloat().Int64()
			ports[p.Labels[0]] = int(n)
		}
	}
	portOf := func(label string) int {
		p, ok := ports[label]
		if !ok {
			t.Errorf("thorp.nomad.hcl: no network port %q", label)
		}
		return p
	}
	var checked []string
	for _, svc := range hclBlocks(group, "service") {
		svcPort := portOf(hclString(t, svc.Body, "port"))
		if _, ok := d.moved[svcPort]; !ok {
			t.Errorf("thorp.nomad.hcl: service port %d is not one thorp.lua listens on", svcPort)
		}
		for _, chk := range hclBlocks(svc.Body, "check") {
			port := svcPort
			if label := hclString(t, chk.Body, "port"); label != "" {
				port = portOf(label)
			}
			path := hclString(t, chk.Body, "path")
			if typ := hclString(t, chk.Body, "type"); typ != "http" {
				t.Errorf("thorp.nomad.hcl: check %s is %q, want http", path, typ)
			}
			d.expectOK(t, "thorp.nomad.hcl check", port, path)
			checked = append(checked, path)
		}
	}
	slices.Sort(checked)
	if len(checked) != 2 || checked[0] != "/health" || !strings.HasPrefix(checked[1], "/health/") {
		t.Errorf("thorp.nomad.hcl: checks on %q, want /health and /health/NAME", checked)
	}
	tasks := hclBlocks(group, "task")
	if len(tasks) != 1 {
		t.Fatalf("thorp.nomad.hcl: %d tasks, want 1", len(tasks))
	}
	task := tasks[0]
	if drv := hclString(t, task.Body, "driver"); drv != "exec" && drv != "raw_exec" {
		t.Errorf("thorp.nomad.hcl: driver %q, want exec or raw_exec", drv)
	}
	if sig := hclString(t, task.Body, "kill_signal"); sig != "SIGTERM" {
		t.Errorf("thorp.nomad.hcl: kill_signal %q, want SIGTERM", sig)
	}
	if len(hclBlocks(task.Body, "env")) != 1 {
		t.Error("thorp.nomad.hcl: want one env block (THORP_LOGS__STDOUT)")
	}
	for _, env := range hclBlocks(task.Body, "env") {
		if v := hclString(t, env.Body, "THORP_LOGS__STDOUT"); v != "true" {
			t.Errorf("thorp.nomad.hcl: env THORP_LOGS__STDOUT = %q, want \"true\"", v)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		cmd := exec.CommandContext(ctx, thorpBin, "check", "-c", d.cfg)
		for name := range env.Body.Attributes {
			cmd.Env = append(cmd.Env, name+"="+hclString(t, env.Body, name))
		}
		cmd.Env = append(os.Environ(), cmd.Env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("thorp.nomad.hcl: thorp check with the task's env: %v\n%s", err, out)
		}
		cancel()
	}
	var args []string
	for _, cfg := range hclBlocks(task.Body, "config") {
		for _, a := range hclValue(t, cfg.Body, "args").AsValueSlice() {
			args = append(args, a.AsString())
		}
	}
	// The template renders thorp.lua (from next to the job file) where
	// the task's thorp run reads it.
	var dest string
	for _, tpl := range hclBlocks(task.Body, "template") {
		dest = hclString(t, tpl.Body, "destination")
		call, ok := tpl.Body.Attributes["data"].Expr.(*hclsyntax.FunctionCallExpr)
		if !ok || call.Name != "file" || len(call.Args) != 1 {
			t.Errorf("thorp.nomad.hcl: template data is not file(\"thorp.lua\")")
			continue
		}
		name, diags := call.Args[0].Value(nil)
		if diags.HasErrors() || name.Type() != cty.String {
			t.Errorf("thorp.nomad.hcl: file() of %v", diags)
			continue
		}
		if _, err := os.Stat(filepath.Join(deployDir, name.AsString())); err != nil {
			t.Errorf("thorp.nomad.hcl: template file: %v", err)
		}
	}
	if !slices.Equal(args, []string{"run", "-c", dest}) || dest == "" {
		t.Errorf("thorp.nomad.hcl: args %q, want [run -c %s] (the template's destination)", args, dest)
	}
}

var updateDeploy = flag.Bool("update-deploy", false, "rewrite examples/deploy/thorp.service from thorp startup")

// examples/deploy/thorp.service is what `thorp startup -c
// /srv/thorp/thorp.lua` prints for examples/deploy/thorp.lua, with thorp
// at /usr/local/bin/thorp and Debian's default PATH. After a change to
// thorp startup, regenerate it: go test ./cmd/thorp -run
// TestDeploy_SystemdUnitIsThorpStartups -update-deploy.
func TestDeploy_SystemdUnitIsThorpStartups(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile(filepath.Join(deployDir, "thorp.lua"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := filepath.Join(dir, "thorp.lua")
	if err := os.WriteFile(cfg, src, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, thorpBin, "startup", "-c", cfg)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "THORP_ENV=")
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Run(); err != nil {
		t.Fatalf("thorp startup: %v\n%s", err, errOut.String())
	}
	unit := strings.NewReplacer(thorpBin, "/usr/local/bin/thorp", cfg, deployConfig, dir, filepath.Dir(deployConfig)).Replace(out.String())
	path := filepath.Join(deployDir, "thorp.service")
	if *updateDeploy {
		if err := os.WriteFile(path, []byte(unit), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != unit {
		t.Errorf("examples/deploy/thorp.service is not what thorp startup prints now (go test ./cmd/thorp -run TestDeploy_SystemdUnitIsThorpStartups -update-deploy rewrites it):\n%s", lineDiffs(string(want), unit))
	}
	for _, line := range []string{"ExecStart=/usr/local/bin/thorp run -c /srv/thorp/thorp.lua", "WorkingDirectory=/srv/thorp", "Type=notify", "KillMode=mixed"} {
		if !strings.Contains(unit, line+"\n") {
			t.Errorf("the unit lacks %q:\n%s", line, unit)
		}
	}
}

// lineDiffs lists the lines of want and got that differ, by number.
func lineDiffs(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := range max(len(w), len(g)) {
		var wl, gl string
		if i < len(w) {
			wl = w[i]
		}
		if i < len(g) {
			gl = g[i]
		}
		if wl != gl {
			fmt.Fprintf(&b, "line %d:\n  file    %q\n  startup %q\n", i+1, wl, gl)
		}
	}
	return b.String()
}
