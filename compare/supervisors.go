package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// program is one supervised program, described once and written into each
// supervisor's own config language.
type program struct {
	name string
	argv []string // argv[0] an absolute path; a .js file runs under node
	env  map[string]string
	// instances > 1 with port: thorp's proxy (mode http) on port in front of
	// that many processes, each on its own $PORT; PM2's cluster mode with
	// the workers sharing port; supervisord, which has neither, runs one
	// process on port.
	instances int
	port      int
	manual    bool // not started with the supervisor: start() starts it
	oneShot   bool // never restarted (the log writer)
	fastCrash bool // each supervisor's fastest restart after a crash
	memLimit  int  // MiB; 0: none
	// rotateAt rotates the program's stdout log at this size with nothing
	// compressed, deleted or prefixed (the log workload); 0: defaults.
	rotateAt int64
}

// supervisor is one of the compared supervisors, started for one workload
// in a directory of its own.
type supervisor interface {
	// label is the supervisor's name in the table.
	label() string
	// launch starts the supervisor with progs; it returns once its CLI answers.
	launch(ctx context.Context, progs []program) error
	// own lists the supervisor's own processes (CPU, RSS): thorp and its
	// fence; PM2's daemon (God); supervisord.
	own() []int
	// start starts a manual program.
	start(ctx context.Context, name string) error
	// restart is each supervisor's command for a graceful restart of a
	// running program: thorp reload, pm2 reload, supervisorctl restart.
	restart(ctx context.Context, name string) error
	// logGlob matches every stdout log file of a program, rotated ones included.
	logGlob(name string) string
	// shutdown stops the supervisor and everything it started, by pid.
	shutdown()
}

// tools says where the supervisors are: thorp's binary and install.sh's dir.
type tools struct {
	thorp, dir string
}

func (t tools) pm2Bin() string { return filepath.Join(t.dir, "pm2/node_modules/pm2/bin/pm2") }
func (t tools) pythonPath() string {
	return filepath.Join(t.dir, "supervisor/usr/lib/python3/dist-packages")
}

// newSupervisors returns one of each compared supervisor, each in its own
// subdirectory of dir.
func newSupervisors(t tools, dir string) []supervisor {
	return []supervisor{
		&thorpSup{tools: t, dir: filepath.Join(dir, "thorp")},
		&pm2Sup{tools: t, dir: filepath.Join(dir, "pm2")},
		&supervisordSup{tools: t, dir: filepath.Join(dir, "supervisord")},
	}
}

// runCmd runs a supervisor's CLI with a deadline and returns its output.
func runCmd(ctx context.Context, env []string, argv ...string) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return string(out), fmt.Errorf("%s: %w\n%s", strings.Join(argv, " "), err, out)
	}
	return string(out), nil
}

// waitUntil polls cond every 20 ms until it holds, ctx ends or timeout passes.
func waitUntil(ctx context.Context, timeout time.Duration, what string, cond func() bool) error {
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			return fmt.Errorf("timed out after %s waiting for %s", timeout, what)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
	return nil
}

// daemon is a supervisor running in the foreground as this program's child.
type daemon struct {
	cmd    *exec.Cmd
	exited chan struct{} // closed once the child is reaped
}

// startDaemon starts a supervisor that stays in the foreground as our
// child, in its own process group (a Ctrl-C reaches only this program,
// which then stops everything in order), logging to dir/daemon.log.
func startDaemon(dir string, env []string, argv ...string) (*daemon, error) {
	logf, err := os.Create(filepath.Join(dir, "daemon.log"))
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	d := &daemon{cmd: cmd, exited: make(chan struct{})}
	go func() { _ = cmd.Wait(); close(d.exited) }() // stop waits for it
	return d, nil
}

func (d *daemon) pid() int { return d.cmd.Process.Pid }

// stop SIGTERMs the daemon, then kills what is left of its tree after
// grace, and waits until it is reaped.
func (d *daemon) stop(grace time.Duration) {
	root := procOf(d.pid())
	killTree(grace, func() { _ = syscall.Kill(root.pid, syscall.SIGTERM) }, root)
	<-d.exited
}

func procOf(pid int) procInfo {
	p, _ := readProc(pid)
	return p
}

// --- thorp ---

type thorpSup struct {
	tools
	dir string
	d   *daemon
}

func (s *thorpSup) label() string { return "thorp" }
func (s *thorpSup) cfg() string   { return filepath.Join(s.dir, "thorp.lua") }
func (s *thorpSup) ctl(ctx context.Context, args ...string) (string, error) {
	return runCmd(ctx, nil, append(append([]string{s.thorp}, args...), "-c", s.cfg())...)
}

