// Package engine is thorp's supervisor core: it starts components, watches
// them, restarts them by policy and stops them in dependency order.
//
// Concurrency model: every component has one owner goroutine (its loop) that
// alone changes the component's state; everything else sends it requests and
// reads copies of its latest snapshot. One process-wide reaper goroutine
// waits for every child (thorp is a child subreaper) and hands exit statuses
// to the owning loop; one process-wide spawner thread forks every child so
// that the parent-death signal stays armed for the child's whole life.
// Events go to a bounded ring that the API and plugins read.
//
// thorp is a child subreaper; the reaper takes only what is thorp's (its
// registered children and orphans outside its own process group), so the
// program that runs a Supervisor may still wait for children it starts
// with os/exec.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/fence"
	"github.com/thorp-dev/thorp/rotate"
)

// ErrUnknownComponent is returned (wrapped) for a name the config does not declare.
var ErrUnknownComponent = errors.New("unknown component")

// Options configure a Supervisor.
type Options struct {
	// Logger receives thorp's own log lines; nil discards them.
	Logger *slog.Logger
	// Environ is the environment components inherit before their own env;
	// nil means os.Environ(). thorp's NOTIFY_SOCKET, LISTEN_* and WATCHDOG_*
	// are always removed.
	Environ []string
	// OnEvent, when set, is called for every event, from the goroutine that
	// produced it; it must not block.
	OnEvent func(Event)
	// EventBuffer is how many recent events are kept (default 1000).
	EventBuffer int
	// FenceCommand, when set, is the argv of a fence process (see package
	// fence; thorp passes its own binary with "__fence") that kills every
	// component's process group if thorp dies without stopping them.
	FenceCommand []string
	// StatePath, when set, is where counters and recent events are saved
	// (periodically and at shutdown) and restored from at start.
	StatePath string
	// ExecShim, when set, is the argv prefix of a program that sets
	// LISTEN_PID to its own pid and then execs the rest of its arguments
	// (thorp passes its own binary with "__exec"). Components with sockets
	// start through it, since only the child knows its pid. Without it they
	// get LISTEN_FDS and LISTEN_FDNAMES but no LISTEN_PID.
	ExecShim []string
	// Lua calls the Lua functions of the config (memory_policy, …); nil
	// means they are not called and the plain thresholds apply.
	Lua LuaCaller
}

// Supervisor runs the components of one Config. Create it with New, start it
// with Run, and stop it by cancelling Run's context (ordered shutdown) or
// with Kill. Its methods are safe for concurrent use.
type Supervisor struct {
	cfg      *config.Config
	log      *slog.Logger
	environ  []string
	events   *eventLog
	reaper   *reaper
	fenceCmd []string
	execShim []string
	state    string
	fence    *fence.Writer // nil without a fence; its methods accept nil
	lua      LuaCaller

	mu    sync.RWMutex
	comps map[string]*component
	order []string // declaration order

	logMu  sync.Mutex
	logs   map[string]*rotate.File
	copies sync.WaitGroup // goroutines copying children's output to logs

	running chan struct{} // closed once Run has started the loops
	runOnce sync.Once
	wg      sync.WaitGroup
	loopCtx context.Context // the loops' context, set by Run

	reloadMu   sync.Mutex // one reload at a time
	lastReload reloadMark
}

type reloadMark struct {
	ok bool
	at time.Time
}

