// Package engine is thorp's supervisor core: it starts components, watches
// them, restarts them by policy and stops them in dependency order.
//
// Concurrency model: every component has one owner goroutine (its loop) that
// alone changes the component's state. Everything else posts typed messages
// to the component's inbox (requests, exits, samples, probe, health and
// memory_policy results, each naming its process; stale ones are dropped)
// and reads the loop's latest published view. The goroutines that watch a
// process belong to it and end before it is released; callers waiting for
// a start or stop are answered by the loop. All timing comes from
// Options.Clock. Children are started through a
// Spawner (package spawn by default, created by New and stopped by Close):
// its locked spawn thread forks every child so that the parent-death signal
// stays armed for the child's whole life, and its reaper hands exit
// statuses to the owning loop. Output is copied to the log files of the
// Supervisor's registry, one goroutine per pipe, drained at shutdown.
// Events go to a bounded ring that the API and plugins read.
//
// thorp is a child subreaper while a Spawner is open; the reaper takes only
// what is thorp's (its registered children and orphans outside its own
// process group), so the program that runs a Supervisor may still wait for
// children it starts with os/exec.
package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/cgroup"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/fence"
	"github.com/thorp-dev/thorp/engine/spawn"
	"github.com/thorp-dev/thorp/policies"
	"github.com/thorp-dev/thorp/rotate"
)

// Options configure a Supervisor.
type Options struct {
	// Logger receives thorp's own log lines; nil discards them.
	Logger *slog.Logger
	// Environ is the environment components inherit before their own env;
	// nil means os.Environ(). thorp's NOTIFY_SOCKET, LISTEN_* and WATCHDOG_*
	// are always removed.
	Environ []string
	// Spawner starts the child processes; nil means New creates a
	// spawn.Spawner that Close closes. One passed here belongs to the
	// caller, who closes it after the Supervisor.
	Spawner Spawner
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
	// Clock is the engine's time (see Clock); nil means the system clock.
	Clock Clock
	// Cgroups, when set, is the host's cgroup layout (cgroup.DetectSelf):
	// Run puts each component process in a cgroup of its own under
	// thorp's, to find, measure and kill everything it starts (see
	// package cgroup), where it can create them. Nil: processes are
	// tracked through their process tree.
	Cgroups *cgroup.Layout
	// LogTee, when set, also gets the output of every component whose
	// logs.stdout is true (see LogTee).
	LogTee LogTee
}

// Supervisor runs the components of one Config. Create it with New, start it
// with Run, stop it by cancelling Run's context (ordered shutdown) or with
// Kill, and release what it holds with Close. Its methods are safe for
// concurrent use.
type Supervisor struct {
	cfg        *config.Config
	log        *slog.Logger
	environ    []string
	events     *eventLog
	spawner    Spawner
	ownSpawner *spawn.Spawner // the spawner New created, closed by Close; nil when passed in
	logs       *logFiles
	fenceCmd   []string
	execShim   []string
	logTee     LogTee
	state      string
	fence      *fence.Writer // nil without a fence; its methods accept nil
	clock      Clock
	cgLayout   *cgroup.Layout // nil: no cgroups
	cg         cgroups        // opened by Run

	mu    sync.RWMutex
	comps map[string]*component
	order []string // declaration order

	running chan struct{} // closed once Run has started the loops
	wg      sync.WaitGroup
	loopCtx context.Context // the loops' context, set by Run

	reloadMu   sync.Mutex // one reload at a time
	lastReload reloadMark

	lifeMu sync.Mutex
	life   life
}

// life is where a Supervisor is between New and Close.
type life int

const (
	lifeNew     life = iota // Run not called yet
	lifeRunning             // Run has not returned
	lifeRan                 // Run has returned
	lifeClosed
)

// enter moves to lifeRunning; only a new Supervisor may.
func (s *Supervisor) enter() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch s.life {
	case lifeNew:
		s.life = lifeRunning
		return nil
	case lifeClosed:
		return ErrClosed
	default:
		return ErrRunning
	}
}