func (s *thorpSup) launch(ctx context.Context, progs []program) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	logs := fmt.Sprintf("dir = %q", filepath.Join(s.dir, "logs"))
	for _, p := range progs {
		if p.rotateAt > 0 {
			logs += fmt.Sprintf(", max_size = %d, compress = false, timestamps = false", p.rotateAt)
		}
	}
	fmt.Fprintf(&b, "settings { http = \"\", logs = { %s } }\n", logs)
	for _, p := range progs {
		fmt.Fprintf(&b, "component %q {\n  command = { ", p.name)
		for i, a := range p.argv {
			if i == 0 && strings.HasSuffix(a, ".js") {
				b.WriteString(`"node", `)
			}
			fmt.Fprintf(&b, "%q, ", a)
		}
		b.WriteString("},\n")
		if len(p.env) > 0 {
			b.WriteString("  env = { ")
			for _, k := range sortedKeys(p.env) {
				fmt.Fprintf(&b, "%s = %q, ", k, p.env[k])
			}
			b.WriteString("},\n")
		}
		if p.port > 0 {
			fmt.Fprintf(&b, "  instances = %d,\n  proxy = { listen = \"tcp://127.0.0.1:%d\", mode = \"http\" },\n  kill_timeout = \"5s\",\n", max(p.instances, 1), p.port)
		}
		if p.manual {
			b.WriteString("  autostart = false,\n")
		}
		if p.oneShot {
			b.WriteString("  autorestart = \"never\",\n")
		}
		if p.fastCrash {
			b.WriteString("  restart_delay = \"0s\", min_uptime = \"0s\", max_restarts = 0,\n")
		}
		if p.memLimit > 0 {
			fmt.Fprintf(&b, "  max_memory_restart = \"%dMiB\",\n", p.memLimit)
		}
		b.WriteString("}\n")
	}
	if err := os.WriteFile(s.cfg(), []byte(b.String()), 0o644); err != nil {
		return err
	}
	d, err := startDaemon(s.dir, nil, s.thorp, "run", "-c", s.cfg())
	if err != nil {
		return err
	}
	s.d = d
	return waitUntil(ctx, 30*time.Second, "thorp's control socket", func() bool {
		_, err := s.ctl(ctx, "status")
		return err == nil
	})
}

func (s *thorpSup) own() []int {
	if s.d == nil {
		return nil
	}
	pids := []int{s.d.pid()}
	for _, d := range descendants(s.d.pid()) {
		if d.comm == "thorp" { // the fence: thorp's binary in a session of its own
			pids = append(pids, d.pid)
		}
	}
	return pids
}

func (s *thorpSup) start(ctx context.Context, name string) error {
	_, err := s.ctl(ctx, "start", name)
	return err
}

func (s *thorpSup) restart(ctx context.Context, name string) error {
	_, err := s.ctl(ctx, "reload", name)
	return err
}

func (s *thorpSup) logGlob(name string) string {
	return filepath.Join(s.dir, "logs", name+"-out*")
}

func (s *thorpSup) shutdown() {
	if s.d != nil {
		s.d.stop(20 * time.Second)
		s.d = nil
	}
}

// --- PM2 ---

type pm2Sup struct {
	tools
	dir string
	god procInfo // PM2's daemon
}

func (s *pm2Sup) label() string { return "PM2" }
func (s *pm2Sup) env() []string { return []string{"PM2_HOME=" + filepath.Join(s.dir, "home")} }
func (s *pm2Sup) ctl(ctx context.Context, args ...string) (string, error) {
	return runCmd(ctx, s.env(), append([]string{"node", s.pm2Bin()}, args...)...)
}

// pm2App is an entry of a PM2 ecosystem file.
type pm2App struct {
	Name             string            `json:"name"`
	Script           string            `json:"script"`
	Args             []string          `json:"args,omitempty"`
	Interpreter      string            `json:"interpreter,omitempty"`
	ExecMode         string            `json:"exec_mode"`
	Instances        int               `json:"instances"`
	Env              map[string]string `json:"env,omitempty"`
	Autorestart      bool              `json:"autorestart"`
	RestartDelay     *int              `json:"restart_delay,omitempty"`
	MaxRestarts      int               `json:"max_restarts,omitempty"`
	MinUptime        *int              `json:"min_uptime,omitempty"`
	MaxMemoryRestart string            `json:"max_memory_restart,omitempty"`
	OutFile          string            `json:"out_file"`
	ErrorFile        string            `json:"error_file"`
}