// New prepares a Supervisor for cfg: it opens the log files and checks what
// can be checked without starting anything. Nothing runs until Run.
func New(cfg *config.Config, opts Options) (*Supervisor, error) {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	env := opts.Environ
	if env == nil {
		env = os.Environ()
	}
	n := opts.EventBuffer
	if n <= 0 {
		n = 1000
	}
	s := &Supervisor{
		cfg:      cfg,
		log:      log,
		environ:  cleanEnviron(env),
		events:   newEventLog(n, opts.OnEvent),
		reaper:   sharedReaper(),
		comps:    map[string]*component{},
		logs:     map[string]*rotate.File{},
		running:  make(chan struct{}),
		fenceCmd: opts.FenceCommand,
		lua:      opts.Lua,
		state:    opts.StatePath,
		execShim: opts.ExecShim,
	}
	s.lastReload = reloadMark{ok: true, at: time.Now()}
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		out, err := s.openLog(s.outPath(cc), cc.Logs)
		if err != nil {
			s.closeLogs()
			return nil, err
		}
		errLog := out
		if !cc.MergeLogs {
			if errLog, err = s.openLog(s.errPath(cc), cc.Logs); err != nil {
				s.closeLogs()
				return nil, err
			}
		}
		c := newComponent(s, cc, out, errLog)
		if err := c.rebindSockets(cc.Sockets); err != nil {
			s.closeSockets()
			s.closeLogs()
			return nil, err
		}
		s.comps[cc.Name] = c
		s.order = append(s.order, cc.Name)
	}
	if s.state != "" {
		s.loadState(s.state)
	}
	return s, nil
}

// Config returns the config the supervisor runs (the latest applied one).
func (s *Supervisor) Config() *config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// luaCaller returns the caller of the current config's Lua functions.
func (s *Supervisor) luaCaller() LuaCaller {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lua
}

// startLoop runs c's loop until the loops' context ends or c.endLoop.
func (s *Supervisor) startLoop(c *component) {
	ctx, cancel := context.WithCancel(s.loopCtx)
	c.endLoop = cancel
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		c.run(ctx)
	}()
}

// Run starts every component (each waits for its dependencies) and blocks
// until ctx is cancelled; then it stops every component in reverse
// dependency order and returns. Run may be called once.
func (s *Supervisor) Run(ctx context.Context) error {
	if len(s.fenceCmd) > 0 {
		f, err := s.startFence(s.fenceCmd)
		if err != nil {
			return err
		}
		s.fence = f
		defer f.Close()
	}
	loopCtx, cancelLoops := context.WithCancel(context.Background())
	defer cancelLoops()
	s.loopCtx = loopCtx
	comps := s.components()
	for _, c := range comps {
		s.startLoop(c)
	}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		newSampler(s).run(loopCtx, s.components)
	}()
	if s.state != "" {
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			s.keepState(loopCtx, s.state)
		}()
	}
	s.runOnce.Do(func() { close(s.running) })
	for _, c := range comps {
		_ = c.send(ctx, request{op: "start"})
	}
	<-ctx.Done()
	// No reload may add components while they stop.
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	s.shutdown()
	cancelLoops()
	s.wg.Wait()
	s.closeSockets()
	// The last words of the components (written as they stopped) are still
	// in their pipes: let them reach the files before those close. A
	// descendant that outlived its group could hold a pipe open forever,
	// hence the bound.
	waitTimeout(&s.copies, logDrainTimeout)
	if s.state != "" {
		if err := s.saveState(s.state); err != nil {
			s.log.Warn("cannot save state at shutdown", "err", err)
		}
	}
	s.closeLogs()
	return nil
}

// logDrainTimeout bounds the wait for output still in pipes at shutdown.
const logDrainTimeout = 3 * time.Second

// waitTimeout waits for wg, at most d.
func waitTimeout(wg *sync.WaitGroup, d time.Duration) {
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(d):
	}
}

// components returns the components in declaration order.
func (s *Supervisor) components() []*component {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*component, 0, len(s.order))
	for _, n := range s.order {
		out = append(out, s.comps[n])
	}
	return out
}

// Started returns a channel closed once Run has started the component loops.
func (s *Supervisor) Started() <-chan struct{} { return s.running }

// shutdown stops every component, dependents before their dependencies;
// components at the same depth stop in parallel.
func (s *Supervisor) shutdown() {
	s.stopInOrder(s.Config().Components, nil)
}

// stopInOrder stops the components of cs whose names pass keep (all when
// keep is nil), dependents first, each level in parallel.
func (s *Supervisor) stopInOrder(cs []config.Component, keep func(string) bool) {
	levels, err := config.TopoOrder(cs)
	if err != nil {
		var all []string
		for _, c := range cs {
			all = append(all, c.Name)
		}
		levels = [][]string{all}
	}
	for i := len(levels) - 1; i >= 0; i-- {
		var wg sync.WaitGroup
		for _, name := range levels[i] {
			if keep != nil && !keep(name) {
				continue
			}
			s.mu.RLock()
			c := s.comps[name]
			s.mu.RUnlock()
			if c == nil {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := c.send(context.Background(), request{op: "stop", wait: true}); err != nil {
					s.log.Warn("stop during shutdown", "component", name, "err", err)
				}
			}()
		}
		wg.Wait()
	}
}