func (s *Supervisor) leave() {
	s.lifeMu.Lock()
	s.life = lifeRan
	s.lifeMu.Unlock()
}

type reloadMark struct {
	ok bool
	at time.Time
}

// New prepares a Supervisor for cfg: it opens the log files, binds the held
// sockets and checks what can be checked without starting anything; no
// component runs until Run. Close releases what New took.
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
		environ:  env,
		events:   newEventLog(n, opts.OnEvent),
		spawner:  opts.Spawner,
		logs:     newLogFiles(log),
		comps:    map[string]*component{},
		running:  make(chan struct{}),
		fenceCmd: opts.FenceCommand,
		state:    opts.StatePath,
		execShim: opts.ExecShim,
		logTee:   opts.LogTee,
		clock:    opts.Clock,
		cgLayout: opts.Cgroups,
	}
	if s.clock == nil {
		s.clock = systemClock{}
	}
	s.lastReload = reloadMark{ok: true, at: s.clock.Now()}
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		out, errLog, err := s.logs.openComponent(cc, 0, nil)
		if err != nil {
			s.Close()
			return nil, err
		}
		c := newComponent(s, cc, out, errLog)
		s.comps[cc.Name] = c
		hs, err := listenSockets(cc.Sockets, nil)
		if err != nil {
			s.Close()
			return nil, fmt.Errorf("component %q: %w", cc.Name, err)
		}
		c.setSockets(hs)
		if cc.Proxy != nil {
			// Bound now, before any process runs: clients queue.
			h, err := listenSocket("proxy", cc.Proxy.Listen)
			if err != nil {
				s.Close()
				return nil, fmt.Errorf("component %q: proxy.listen: %w", cc.Name, err)
			}
			c.setFront(h)
		}
		s.order = append(s.order, cc.Name)
	}
	if s.state != "" {
		s.loadState(s.state)
	}
	if s.spawner == nil {
		s.ownSpawner = spawn.New()
		s.spawner = s.ownSpawner
	}
	return s, nil
}

// Close releases what the Supervisor holds: its held sockets, its log
// files and the spawner it created (not one passed in Options), whose
// goroutines it waits for. Call it once Run has returned, or instead of
// Run; while Run is running it releases nothing and returns ErrRunning. A
// second call does nothing. Safe for concurrent use.
func (s *Supervisor) Close() error {
	s.lifeMu.Lock()
	defer s.lifeMu.Unlock()
	switch s.life {
	case lifeRunning:
		return ErrRunning
	case lifeClosed:
		return nil
	}
	s.life = lifeClosed
	s.closeSockets()
	err := s.logs.close()
	if s.ownSpawner != nil {
		err = errors.Join(err, s.ownSpawner.Close())
	}
	return err
}

// Config returns the config the supervisor runs (the latest applied one).
func (s *Supervisor) Config() *config.Config {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.cfg
}

// startLoop runs c's loop until the loops' context ends or c.endLoop.
func (s *Supervisor) startLoop(c *component) {
	ctx, cancel := context.WithCancel(s.loopCtx)
	c.endLoop = cancel
	s.wg.Add(1)
	// Owner: s.wg (Run waits); Reload also waits for c.done of a removed one.
	go func() {
		defer s.wg.Done()
		c.run(ctx)
	}()
}