func (s *pm2Sup) app(p program) pm2App {
	a := pm2App{Name: p.name, Script: p.argv[0], Args: p.argv[1:], ExecMode: "fork", Instances: 1,
		Env: p.env, Autorestart: !p.oneShot,
		OutFile:   filepath.Join(s.dir, "logs", p.name+"-out.log"),
		ErrorFile: filepath.Join(s.dir, "logs", p.name+"-error.log")}
	if !strings.HasSuffix(p.argv[0], ".js") {
		a.Interpreter = "none"
	}
	if p.port > 0 {
		a.ExecMode, a.Instances = "cluster", max(p.instances, 1)
		a.Env = merge(p.env, map[string]string{"PORT": strconv.Itoa(p.port)})
	}
	if p.fastCrash {
		zero := 0
		a.RestartDelay, a.MinUptime, a.MaxRestarts = &zero, &zero, 1_000_000
	}
	if p.memLimit > 0 {
		a.MaxMemoryRestart = fmt.Sprintf("%dM", p.memLimit) // PM2's M is MiB
	}
	return a
}

func (s *pm2Sup) writeApps(file string, apps []pm2App) error {
	b, err := json.MarshalIndent(map[string]any{"apps": apps}, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.dir, file), b, 0o644)
}

func (s *pm2Sup) launch(ctx context.Context, progs []program) error {
	if err := os.MkdirAll(filepath.Join(s.dir, "logs"), 0o755); err != nil {
		return err
	}
	var apps []pm2App
	for _, p := range progs {
		if p.rotateAt > 0 {
			// pm2-logrotate, as `pm2 install pm2-logrotate` would run it
			// (that command fetches it from npm at run time; install.sh
			// pinned it), configured with `pm2 set` as its README says
			// (PM2 hands a module its section of that configuration),
			// checking every second, its minimum (default 30 s).
			for _, kv := range [][2]string{{"max_size", fmt.Sprintf("%dK", p.rotateAt>>10)},
				{"retain", "100"}, {"compress", "false"}, {"workerInterval", "1"}} {
				if _, err := s.ctl(ctx, "set", "pm2-logrotate:"+kv[0], kv[1]); err != nil {
					return err
				}
			}
			apps = append(apps, pm2App{Name: "pm2-logrotate", Script: filepath.Join(s.tools.dir, "pm2/node_modules/pm2-logrotate/app.js"),
				ExecMode: "fork", Instances: 1, Autorestart: true,
				OutFile: filepath.Join(s.dir, "logrotate.log"), ErrorFile: filepath.Join(s.dir, "logrotate.log")})
		}
		if p.manual {
			if err := s.writeApps(p.name+".json", []pm2App{s.app(p)}); err != nil {
				return err
			}
			continue
		}
		apps = append(apps, s.app(p))
	}
	if err := s.writeApps("apps.json", apps); err != nil {
		return err
	}
	if len(apps) == 0 {
		if _, err := s.ctl(ctx, "ping"); err != nil {
			return err
		}
	} else if _, err := s.ctl(ctx, "start", filepath.Join(s.dir, "apps.json")); err != nil {
		return err
	}
	b, err := os.ReadFile(filepath.Join(s.dir, "home", "pm2.pid"))
	if err != nil {
		return fmt.Errorf("PM2's daemon pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		return fmt.Errorf("PM2's daemon pid: %w", err)
	}
	s.god = procOf(pid)
	return nil
}

func (s *pm2Sup) own() []int {
	if s.god.pid == 0 {
		return nil
	}
	return []int{s.god.pid}
}

func (s *pm2Sup) start(ctx context.Context, name string) error {
	_, err := s.ctl(ctx, "start", filepath.Join(s.dir, name+".json"))
	return err
}

func (s *pm2Sup) restart(ctx context.Context, name string) error {
	_, err := s.ctl(ctx, "reload", name)
	return err
}

func (s *pm2Sup) logGlob(name string) string {
	return filepath.Join(s.dir, "logs", name+"-out*")
}

func (s *pm2Sup) shutdown() {
	if s.god.pid == 0 {
		return
	}
	killTree(10*time.Second, func() {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, _ = s.ctl(ctx, "kill")
	}, s.god)
	s.god = procInfo{}
}

// --- supervisord ---

type supervisordSup struct {
	tools
	dir string
	d   *daemon
}

func (s *supervisordSup) label() string { return "supervisord" }
func (s *supervisordSup) cfg() string   { return filepath.Join(s.dir, "supervisord.conf") }
func (s *supervisordSup) env() []string { return []string{"PYTHONPATH=" + s.pythonPath()} }
func (s *supervisordSup) ctl(ctx context.Context, args ...string) (string, error) {
	return runCmd(ctx, s.env(), append([]string{"/usr/bin/python3", "-m", "supervisor.supervisorctl", "-c", s.cfg()}, args...)...)
}

func (s *supervisordSup) launch(ctx context.Context, progs []program) error {
	logs := filepath.Join(s.dir, "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		return err
	}
	var b strings.Builder
	sock := filepath.Join(s.dir, "supervisor.sock")
	fmt.Fprintf(&b, "[unix_http_server]\nfile=%s\n\n[supervisord]\nlogfile=%s\npidfile=%s\nchildlogdir=%s\nnodaemon=true\n",
		sock, filepath.Join(s.dir, "supervisord.log"), filepath.Join(s.dir, "supervisord.pid"), logs)
	if os.Geteuid() == 0 {
		b.WriteString("user=root\n")
	}
	fmt.Fprintf(&b, "\n[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n[supervisorctl]\nserverurl=unix://%s\n", sock)
	for _, p := range progs {
		argv := p.argv
		if strings.HasSuffix(argv[0], ".js") {
			argv = append([]string{"node"}, argv...)
		}
		for _, a := range argv {
			if strings.ContainsAny(a, " \t\"'%") {
				return fmt.Errorf("supervisord: argument %q needs quoting", a)
			}
		}
		fmt.Fprintf(&b, "\n[program:%s]\ncommand=%s\ndirectory=%s\n", p.name, strings.Join(argv, " "), s.dir)
		env := p.env
		if p.port > 0 {
			env = merge(env, map[string]string{"PORT": strconv.Itoa(p.port)})
		}
		if len(env) > 0 {
			var kv []string
			for _, k := range sortedKeys(env) {
				kv = append(kv, fmt.Sprintf("%s=\"%s\"", k, env[k]))
			}
			fmt.Fprintf(&b, "environment=%s\n", strings.Join(kv, ","))
		}
		fmt.Fprintf(&b, "autostart=%t\n", !p.manual)
		switch {
		case p.oneShot:
			b.WriteString("autorestart=false\nstartsecs=0\nstartretries=0\n")
		case p.fastCrash:
			// startsecs=0: a run of any length counts as started, so a
			// crash is an exit from RUNNING, restarted at once (no BACKOFF).
			b.WriteString("autorestart=true\nstartsecs=0\nstartretries=1000000\n")
		default:
			b.WriteString("autorestart=true\n")
		}
		b.WriteString("stopsignal=TERM\nstopwaitsecs=5\n")
		max := "50MB" // supervisord's default
		if p.rotateAt > 0 {
			max = strconv.FormatInt(p.rotateAt, 10)
		}
		fmt.Fprintf(&b, "stdout_logfile=%s\nstdout_logfile_maxbytes=%s\nstdout_logfile_backups=100\nstderr_logfile=%s\n",
			filepath.Join(logs, p.name+"-out.log"), max, filepath.Join(logs, p.name+"-error.log"))
	}
	if err := os.WriteFile(s.cfg(), []byte(b.String()), 0o644); err != nil {
		return err
	}
	d, err := startDaemon(s.dir, s.env(), "/usr/bin/python3", "-m", "supervisor.supervisord", "-c", s.cfg())
	if err != nil {
		return err
	}
	s.d = d
	return waitUntil(ctx, 30*time.Second, "supervisord's socket", func() bool {
		_, err := s.ctl(ctx, "pid")
		return err == nil
	})
}

func (s *supervisordSup) own() []int {
	if s.d == nil {
		return nil
	}
	return []int{s.d.pid()}
}

func (s *supervisordSup) start(ctx context.Context, name string) error {
	_, err := s.ctl(ctx, "start", name)
	return err
}

func (s *supervisordSup) restart(ctx context.Context, name string) error {
	_, err := s.ctl(ctx, "restart", name)
	return err
}

func (s *supervisordSup) logGlob(name string) string {
	return filepath.Join(s.dir, "logs", name+"-out*")
}

func (s *supervisordSup) shutdown() {
	if s.d != nil {
		s.d.stop(20 * time.Second)
		s.d = nil
	}
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func merge(a, b map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out
}