// Kill sends SIGKILL to every component's process group at once, for a
// second interrupt during shutdown. It does not wait.
func (s *Supervisor) Kill() {
	for _, st := range s.Status() {
		for _, in := range st.Instances {
			if in.PID > 0 {
				_ = syscall.Kill(-in.PID, syscall.SIGKILL)
			}
		}
	}
}

// Status returns every component's status in declaration order.
func (s *Supervisor) Status() []Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]Status, 0, len(s.order))
	for _, name := range s.order {
		out = append(out, s.comps[name].status())
	}
	return out
}

// Describe returns one component's status, config and recent events.
func (s *Supervisor) Describe(name string) (Detail, error) {
	c, err := s.component(name)
	if err != nil {
		return Detail{}, err
	}
	return Detail{Status: c.status(), Config: c.config().Map(), Events: s.events.since(0, name, time.Time{})}, nil
}

// Events returns recent events after sequence number seq (0 for all kept),
// for one component or all ("").
func (s *Supervisor) Events(seq uint64, component string, after time.Time) []Event {
	return s.events.since(seq, component, after)
}

// WaitEvent returns a channel that is closed when the next event is recorded.
func (s *Supervisor) WaitEvent() <-chan struct{} { return s.events.wait() }

// Start starts the named components (or "all") and, with wait, returns when
// each instance is running or has failed to start.
func (s *Supervisor) Start(ctx context.Context, names []string, wait bool) error {
	return s.each(ctx, names, request{op: "start", wait: wait})
}

// Stop stops the named components and, with wait, returns when their process
// groups are gone.
func (s *Supervisor) Stop(ctx context.Context, names []string, wait bool) error {
	return s.each(ctx, names, request{op: "stop", wait: wait})
}

// Restart restarts the named components for reason (see policies.Reasons)
// and, with wait, returns when the new processes are running.
func (s *Supervisor) Restart(ctx context.Context, names []string, reason string, wait bool) error {
	return s.each(ctx, names, request{op: "restart", reason: reason, wait: wait})
}

// Signal sends sig to the process groups of the named components.
func (s *Supervisor) Signal(ctx context.Context, names []string, sig syscall.Signal) error {
	return s.each(ctx, names, request{op: "signal", sig: sig})
}

// each sends r to every named component in parallel and joins the errors.
func (s *Supervisor) each(ctx context.Context, names []string, r request) error {
	select {
	case <-s.running:
	case <-ctx.Done():
		return ctx.Err()
	}
	comps, err := s.resolve(names)
	if err != nil {
		return err
	}
	errs := make([]error, len(comps))
	var wg sync.WaitGroup
	for i, c := range comps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = c.send(ctx, r)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

func (s *Supervisor) resolve(names []string) ([]*component, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if len(names) == 1 && names[0] == "all" {
		out := make([]*component, 0, len(s.order))
		for _, n := range s.order {
			out = append(out, s.comps[n])
		}
		return out, nil
	}
	var out []*component
	var missing []string
	for _, n := range names {
		if c := s.comps[n]; c != nil {
			out = append(out, c)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w %s; known: %s", ErrUnknownComponent, strings.Join(missing, ", "), strings.Join(s.order, ", "))
	}
	return out, nil
}

func (s *Supervisor) component(name string) (*component, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	c := s.comps[name]
	if c == nil {
		return nil, fmt.Errorf("%w %q; known: %s", ErrUnknownComponent, name, strings.Join(s.order, ", "))
	}
	return c, nil
}

// notRunning returns the names among deps whose component is not running.
func (s *Supervisor) notRunning(deps []string) []string {
	var out []string
	for _, d := range deps {
		s.mu.RLock()
		c := s.comps[d]
		s.mu.RUnlock()
		if c == nil || c.status().State != StateRunning {
			out = append(out, d)
		}
	}
	return out
}

func (s *Supervisor) outPath(cc *config.Component) string { return cc.OutLog() }

func (s *Supervisor) errPath(cc *config.Component) string { return cc.ErrLog() }

// openLog returns the one rotate.File for path, opening it on first use.
func (s *Supervisor) openLog(path string, ls config.LogSettings) (*rotate.File, error) {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	if f := s.logs[path]; f != nil {
		return f, nil
	}
	f, err := rotate.Open(path, s.logOptions(path, ls))
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w (check that the log directory is writable)", path, err)
	}
	s.logs[path] = f
	return f, nil
}

// logOptions are the writer options for the log at path.
func (s *Supervisor) logOptions(path string, ls config.LogSettings) rotate.Options {
	opts := rotate.OptionsFrom(ls)
	opts.Warn = func(msg string) { s.log.Warn(msg, "log", path) }
	return opts
}

// closeSockets closes every component's held sockets.
func (s *Supervisor) closeSockets() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.comps {
		c.closeHeldSockets()
	}
}