// Run starts every component (each waits for its dependencies) and blocks
// until ctx is cancelled; then it stops every component in reverse
// dependency order and returns. Run may be called once (again it returns
// ErrRunning), and not after Close (ErrClosed).
func (s *Supervisor) Run(ctx context.Context) error {
	if err := s.enter(); err != nil {
		return err
	}
	defer s.leave()
	if s.cgLayout != nil {
		s.cg.open(*s.cgLayout, s.log)
		defer s.cg.close(s.log)
	}
	if len(s.fenceCmd) > 0 {
		f, err := s.startFence(s.fenceCmd)
		if err != nil {
			return err
		}
		s.fence = f
		defer f.Close()
	}
	// The loops outlive ctx: once it ends they stop the components.
	loopCtx, cancelLoops := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelLoops()
	s.loopCtx = loopCtx
	comps := s.components()
	for _, c := range comps {
		s.startLoop(c)
	}
	s.wg.Add(1)
	go func() { // owner: s.wg
		defer s.wg.Done()
		newSampler(s).run(loopCtx, s.components)
	}()
	if s.state != "" {
		s.wg.Add(1)
		go func() { // owner: s.wg
			defer s.wg.Done()
			s.keepState(loopCtx, s.state)
		}()
	}
	close(s.running)
	for _, c := range comps {
		if c.config().Autostart {
			_ = c.send(ctx, request{op: opStart})
		}
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
	// in their pipes: let them reach the files before those close.
	s.logs.drain(logDrainTimeout)
	if s.state != "" {
		if err := s.saveState(s.state); err != nil {
			s.log.Warn("cannot save state at shutdown", "err", err)
		}
	}
	if err := s.logs.close(); err != nil {
		s.log.Warn("closing logs", "err", err)
	}
	return nil
}

// logDrainTimeout bounds the wait for output still in pipes at shutdown.
const logDrainTimeout = 3 * time.Second

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
			go func() { // owner: wg, below
				defer wg.Done()
				if err := c.send(s.loopCtx, request{op: opStop, wait: true}); err != nil {
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
	s.cg.each(func(g *cgroup.Group) { _ = g.Kill() })
	for _, st := range s.Status() {
		for _, in := range st.Instances {
			if in.PID > 0 {
				_ = syscall.Kill(-in.PID, syscall.SIGKILL)
			}
		}
	}
}

// Status returns every component's status in declaration order.
func (s *Supervisor) Status() []Status { return s.AppendStatus(nil) }

// AppendStatus appends every component's status, as Status returns it, to
// dst and returns the extended slice. The elements of dst between its
// length and its capacity are overwritten, and the memory of their
// Instances reused: a caller that takes snapshots often (GET /metrics)
// passes its previous snapshot resliced to [:0] once nothing reads it, and
// a snapshot then allocates only for a component's balancer.
func (s *Supervisor) AppendStatus(dst []Status) []Status {
	s.mu.RLock()
	defer s.mu.RUnlock()
	dst = slices.Grow(dst, len(s.order))
	for _, name := range s.order {
		spare := dst[:len(dst)+1][len(dst)].Instances
		dst = append(dst, s.comps[name].statusInto(spare))
	}
	return dst
}

// StatusOf returns the status of the component called name, as Status
// returns it.
func (s *Supervisor) StatusOf(name string) (Status, error) {
	c, err := s.component(name)
	if err != nil {
		return Status{}, err
	}
	return c.status(), nil
}

// Describe returns one component's status, config and recent events.
func (s *Supervisor) Describe(name string) (Detail, error) {
	c, err := s.component(name)
	if err != nil {
		return Detail{}, err
	}
	return Detail{Status: c.status(), Config: c.config().Map(), Events: s.events.since(0, name, time.Time{}), Profile: s.Config().Profile}, nil
}

// Events returns recent events after sequence number seq (0 for all kept),
// for one component or all ("").
func (s *Supervisor) Events(seq uint64, component string, after time.Time) []Event {
	return s.events.since(seq, component, after)
}

// Record publishes ev, made outside the components (an alert raised by
// thorp.alert or by a settings.alerts rule), like the engine's own events:
// it gets the next sequence number, the time now when ev.Time is zero, and
// goes to Options.OnEvent. Safe for concurrent use.
func (s *Supervisor) Record(ev Event) {
	if ev.Time.IsZero() {
		ev.Time = time.Now()
	}
	s.events.add(ev)
}

// WaitEvent returns a channel that is closed when the next event is recorded.
func (s *Supervisor) WaitEvent() <-chan struct{} { return s.events.wait() }

// Start starts the named components (or "all") and, with wait, returns when
// each instance is running or has failed to start.
func (s *Supervisor) Start(ctx context.Context, names []string, wait bool) error {
	return s.each(ctx, names, request{op: opStart, wait: wait})
}

// Stop stops the named components and, with wait, returns when their process
// groups are gone.
func (s *Supervisor) Stop(ctx context.Context, names []string, wait bool) error {
	return s.each(ctx, names, request{op: opStop, wait: wait})
}

// Restart restarts the named components for reason and, with wait, returns
// when the new processes are running.
func (s *Supervisor) Restart(ctx context.Context, names []string, reason policies.Reason, wait bool) error {
	return s.each(ctx, names, request{op: opRestart, reason: reason, wait: wait})
}

// RestartWhy is Restart with why, the requester's detail (a hook's
// reason), added to the message of the restart events:
// "restart requested (manual): crash of web".
func (s *Supervisor) RestartWhy(ctx context.Context, names []string, reason policies.Reason, why string, wait bool) error {
	return s.each(ctx, names, request{op: opRestart, reason: reason, why: why, wait: wait})
}

// Signal sends sig to the process groups of the named components.
func (s *Supervisor) Signal(ctx context.Context, names []string, sig syscall.Signal) error {
	return s.each(ctx, names, request{op: opSignal, sig: sig})
}

// Reset zeroes the restart counters (every reason) and the last restart
// reason of the named components (or "all"). Their processes are left
// alone.
func (s *Supervisor) Reset(ctx context.Context, names []string) error {
	return s.each(ctx, names, request{op: opReset})
}

// Scale makes the named component run n instances (1 to
// config.MaxInstances) until a reload brings a config whose instances
// value changed; n equal to the config's count ends the override. Added
// instances start when the component is meant to run; behind a balancer
// they join the rotation once ready, and removed ones leave it and finish
// their connections (up to proxy.drain_timeout) before they are stopped.
// With wait it returns once the added instances run or the removed ones
// are gone.
func (s *Supervisor) Scale(ctx context.Context, name string, n int, wait bool) error {
	if n < 1 || n > config.MaxInstances {
		return fmt.Errorf("%w: %d instances; scale to 1 to %d", ErrBadCount, n, config.MaxInstances)
	}
	return s.each(ctx, []string{name}, request{op: opScale, count: n, wait: wait})
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
		go func() { // owner: wg, below
			defer wg.Done()
			errs[i] = c.send(ctx, r)
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// resolve returns the components names selects (config.Select: names,
// "@TAG", "all"); a name or tag that selects nothing is an
// ErrUnknownComponent naming what is known.
func (s *Supervisor) resolve(names []string) ([]*component, error) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	tags := func(n string) []string { return s.comps[n].config().Tags }
	selected, missing := config.Select(s.order, tags, names)
	if len(missing) > 0 {
		return nil, fmt.Errorf("%w %s; known: %s", ErrUnknownComponent, strings.Join(missing, ", "), strings.Join(config.Known(s.order, tags), ", "))
	}
	out := make([]*component, 0, len(selected))
	for _, n := range selected {
		out = append(out, s.comps[n])
	}
	return out, nil
}

// Resolve returns the names of the components names selects: component
// names, "@TAG" for every component tagged TAG, or "all"; each once. A
// name or tag that selects nothing is an ErrUnknownComponent.
func (s *Supervisor) Resolve(names []string) ([]string, error) {
	comps, err := s.resolve(names)
	if err != nil {
		return nil, err
	}
	out := make([]string, len(comps))
	for i, c := range comps {
		out[i] = c.name
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

// closeSockets closes every component's held sockets.
func (s *Supervisor) closeSockets() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	for _, c := range s.comps {
		c.closeHeldSockets()
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