func (s *Supervisor) closeLogs() {
	s.logMu.Lock()
	defer s.logMu.Unlock()
	for _, f := range s.logs {
		_ = f.Close()
	}
}

// Flush empties the current log files of the named components (all when
// names is empty); rotated files are kept.
func (s *Supervisor) Flush(names []string) error {
	return s.eachLog(names, (*rotate.File).Truncate)
}

// Rotate rotates the log files of the named components (all when names is empty).
func (s *Supervisor) Rotate(names []string) error {
	return s.eachLog(names, (*rotate.File).Rotate)
}

func (s *Supervisor) eachLog(names []string, do func(*rotate.File) error) error {
	if len(names) == 0 {
		names = []string{"all"}
	}
	comps, err := s.resolve(names)
	if err != nil {
		return err
	}
	var errs []error
	for _, c := range comps {
		for _, l := range c.logFiles() {
			errs = append(errs, do(l.file))
		}
	}
	return errors.Join(errs...)
}

// startProcess forks the main process of instance in and starts copying its
// output to the component's logs.
func (s *Supervisor) startProcess(c *component, in *instance, p *process) (int, error) {
	cc := c.cfg
	path, err := lookPath(cc.Command.Argv[0], envValue(cc.Env, "PATH", s.environ), cc.Cwd)
	if err != nil {
		return 0, err
	}
	env := mergeEnv(s.environ, cc.Env)
	env = append(env, "THORP_INSTANCE="+strconv.Itoa(in.index), "THORP_COMPONENT="+cc.Name)
	cred, err := credential(cc.User, cc.Group)
	if err != nil {
		return 0, err
	}
	ready, err := s.newReadiness(cc, in.index)
	if err != nil {
		return 0, err
	}
	p.ready = ready
	env = append(env, ready.env()...)
	started := false
	defer func() {
		if !started {
			ready.close()
		}
	}()
	devnull, err := os.Open(os.DevNull)
	if err != nil {
		return 0, err
	}
	defer devnull.Close()
	outR, outW, err := os.Pipe()
	if err != nil {
		return 0, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return 0, err
	}
	growPipe(outR)
	growPipe(errR)
	spec := spawnSpec{
		path:  path,
		argv:  cc.Command.Argv,
		dir:   cc.Cwd,
		env:   env,
		files: []uintptr{devnull.Fd(), outW.Fd(), errW.Fd()},
		cred:  cred,
	}
	if socks := c.heldSockets(); len(socks) > 0 {
		// fds 3, 4, … in LISTEN_FDNAMES order; LISTEN_PID from the shim.
		for _, h := range socks {
			spec.files = append(spec.files, h.file.Fd())
		}
		spec.env = append(spec.env, socketEnv(socks)...)
		if len(s.execShim) > 0 {
			spec.argv = append(append(append([]string{}, s.execShim...), path), cc.Command.Argv...)
			spec.path = s.execShim[0]
		}
	}
	pid, err := s.reaper.spawn(spec, func(st exitStatus) {
		c.later(func() { c.onExit(in, p, st) })
	})
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return 0, err
	}
	started = true
	copyLog := func(r *os.File, f *rotate.File, stream string) {
		defer s.copies.Done()
		defer r.Close()
		if err := f.Copy(ready.watchOutput(r), rotate.Source{Component: cc.Name, Stream: stream, PID: pid}); err != nil {
			c.log.Warn("reading output", "stream", stream, "err", err)
		}
	}
	s.copies.Add(2)
	go copyLog(outR, c.outLog, "out")
	go copyLog(errR, c.errLog, "err")
	return pid, nil
}

// pipeSize is the kernel buffer asked for each output pipe: a component
// writing in small chunks then rarely waits for thorp, and thorp reads in
// large chunks. The kernel allocates the pages only as data waits in them.
const pipeSize = 1 << 20

// growPipe enlarges a pipe's buffer, best effort (the kernel caps it by
// fs.pipe-max-size and a per-user total).
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
	})
}

// lookPath finds file in pathEnv's directories like a shell would; a name
// with a slash is taken relative to dir.
func lookPath(file, pathEnv, dir string) (string, error) {
	if strings.Contains(file, "/") {
		p := file
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if err := executable(p); err != nil {
			return "", fmt.Errorf("command %s: %w", file, err)
		}
		return p, nil
	}
	for _, d := range filepath.SplitList(pathEnv) {
		if d == "" {
			d = "."
		}
		p := filepath.Join(d, file)
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		if executable(p) == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("command %q not found in PATH (%s); install it or give its full path", file, pathEnv)
}

func executable(p string) error {
	fi, err := os.Stat(p)
	if err != nil {
		return err
	}
	if fi.IsDir() || fi.Mode()&0o111 == 0 {
		return fmt.Errorf("%s is not an executable file", p)
	}
	return nil
}

// envValue returns key from the component's env, else from base.
func envValue(env map[string]string, key string, base []string) string {
	if v, ok := env[key]; ok {
		return v
	}
	for _, kv := range base {
		if v, ok := strings.CutPrefix(kv, key+"="); ok {
			return v
		}
	}
	return ""
}

// mergeEnv returns base with env's keys set (sorted for reproducibility).
func mergeEnv(base []string, env map[string]string) []string {
	out := make([]string, 0, len(base)+len(env)+2)
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if _, over := env[k]; !over {
			out = append(out, kv)
		}
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, k+"="+env[k])
	}
	return out
}

// cleanEnviron drops what belongs to thorp's own supervisor (systemd) and
// its own THORP_ variables, which children must not inherit.
func cleanEnviron(env []string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case k == "NOTIFY_SOCKET", strings.HasPrefix(k, "LISTEN_"), strings.HasPrefix(k, "WATCHDOG_"),
			k == "THORP_INSTANCE", k == "THORP_COMPONENT":
			continue
		}
		out = append(out, kv)
	}
	return out
}

// credential resolves user/group for privilege dropping; nil when neither is set.
func credential(userName, groupName string) (*syscall.Credential, error) {
	if userName == "" && groupName == "" {
		return nil, nil
	}
	if os.Geteuid() != 0 {
		return nil, fmt.Errorf("user/group is set but thorp is not running as root; run thorp as root or remove user/group")
	}
	cred := &syscall.Credential{Uid: uint32(os.Getuid()), Gid: uint32(os.Getgid())}
	if userName != "" {
		u, err := user.Lookup(userName)
		if err != nil {
			return nil, fmt.Errorf("user %q: %w", userName, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		cred.Uid, cred.Gid = uint32(uid), uint32(gid)
		if ids, err := u.GroupIds(); err == nil {
			for _, g := range ids {
				if n, err := strconv.Atoi(g); err == nil {
					cred.Groups = append(cred.Groups, uint32(n))
				}
			}
		}
	}
	if groupName != "" {
		g, err := user.LookupGroup(groupName)
		if err != nil {
			return nil, fmt.Errorf("group %q: %w", groupName, err)
		}
		gid, _ := strconv.Atoi(g.Gid)
		cred.Gid = uint32(gid)
	}
	return cred, nil
}
