package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/thorp-dev/thorp/engine/balancer"
	"github.com/thorp-dev/thorp/engine/cgroup"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/fswatch"
	"github.com/thorp-dev/thorp/engine/proc"
	"github.com/thorp-dev/thorp/policies"
	"github.com/thorp-dev/thorp/rotate"
)

// remnantPoll is how often a process group whose main process has exited is
// checked for survivors.
const remnantPoll = 20 * time.Millisecond

// component supervises the instances of one component{}. Its loop
// goroutine (run) owns every field below the "owned by the loop" line;
// before the loop starts its constructor owns them, and after the loop has
// returned, whoever waited for it (Supervisor.Run, Reload). Other
// goroutines reach the loop only through the inbox and read only the
// published view. Those two are the component's only guards.
type component struct {
	sup   *Supervisor
	name  string
	log   *slog.Logger
	clock Clock

	in      *inbox
	done    chan struct{} // closed when the loop has returned
	endLoop func()        // ends the loop (set by Supervisor.startLoop)

	// view is the latest published snapshot, immutable once stored: status
	// and config readers (API, sampler, dependents) load it without
	// waiting for the loop.
	view atomic.Pointer[view]

	// owned by the loop
	ctx      context.Context // the loop's; every process context derives from it
	cfg      *config.Component
	insts    []*instance
	logs     [][2]*rotate.File // [out, err] by instance: [0] always, the others with {instance} in a path (instanceLogs)
	restarts map[policies.Reason]int
	lastWhy  policies.Reason
	cpu      float64 // cumulative CPU seconds of every run
	// askSample: since the last snapshot a process whose memory the
	// kernel is to watch started, or a reload changed how c's memory is
	// judged; the sampler is told once the snapshot shows it (see
	// cgroups.askSample).
	askSample bool
	cron      cron.Schedule
	nextCron  time.Time     // next cron_restart; zero when none
	sockets   []*heldSocket // bound by thorp, passed to every process
	front     *front        // the balancer of a proxied component; nil without a proxy
	// watcher restarts the component when a watched file changes; nil
	// without watch (or when it could not start). watching is the config
	// and cwd it was made for; watchGen tells its messages from those of
	// a watcher it replaced.
	watcher  *fswatch.Watcher
	watching watchKey
	watchGen int
	// waitingFor are the dependencies an instance waiting to start was
	// last found waiting for (see Status.WaitingFor).
	waitingFor []string
	// scaled is the instance count 'thorp scale' set, kept until a config
	// with another instances value arrives; 0 = the config's count.
	scaled int
	// markers are the last historyMarkers restarts, oldest first;
	// markerSeq numbers the last one (see markSpawned).
	markers   []RestartMarker
	markerSeq uint64
}

// watchKey is what a watcher depends on: a change of either replaces it.
type watchKey struct {
	watch *config.Watch
	cwd   string
}

// view is what the loop publishes for other goroutines.
type view struct {
	status Status
	cfg    *config.Component
	logs   []logRef
	bal    *balancer.Balancer // for the live counts of status.Proxy; nil without a proxy
}

// instance is one copy of a component (instances = N gives N of them).
type instance struct {
	index   int
	state   State
	proc    *process // the current process, nil when none
	old     *process // the process an overlap restart replaces, nil when none
	wantUp  bool
	waiting bool // starting, but waiting for dependencies

	hist      policies.RunHistory
	nextStart time.Time       // end of a backoff or an errored retry; zero = none
	restartBy policies.Reason // reason of the restart waiting for proc to end, "" = none

	// A rolling restart of a proxied component replaces `rolling`
	// instances at a time: rollNext is the reason of one still to come
	// ("" = none), rolling marks one under way (see advanceRoll).
	rollNext policies.Reason
	rollWhy  string
	rolling  bool

	lastExit *ExitInfo
	message  string
	waiters  []*pending

	memory     int64   // last sampled tree memory (RSS or PSS)
	procs      int     // processes in the tree at the last sample
	cpuPercent float64 // CPU use of the tree between the last two samples, % of one core
	restarts   int     // restarts of this instance since thorp started, every reason
	memState   policies.MemoryState
	lastGrowth policies.Growth
	policyErr  bool    // a failure of memory_policy was logged already
	series     *series // the samples of its processes; nil before the first
	marker     uint64  // the restart marker waiting for the next process's pid, 0 = none

	health  policies.HealthState
	healthy bool // the last health check passed (true before any)
	// healthFailing: the last health check of any of the instance's
	// processes failed; it outlives a restart, so the replacement's first
	// pass says the check passes again.
	healthFailing bool
}

// process is one running (or ending) main process and its group. Its
// fields are the loop's, except ctx, cancel and watchers: the goroutines
// that watch the process (readiness probe, sd_notify reader, health
// checks, memory_policy calls) run under ctx and are counted in watchers,
// and release ends them and waits, so none outlives the process.
type process struct {
	inst       *instance // the instance it runs for
	pid        int
	started    time.Time
	requested  bool      // thorp asked it to stop
	stopping   bool      // the stop signal has been sent to the group
	killAt     time.Time // when to escalate to SIGKILL; zero after that
	exited     *exitStatus
	escaped    []proc.Ident  // descendants that left the process group (without a cgroup)
	cg         *cgroup.Group // its cgroup; nil when it is tracked through its process tree
	ready      *readiness
	readyBy    time.Time          // end of listen_timeout while the probe runs; zero otherwise
	stopProbe  context.CancelFunc // ends the readiness probe; nil when none runs
	notReady   bool               // stopped because it never became ready
	runningAt  time.Time          // when it became ready
	lastPing   time.Time          // last WATCHDOG=1
	policyBusy bool               // a Lua memory_policy call is in flight

	// Behind a balancer: port is the process's $PORT, backend its place in
	// the balancer (nil when out of rotation); draining is set while it is
	// out of rotation with connections left to finish, until drainBy.
	port     int
	backend  *balancer.Backend
	draining bool
	drainBy  time.Time

	ctx      context.Context // derived from the loop's; cancelled by release
	cancel   context.CancelFunc
	watchers sync.WaitGroup
}

// watch runs f on a goroutine owned by p: f must return once p.ctx ends,
// and release waits for it.
func (p *process) watch(f func()) {
	p.watchers.Add(1)
	go func() { // owner: p.watchers; release (endWatchers) waits
		defer p.watchers.Done()
		f()
	}()
}

// endWatchers ends what watches p and waits for it: the probe, health and
// policy goroutines see p.ctx end; the sd_notify reader sees its socket
// close. A Lua call in flight may take its grace period to return.
func (p *process) endWatchers() {
	p.cancel()
	p.ready.close()
	p.watchers.Wait()
}

func newComponent(s *Supervisor, cfg *config.Component, out, errLog *rotate.File) *component {
	c := &component{
		sup:      s,
		name:     cfg.Name,
		log:      s.log.With("component", cfg.Name),
		clock:    s.clock,
		in:       newInbox(),
		done:     make(chan struct{}),
		cfg:      cfg,
		logs:     [][2]*rotate.File{{out, errLog}},
		restarts: map[policies.Reason]int{},
	}
	for _, r := range policies.Reasons {
		c.restarts[r] = 0
	}
	// A component is starting from the moment thorp means to start it, so
	// no one mistakes "not started yet" for "stopped".
	state, msg := StateStarting, "waiting for thorp to start it"
	if !cfg.Autostart {
		state, msg = StateStopped, autostartOff(cfg.Name)
	}
	for i := 0; i < max(cfg.Instances, 1); i++ {
		c.insts = append(c.insts, &instance{index: i, state: state, message: msg, healthy: true})
	}
	c.setCron()
	c.updateSnapshot()
	return c
}

// autostartOff is the message of a component that autostart = false keeps
// stopped until someone starts it.
func autostartOff(name string) string {
	return "autostart = false: start it with thorp start " + name
}

// setSockets makes c hold hs (prepared by a reload, or bound by New)
// and releases the sockets it held: an address hs shares with them stays
// bound, so connections keep queueing. Running processes keep their own
// copies until they exit. Called by the loop (a config request) or before
// the loop starts.
func (c *component) setSockets(hs []*heldSocket) {
	old := c.sockets
	c.sockets = hs
	closeSockets(old)
}

// heldSockets returns the sockets passed to new processes; loop only.
func (c *component) heldSockets() []*heldSocket { return c.sockets }

// closeHeldSockets closes c's sockets. The loop does it as it returns;
// this is for a component whose loop never ran (a failed New).
func (c *component) closeHeldSockets() {
	closeSockets(c.sockets)
	c.sockets = nil
	c.closeFront()
}

// config returns the component's current config; safe from any goroutine.
func (c *component) config() *config.Component { return c.view.Load().cfg }

// postExit tells the loop that p's main process was reaped. The exit is
// stamped with the engine's clock (on the system clock, the same instant
// the reaper saw). Called by the reaper; never blocks.
func (c *component) postExit(p *process, st exitStatus) {
	st.time = c.clock.Now()
	c.in.post(exitMsg{p: p, st: st})
}

// send delivers a request to the loop. With wait it returns the outcome;
// otherwise it returns once the loop applied the request. A request whose
// ctx ends before the loop reads it is not applied.
func (c *component) send(ctx context.Context, r request) error {
	r.ctx = ctx
	r.reply = make(chan error, 1)
	select {
	case <-c.done:
		return fmt.Errorf("component %q: %w", c.name, ErrShuttingDown)
	default:
	}
	c.in.post(r)
	select {
	case err := <-r.reply:
		return err
	case <-c.done:
		select {
		case err := <-r.reply: // answered as the loop ended
			return err
		default:
			return fmt.Errorf("component %q: %w", c.name, ErrShuttingDown)
		}
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run is the loop. It returns when ctx is cancelled; the caller stops the
// instances first (see Supervisor.shutdown).
func (c *component) run(ctx context.Context) {
	c.ctx = ctx
	defer close(c.done)
	defer c.abandon()
	c.setWatch()
	timer := c.clock.NewTimer(time.Hour)
	defer timer.Stop()
	publish := true
	for {
		if !c.drain() {
			publish = true
		}
		var depsChanged <-chan struct{}
		if c.anyWaitingDeps() {
			depsChanged = c.sup.events.wait()
			c.checkDeps()
			publish = true
		}
		if next := c.nextDeadline(); !next.IsZero() {
			timer.Reset(max(next.Sub(c.clock.Now()), 0))
		} else {
			timer.Stop()
		}
		if publish {
			c.updateSnapshot()
			publish = false
		}
		select {
		case <-ctx.Done():
			return
		case <-c.in.wake:
		case <-depsChanged:
		case <-timer.C():
			c.onDeadlines()
			publish = true
		}
	}
}

// abandon runs as the loop returns. Callers still waiting are told thorp
// is shutting down; what watches the remaining processes ends (the
// processes themselves were stopped by the caller, or are left to the
// fence); the held sockets close.
func (c *component) abandon() {
	err := fmt.Errorf("component %q: %w", c.name, ErrShuttingDown)
	for _, in := range c.insts {
		for _, w := range in.waiters {
			w.settle(err)
		}
		in.waiters = nil
		for _, p := range []*process{in.old, in.proc} {
			if p != nil {
				p.endWatchers()
			}
		}
	}
	msgs, _ := c.in.take()
	for _, m := range msgs {
		if r, ok := m.(request); ok {
			r.reply <- err
		}
	}
	c.closeWatch()
	c.closeHeldSockets()
}

// drain handles everything in the inbox, in order, then the newest
// samples. It reports whether that left the snapshot as it is: nothing
// but samples arrived, none changed a figure the snapshot shows or set
// anything going, and every instance was steady (see steady), so the
// loop need not publish it again (an idle component is sampled every
// second and publishing builds the whole Status).
func (c *component) drain() (unchanged bool) {
	msgs, samples := c.in.take()
	unchanged = len(msgs) == 0 && c.steady()
	for _, m := range msgs {
		c.receive(m)
	}
	if c.applySamples(samples) {
		unchanged = false
	}
	n := len(c.insts)
	c.advanceRoll()
	c.dropGone()
	if len(c.insts) != n || (unchanged && c.logsMoved()) {
		unchanged = false
	}
	// Processes whose main process exited may still have a group to clear.
	for _, in := range c.insts {
		for _, p := range []*process{in.old, in.proc} {
			if p != nil && p.exited != nil {
				c.checkRemnants(in, p)
			}
		}
	}
	return unchanged
}

// logsMoved reports whether a log file's counters moved since the
// snapshot was published (they are read when it is built).
func (c *component) logsMoved() bool {
	v := c.view.Load()
	if v == nil || len(v.logs) != len(v.status.Logs) {
		return true
	}
	for i, l := range v.logs {
		s, was := l.file.Stats(), v.status.Logs[i]
		if s.Bytes != was.Bytes || s.Lines != was.Lines || s.Rotations != was.Rotations || s.DroppedBytes != was.DroppedBytes {
			return true
		}
	}
	return false
}

// steady reports whether no instance is in a state that drain moves on
// by itself: a roll under way, an old process an overlap restart
// replaces, a main process that exited with its group still to clear.
func (c *component) steady() bool {
	for _, in := range c.insts {
		if in.rolling || in.rollNext != "" || in.old != nil || (in.proc != nil && in.proc.exited != nil) {
			return false
		}
	}
	return true
}

// receive handles one message. Messages about a process that is no longer
// its instance's are stale and dropped.
func (c *component) receive(m message) {
	switch m := m.(type) {
	case request:
		c.handle(m)
	case exitMsg:
		if !c.current(m.p) {
			c.log.Warn("exit of a process the component no longer tracks", "pid", m.p.pid)
			return
		}
		c.onExit(m.p.inst, m.p, m.st)
	case readyMsg:
		if c.current(m.p) {
			c.onReady(m.p.inst, m.p)
		}
	case pingMsg:
		if c.current(m.p) {
			m.p.lastPing = m.at
		}
	case healthMsg:
		if c.current(m.p) {
			c.onHealth(m.p.inst, m.p, m.err)
		}
	case policyMsg:
		if c.current(m.p) {
			m.p.policyBusy = false
			c.onPolicy(m)
		}
	case drainedMsg:
		if c.current(m.p) {
			c.onDrained(m.p.inst, m.p, "its connections have ended")
		}
	case watchMsg:
		if m.gen == c.watchGen {
			c.onWatch(m)
		}
	default:
		panic(fmt.Sprintf("engine: unknown message %T", m)) // a programmer's bug
	}
}

// current reports whether p is still a process of its instance, and the
// instance still one of c's.
func (c *component) current(p *process) bool {
	in := p.inst
	return (in.proc == p || in.old == p) && in.index < len(c.insts) && c.insts[in.index] == in
}

func (c *component) handle(r request) {
	if err := r.ctx.Err(); err != nil {
		r.reply <- err // the caller gave up before the loop read it
		return
	}
	switch r.op {
	case opStart:
		for _, in := range c.active() {
			in.wantUp = true
			in.restartBy = ""
			if in.proc == nil && !in.waiting {
				in.nextStart = time.Time{}
				in.hist = policies.RunHistory{}
				c.begin(in)
			}
		}
		c.reply(r, StateRunning)
	case opStop:
		for _, in := range c.insts {
			in.wantUp = false
			in.restartBy = ""
			in.nextStart = time.Time{}
			in.waiting = false
			in.rollNext, in.rolling = "", false
			in.marker = 0
			c.retireOld(in, false)
			if in.proc != nil {
				c.stopProc(in, in.proc, policies.ReasonManual)
			} else if in.state != StateStopped {
				c.setState(in, StateStopped, Event{Type: EventStopped, Message: "stopped by request"})
			}
		}
		c.reply(r, StateStopped)
	case opRestart:
		for _, in := range c.active() {
			in.wantUp = true
			in.nextStart = time.Time{}
		}
		why := "restart requested (" + string(r.reason) + ")"
		if r.why != "" {
			why += ": " + r.why
		}
		c.restartAll(c.active(), r.reason, why)
		c.reply(r, StateRunning)
	case opSignal:
		var err error
		sent := 0
		for _, in := range c.insts {
			if in.proc == nil || in.proc.exited != nil {
				continue
			}
			if e := syscall.Kill(-in.proc.pid, r.sig); e != nil && !errors.Is(e, syscall.ESRCH) {
				err = fmt.Errorf("signal %s to component %q: %w", config.Signal(r.sig), c.name, e)
				continue
			}
			sent++
			c.event(in, Event{Type: EventSignal, PID: in.proc.pid, Signal: config.Signal(r.sig).String(),
				Message: "signal sent to the process group by request"})
		}
		if err == nil && sent == 0 {
			err = fmt.Errorf("component %q has %w to signal; start it first", c.name, ErrNoProcess)
		}
		r.reply <- err
	case opReset:
		for reason := range c.restarts {
			c.restarts[reason] = 0
		}
		for _, in := range c.insts {
			in.restarts = 0
		}
		c.lastWhy = ""
		// The view changes before the reply: the caller reads it next.
		c.updateSnapshot()
		c.event(c.insts[0], Event{Type: EventReset, Message: "restart counters and last restart reason reset by request"})
		r.reply <- nil
	case opScale:
		c.scale(r)
	case opHistory:
		*r.history = c.history(r.window)
		r.reply <- nil
	case opConfig:
		// A scaled count lasts while the file's instances value does not
		// change; a new value in the file wins.
		if c.scaled > 0 && r.cfg.Instances != c.cfg.Instances {
			c.scaled = 0
		}
		// A watched component is sampled rarely, and its thresholds
		// are those of the old settings: it is sampled at once.
		c.askSample = c.askSample || c.sup.cg.watchesMemory() && !sameMemoryJudgement(c.cfg, r.cfg)
		c.cfg = r.cfg
		if r.out != nil {
			c.setLogs(r.out, r.errLog)
		}
		// Changed sockets, bound by the reload before anything changed,
		// are taken before new instances start; a restart hands them to
		// the running ones.
		if r.rebind {
			c.setSockets(r.sockets)
		}
		c.updateFront(r)
		c.resize(c.want())
		c.setCron()
		c.setWatch()
		c.updateSnapshot()
		r.reply <- nil
	default:
		r.reply <- fmt.Errorf("component %q: unknown operation %s", c.name, r.op)
	}
}

// want is the number of instances c runs: the one 'thorp scale' set, else
// the config's.
func (c *component) want() int {
	if c.scaled > 0 {
		return c.scaled
	}
	return max(c.cfg.Instances, 1)
}

// active returns the instances c runs (see want); instances beyond them
// are only being stopped after a reload or a scale shrank the count.
func (c *component) active() []*instance {
	return c.insts[:min(len(c.insts), c.want())]
}

// scale applies an opScale request: the instance count becomes r.count
// (the config's count again when equal to it). With r.wait the caller
// hears back once the added instances run (when the component is meant
// to run) or the removed ones are gone.
func (c *component) scale(r request) {
	from := len(c.active())
	if r.count == max(c.cfg.Instances, 1) {
		c.scaled = 0
	} else {
		c.scaled = r.count
	}
	c.resize(r.count)
	msg := fmt.Sprintf("scaled from %d to %d instances by request", from, r.count)
	if c.scaled > 0 {
		msg += fmt.Sprintf(" (thorp.lua says %d)", max(c.cfg.Instances, 1))
	}
	c.event(c.insts[0], Event{Type: EventScale, Message: msg})
	c.updateSnapshot()
	switch {
	case r.count < len(c.insts):
		c.replyOn(r, StateStopped, c.insts[r.count:])
	case c.insts[0].wantUp:
		c.replyOn(r, StateRunning, c.active())
	default:
		r.reply <- nil // stopped: the new instances are too
	}
}

// resize changes the number of instances to n: new ones start when the
// first one is meant to run (as do kept ones a shrink was stopping);
// extra ones stop and are dropped once gone. Behind a balancer an extra
// instance in rotation is drained first, like the old process of a
// rolling restart.
func (c *component) resize(n int) {
	for _, in := range c.insts[1:min(n, len(c.insts))] {
		if !in.wantUp && c.insts[0].wantUp {
			in.wantUp = true
			if in.proc == nil && !in.waiting {
				c.begin(in)
			}
		}
	}
	for len(c.insts) < n {
		in := &instance{index: len(c.insts), state: StateStopped, wantUp: c.insts[0].wantUp, healthy: true}
		c.insts = append(c.insts, in)
		if in.wantUp {
			c.begin(in)
		}
	}
	for _, in := range c.insts[n:] {
		in.wantUp = false
		in.restartBy = ""
		in.nextStart = time.Time{}
		in.waiting = false
		in.rollNext, in.rolling = "", false
		c.retireOld(in, false) // an overlap restart's old process goes too, or the instance could never be dropped
		p := in.proc
		switch {
		case p == nil:
		case in.old == nil && p.backend != nil && !p.stopping && p.exited == nil:
			in.old, in.proc = p, nil
			c.drainOld(in, "the instance count shrank")
		default:
			c.stopProc(in, p, policies.ReasonConfig)
		}
	}
	c.trim(n)
}

// dropGone drops the instances beyond the count c runs that have nothing
// left running.
func (c *component) dropGone() { c.trim(c.want()) }

// trim drops trailing instances beyond n that have no process left (nor
// one an overlap restart replaces). Their waiters are answered: a stop is
// done, a start did not happen.
func (c *component) trim(n int) {
	var gone []*instance
	for len(c.insts) > n {
		in := c.insts[len(c.insts)-1]
		if in.proc != nil || in.old != nil {
			break
		}
		gone = append(gone, in)
		c.insts = c.insts[:len(c.insts)-1]
	}
	if len(gone) == 0 {
		return
	}
	// As setState does, the snapshot changes before the waiters hear:
	// a caller of a scale down reads a status without these instances.
	c.updateSnapshot()
	for _, in := range gone {
		for _, w := range in.waiters {
			if w.want == StateStopped {
				w.settle(nil)
			} else {
				w.settle(c.didNotStart(in, "the config no longer has this instance"))
			}
		}
		in.waiters = nil
	}
}

// reply answers r now, or registers it to be answered when every instance
// reaches want (or fails to).
func (c *component) reply(r request, want State) {
	insts := c.insts
	if want == StateRunning {
		insts = c.active()
	}
	c.replyOn(r, want, insts)
}

// replyOn answers r now, or registers it to be answered when every one of
// insts reaches want (or fails to).
func (c *component) replyOn(r request, want State, insts []*instance) {
	if !r.wait || len(insts) == 0 {
		r.reply <- nil
		return
	}
	w := &pending{want: want, left: len(insts), reply: r.reply}
	for _, in := range insts {
		in.waiters = append(in.waiters, w)
		c.settleWaiters(in)
	}
}

// settleWaiters answers the waiters of in that its current state satisfies.
func (c *component) settleWaiters(in *instance) {
	kept := in.waiters[:0]
	for _, w := range in.waiters {
		switch {
		case w.want == StateRunning && in.state == StateRunning && in.old == nil && in.rollNext == "":
			w.settle(nil)
		case w.want == StateStopped && in.state == StateStopped && in.proc == nil:
			w.settle(nil)
		case w.want == StateStopped && in.state == StateErrored && in.proc == nil:
			w.settle(nil)
		case w.want == StateRunning && (in.state == StateErrored || (in.state == StateStopped && in.proc == nil)):
			w.settle(c.didNotStart(in, in.message))
		default:
			kept = append(kept, w)
		}
	}
	in.waiters = kept
}

// failRunningWaiters tells callers waiting for a start that the process died.
func (c *component) failRunningWaiters(in *instance, why string) {
	kept := in.waiters[:0]
	for _, w := range in.waiters {
		if w.want == StateRunning {
			w.settle(c.didNotStart(in, why))
			continue
		}
		kept = append(kept, w)
	}
	in.waiters = kept
}

// didNotStart is the error of a start waiter on in.
func (c *component) didNotStart(in *instance, why string) error {
	return fmt.Errorf("component %q instance %d %w: %s", c.name, in.index, ErrDidNotStart, why)
}

// begin starts in now, or marks it waiting when its dependencies are not running.
func (c *component) begin(in *instance) {
	in.nextStart = time.Time{}
	if missing := c.sup.notRunning(c.cfg.DependsOn); len(missing) > 0 {
		c.waitingFor = missing
		in.waiting = true
		in.message = fmt.Sprintf("waiting for %v to be running", missing)
		c.setState(in, StateStarting, Event{Type: EventBackoff, Message: in.message})
		return
	}
	in.waiting = false
	c.spawn(in)
}

func (c *component) anyWaitingDeps() bool {
	for _, in := range c.insts {
		if in.waiting {
			return true
		}
	}
	return false
}

func (c *component) checkDeps() {
	if missing := c.sup.notRunning(c.cfg.DependsOn); len(missing) > 0 {
		c.waitingFor = missing
		return
	}
	for _, in := range c.insts {
		if in.waiting && in.wantUp {
			in.waiting = false
			c.spawn(in)
		}
	}
}

// spawn starts a new main process for in.
func (c *component) spawn(in *instance) {
	now := c.clock.Now()
	p := &process{inst: in, started: now}
	p.ctx, p.cancel = context.WithCancel(c.ctx)
	pid, err := c.sup.startProcess(c, in, p)
	if err != nil {
		p.cancel() // nothing watches it yet
		c.log.Error("start failed", "instance", in.index, "err", err)
		in.message = err.Error()
		c.event(in, Event{Type: EventFailed, Message: err.Error()})
		if in.old != nil {
			return // an overlap restart: the old process keeps running (restartInstance)
		}
		c.failRunningWaiters(in, err.Error())
		// A start that fails counts as a short run, so a broken command
		// ends errored instead of looping forever.
		c.decideAfterExit(in, policies.Exit{Code: 127, Started: now, Ended: now}, policies.ReasonCrash, err.Error(), Event{})
		return
	}
	p.pid = pid
	in.proc = p
	c.markSpawned(in, pid)
	c.sup.fence.AddGroup(pid)
	in.memory, in.procs, in.cpuPercent = 0, 0, 0
	in.memState = policies.MemoryState{}
	in.lastGrowth = policies.Growth{}
	in.message = ""
	in.health, in.healthy = policies.HealthState{}, true
	c.setState(in, StateStarting, Event{Type: EventSpawn, PID: pid, Message: fmt.Sprintf("started %q", c.cfg.Command.Argv)})
	if p.ready.notify != nil {
		// Owner: p (release waits); ends when release closes the socket.
		p.watch(func() {
			p.ready.readNotify(func() { c.in.post(pingMsg{p: p, at: c.clock.Now()}) })
		})
	}
	if p.ready.immediate() {
		c.markRunning(in, p, "")
		return
	}
	// Running once the probe says so, within listen_timeout (a deadline of
	// the loop: see onDeadlines).
	p.readyBy = now.Add(c.cfg.ListenTimeout)
	ctx, cancel := context.WithCancel(p.ctx)
	p.stopProbe = cancel
	luaTimeout := c.sup.Config().Settings.Plugins.Timeout
	// Owner: p (release waits); ends when the probe succeeds or ctx ends.
	p.watch(func() {
		if p.ready.wait(ctx, c.clock, luaTimeout) == nil {
			c.in.post(readyMsg{p: p})
		}
	})
}

// onReady applies the success of p's readiness probe.
func (c *component) onReady(in *instance, p *process) {
	if in.proc != p || p.exited != nil || p.stopping || in.state != StateStarting {
		return // the process ended or is being stopped meanwhile
	}
	c.markRunning(in, p, "ready: "+p.ready.describe(c.cfg))
}

// onNotReady stops p, whose probe did not succeed within listen_timeout.
func (c *component) onNotReady(in *instance, p *process) {
	p.stopProbe()
	if in.proc != p || p.exited != nil || p.stopping || in.state != StateStarting {
		return
	}
	why := fmt.Sprintf("not ready within listen_timeout (%s): %s never answered", c.cfg.ListenTimeout, p.ready.describe(c.cfg))
	in.message = why
	c.event(in, Event{Type: EventFailed, PID: p.pid, Message: why})
	c.failRunningWaiters(in, why)
	p.notReady = true
	c.stopProc(in, p, policies.ReasonCrash)
}

// stopProc sends the stop sequence to p's group.
func (c *component) stopProc(in *instance, p *process, reason policies.Reason) {
	p.requested = true
	c.outOfRotation(p)
	if p.stopping {
		return
	}
	sig := c.sendStop(p)
	c.setState(in, StateStopping, Event{Type: EventStopping, PID: p.pid, Reason: reason, Signal: config.Signal(sig).String(),
		Message: fmt.Sprintf("%s sent to the process group; SIGKILL in %s", config.Signal(sig), c.cfg.KillTimeout)})
}

// sendStop sends stop_signal to p's group and sets when SIGKILL follows;
// it returns the signal sent.
func (c *component) sendStop(p *process) syscall.Signal {
	p.stopping = true
	p.killAt = c.clock.Now().Add(c.cfg.KillTimeout)
	sig := syscall.Signal(c.cfg.StopSignal)
	p.signal(sig)
	return sig
}

// onExit handles the end of a main process.
func (c *component) onExit(in *instance, p *process, st exitStatus) {
	p.exited = &st
	c.outOfRotation(p) // new connections go to the others at once
	info := &ExitInfo{Code: st.code, Time: st.time}
	if st.signal != 0 {
		info.Signal = config.Signal(st.signal).String()
	}
	in.lastExit = info
	code := st.code
	ev := Event{Type: EventExit, PID: p.pid, Code: &code, Signal: info.Signal, Message: describeExit(st, st.time.Sub(p.started))}
	c.event(in, ev)
	if !p.requested && p != in.old {
		c.failRunningWaiters(in, ev.Message)
		in.message = ev.Message
	}
	c.checkRemnants(in, p)
}

// checkRemnants finishes p once its whole process group is gone, sending
// the stop sequence to survivors first: nothing restarts while a stale
// grandchild could still hold a port.
func (c *component) checkRemnants(in *instance, p *process) {
	if p.alive() {
		if !p.stopping {
			c.sendStop(p)
			ev := Event{Type: EventStopping, PID: p.pid, Reason: policies.ReasonCrash,
				Message: "main process exited; stopping the rest of its process group"}
			if p == in.old {
				c.event(in, ev) // the instance runs on in its new process
			} else {
				c.setState(in, StateStopping, ev)
			}
		}
		return
	}
	if p == in.old {
		c.finishOld(in, p)
		return
	}
	c.finish(in, p)
}

// finish runs after p and its group are gone: decide what comes next.
func (c *component) finish(in *instance, p *process) {
	in.proc = nil
	c.release(p)
	in.memory, in.procs, in.cpuPercent = 0, 0, 0
	st := p.exited
	exit := policies.Exit{Code: st.code, Signal: st.signal, Started: p.started, Ended: st.time, Requested: p.requested}
	code := st.code
	ev := Event{PID: p.pid, Code: &code} // the exit, for a restart after it
	if st.signal != 0 {
		ev.Signal = config.Signal(st.signal).String()
	}
	switch {
	case in.restartBy != "":
		reason := in.restartBy
		in.restartBy = ""
		delay := time.Duration(0)
		if reason.WaitsRestartDelay() {
			delay = c.cfg.RestartDelay
		}
		c.scheduleStart(in, delay, reason)
	case !in.wantUp:
		in.message = "stopped by request"
		// An instance a reload dropped goes from the view before its last
		// event, so whoever waits on events sees the new count.
		c.dropGone()
		c.setState(in, StateStopped, Event{Type: EventStopped, PID: p.pid, Message: in.message})
	case p.notReady:
		// A run that never became ready is a failed start, short by policy.
		exit.Requested = false
		c.decideAfterExit(in, exit, policies.ReasonCrash, in.message, ev)
	case p.requested:
		// A start arrived while the stop was under way: start again now.
		in.hist = policies.RunHistory{}
		c.begin(in)
	default:
		// Exit code 0 under autorestart "always" is reason exit, not crash.
		c.decideAfterExit(in, exit, exit.Reason(), describeExit(*st, st.time.Sub(p.started)), ev)
	}
}

// release frees what p held once it and its group are gone: the
// goroutines watching it end before release returns.
func (c *component) release(p *process) {
	c.outOfRotation(p)
	p.endWatchers()
	c.sup.fence.RemoveGroup(p.pid)
	for _, id := range p.escaped {
		c.sup.fence.RemoveProcess(id.PID)
	}
	c.sup.releaseCgroup(c, p)
}

// decideAfterExit applies the restart policy to an unrequested exit
// (exited is its exit event: the restart event names the same pid, code
// and signal; zero for a start that failed); a restart is counted under
// reason.
func (c *component) decideAfterExit(in *instance, exit policies.Exit, reason policies.Reason, what string, exited Event) {
	d, hist := policies.DecideExit(c.policy(), in.hist, exit)
	in.hist = hist
	switch d.Action {
	case policies.Restart:
		c.countRestartAfter(in, reason, what, exited)
		c.scheduleStart(in, d.Delay, reason)
	case policies.Errored:
		in.message = fmt.Sprintf("%s; %s", what, d.Why)
		if at, ok := policies.ErroredRetryAt(c.policy(), c.clock.Now()); ok {
			in.nextStart = at
			in.message += fmt.Sprintf("; retrying at %s", at.Format(time.TimeOnly))
		}
		c.setState(in, StateErrored, Event{Type: EventErrored, Message: in.message})
	default:
		in.message = fmt.Sprintf("%s; %s", what, d.Why)
		c.setState(in, StateStopped, Event{Type: EventStopped, Message: in.message})
	}
}

// countRestart counts a restart of in under reason and publishes it,
// naming the process it replaces when one runs.
func (c *component) countRestart(in *instance, reason policies.Reason, why string) {
	var of Event
	if p := in.proc; p != nil && p.exited == nil {
		of.PID = p.pid
	}
	c.countRestartAfter(in, reason, why, of)
}

// countRestartAfter is countRestart with the restart event's pid, exit
// code and signal taken from of (the exit that caused it).
func (c *component) countRestartAfter(in *instance, reason policies.Reason, why string, of Event) {
	c.restarts[reason]++
	in.restarts++
	c.lastWhy = reason
	c.markRestart(in, reason, why, of.PID)
	c.event(in, Event{Type: EventRestart, Reason: reason, Message: why, PID: of.PID, Code: of.Code, Signal: of.Signal})
}

// scheduleStart starts in after delay (now when delay is 0).
func (c *component) scheduleStart(in *instance, delay time.Duration, reason policies.Reason) {
	if delay <= 0 {
		c.begin(in)
		return
	}
	in.nextStart = c.clock.Now().Add(delay)
	in.message = fmt.Sprintf("restarting in %s (%s)", delay, reason)
	c.setState(in, StateBackoff, Event{Type: EventBackoff, Reason: reason, Message: in.message})
}

func (c *component) policy() policies.RestartPolicy {
	return policies.RestartPolicy{
		Autorestart:       c.cfg.Autorestart,
		RestartDelay:      c.cfg.RestartDelay,
		ExpBackoffMax:     c.cfg.ExpBackoffMax,
		MinUptime:         c.cfg.MinUptime,
		RetryErroredAfter: c.cfg.RetryErroredAfter,
		MaxRestarts:       c.cfg.MaxRestarts,
		StopExitCodes:     c.cfg.StopExitCodes,
	}
}

// nextDeadline is the earliest time the loop must wake up without a message.
func (c *component) nextDeadline() time.Time {
	var next time.Time
	earliest := func(t time.Time) {
		if !t.IsZero() && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	now := c.clock.Now()
	for _, in := range c.insts {
		if old := in.old; old != nil {
			earliest(old.killAt)
			earliest(old.drainBy)
			if old.exited != nil {
				earliest(now.Add(remnantPoll))
			}
		}
		if in.proc == nil {
			earliest(in.nextStart)
			continue
		}
		earliest(in.proc.killAt)
		earliest(in.proc.readyBy)
		earliest(c.watchdogDue(in))
		if in.proc.exited != nil {
			earliest(now.Add(remnantPoll))
		}
	}
	earliest(c.nextCron)
	return next
}

func (c *component) onDeadlines() {
	now := c.clock.Now()
	for _, in := range c.insts {
		if old := in.old; old != nil && old.draining && !now.Before(old.drainBy) {
			c.onDrained(in, old, fmt.Sprintf("drain_timeout (%s) passed with connections still open", c.cfg.Proxy.DrainTimeout))
		}
		if old := in.old; old != nil && !old.killAt.IsZero() && !now.Before(old.killAt) {
			old.killAt = time.Time{}
			old.signal(syscall.SIGKILL)
			c.event(in, Event{Type: EventKill, PID: old.pid, Signal: "SIGKILL",
				Message: fmt.Sprintf("the replaced process still ran %s after the stop signal; SIGKILL sent to its group", c.cfg.KillTimeout)})
		}
		p := in.proc
		if p == nil {
			if !in.nextStart.IsZero() && !now.Before(in.nextStart) {
				in.nextStart = time.Time{}
				if in.state == StateErrored {
					in.hist = policies.RunHistory{}
					c.event(in, Event{Type: EventRestart, Reason: policies.ReasonCrash, Message: "retrying after retry_errored_after"})
				}
				if in.wantUp {
					c.begin(in)
				}
			}
			continue
		}
		if !p.killAt.IsZero() && !now.Before(p.killAt) {
			p.killAt = time.Time{}
			p.signal(syscall.SIGKILL)
			c.event(in, Event{Type: EventKill, PID: p.pid, Signal: "SIGKILL",
				Message: fmt.Sprintf("still running %s after the stop signal; SIGKILL sent to the process group", c.cfg.KillTimeout)})
		}
		if !p.readyBy.IsZero() && !now.Before(p.readyBy) {
			p.readyBy = time.Time{}
			c.onNotReady(in, p)
		}
		c.checkWatchdog(in, now)
	}
	c.checkCron(now)
}

// setState moves in to state and publishes ev (with State filled in).
func (c *component) setState(in *instance, state State, ev Event) {
	in.state = state
	ev.State = state
	// The snapshot changes before the event is published: dependents
	// woken by the event read it to decide whether they may start.
	c.updateSnapshot()
	c.event(in, ev)
	c.settleWaiters(in)
}

func (c *component) event(in *instance, ev Event) {
	ev.Time = c.clock.Now()
	ev.Component = c.name
	ev.Instance = in.index
	if ev.State == "" {
		ev.State = in.state
	}
	lvl := slog.LevelInfo
	switch ev.Type {
	case EventFailed, EventErrored, EventKill:
		lvl = slog.LevelWarn
	}
	attrs := []any{"instance", ev.Instance, "state", ev.State}
	if ev.PID != 0 {
		attrs = append(attrs, "pid", ev.PID)
	}
	if ev.Reason != "" {
		attrs = append(attrs, "reason", string(ev.Reason))
	}
	if ev.Message != "" {
		attrs = append(attrs, "detail", ev.Message)
	}
	c.log.Log(c.ctx, lvl, ev.Type, attrs...)
	c.sup.events.add(ev)
}

// aggregate is the component's state from its instances' states.
func aggregate(insts []*instance) State {
	rank := map[State]int{StateErrored: 6, StateBackoff: 5, StateStarting: 4, StateStopping: 3, StateRunning: 2, StateStopped: 1}
	best := StateStopped
	for _, in := range insts {
		if rank[in.state] > rank[best] {
			best = in.state
		}
	}
	return best
}

// updateSnapshot publishes c's view (status, config, log files).
func (c *component) updateSnapshot() {
	now := c.clock.Now()
	prev := c.view.Load()
	st := Status{
		Name:              c.name,
		Tags:              c.cfg.Tags,
		Autostart:         c.cfg.Autostart,
		State:             aggregate(c.insts),
		RestartsByReason:  c.restartsByReason(prev),
		MemoryLimitBytes:  int64(c.cfg.MaxMemoryRestart),
		LastRestartReason: c.lastWhy,
		CPUSeconds:        c.cpu,
	}
	if c.scaled > 0 {
		st.Scale = &ScaleStatus{Instances: c.scaled, ConfigInstances: max(c.cfg.Instances, 1)}
	}
	for _, n := range c.restarts {
		st.Restarts += n
	}
	for _, in := range c.insts {
		is := InstanceStatus{Index: in.index, State: in.state, MemoryBytes: in.memory, Procs: in.procs,
			Restarts: in.restarts, CPUPercent: in.cpuPercent}
		st.MemoryBytes += in.memory
		st.CPUPercent += in.cpuPercent
		if in.lastGrowth.OK {
			st.MemoryGrowthBytesPerHour += in.lastGrowth.BytesPerHour
			st.MemoryGrowthPercentPerHour += in.lastGrowth.PercentPerHour / float64(len(c.insts))
			if ttl := in.lastGrowth.TimeToLimit.Seconds(); ttl > 0 && (st.MemoryTimeToLimitSeconds == 0 || ttl < st.MemoryTimeToLimitSeconds) {
				st.MemoryTimeToLimitSeconds = ttl
			}
		}
		if in.proc != nil {
			is.PID = in.proc.pid
			is.Port, is.Rotation = in.proc.port, in.proc.rotation()
			if in.state == StateRunning {
				is.runningSince = in.proc.started
				is.UptimeSeconds = now.Sub(in.proc.started).Seconds()
			}
		}
		st.Instances = append(st.Instances, is)
		if in.lastExit != nil && (st.LastExit == nil || in.lastExit.Time.After(st.LastExit.Time)) {
			st.LastExit = in.lastExit
		}
		if in.message != "" && st.Message == "" {
			st.Message = in.message
		}
	}
	if len(st.Instances) > 0 {
		st.PID = st.Instances[0].PID
		st.UptimeSeconds = st.Instances[0].UptimeSeconds
	}
	st.Healthy = st.State != StateErrored
	for _, in := range c.insts {
		if !in.healthy {
			st.Healthy = false
		}
	}
	logs := c.logRefs(prev)
	for _, l := range logs {
		s := l.file.Stats()
		st.Logs = append(st.Logs, LogStatus{Stream: l.stream, Path: l.path, Bytes: s.Bytes, Lines: s.Lines,
			Rotations: s.Rotations, DroppedBytes: s.DroppedBytes})
	}
	if c.anyWaitingDeps() {
		st.WaitingFor = c.waitingFor
	}
	st.Proxy = c.proxyStatus()
	v := &view{status: st, cfg: c.cfg, logs: logs}
	if st.Proxy != nil {
		v.bal = c.front.bal
	}
	c.view.Store(v)
	if c.askSample {
		c.askSample = false
		c.sup.cg.askSample(c)
	}
}

// restartsByReason is c's restart counts by reason for a new snapshot:
// prev's map (published maps are never written) while the counts are
// the same, so a snapshot rebuilt for a new sample allocates none.
func (c *component) restartsByReason(prev *view) map[string]int {
	if prev != nil && len(prev.status.RestartsByReason) == len(c.restarts) {
		same := true
		for r, n := range c.restarts {
			if m, ok := prev.status.RestartsByReason[string(r)]; !ok || m != n {
				same = false
				break
			}
		}
		if same {
			return prev.status.RestartsByReason
		}
	}
	m := make(map[string]int, len(c.restarts))
	for r, n := range c.restarts {
		m[string(r)] = n
	}
	return m
}

type logRef struct {
	stream, path string
	file         *rotate.File
}

// logRefs returns the log files c writes to, each once, with their
// paths: prev's (the published view's) while they are the same files of
// the same config, so a snapshot rebuilt for a new sample builds no
// paths.
func (c *component) logRefs(prev *view) []logRef {
	if prev != nil && prev.cfg == c.cfg && c.writesTo(prev.logs) {
		return prev.logs
	}
	var logs []logRef
	for i, f := range c.logs {
		if f[0] != nil && !hasLogFile(logs, f[0]) {
			logs = append(logs, logRef{"out", c.cfg.OutLogFor(i), f[0]})
		}
		if f[1] != nil && !hasLogFile(logs, f[1]) {
			logs = append(logs, logRef{"err", c.cfg.ErrLogFor(i), f[1]})
		}
	}
	return logs
}

// writesTo reports whether logs are the files logRefs would list, in
// its order.
func (c *component) writesTo(logs []logRef) bool {
	n := 0
	for _, f := range c.logs {
		for j, file := range f {
			if file == nil || hasLogFile(logs[:n], file) {
				continue
			}
			if n == len(logs) || logs[n].file != file || logs[n].stream != [2]string{"out", "err"}[j] {
				return false
			}
			n++
		}
	}
	return n == len(logs)
}

func hasLogFile(logs []logRef, f *rotate.File) bool {
	for _, l := range logs {
		if l.file == f {
			return true
		}
	}
	return false
}

// logFiles returns the log files c writes to; safe from any goroutine.
func (c *component) logFiles() []logRef { return c.view.Load().logs }

// status returns a copy of the latest snapshot, with uptime brought up to
// now; safe from any goroutine.
func (c *component) status() Status { return c.statusInto(nil) }

// statusInto is status with the instances copied into the memory of
// instances (its elements are overwritten) when it has room.
func (c *component) statusInto(instances []InstanceStatus) Status {
	v := c.view.Load()
	st := v.status
	st.Instances = nil // as status always had it with no instance, not an empty slice
	if len(v.status.Instances) > 0 {
		st.Instances = append(instances[:0], v.status.Instances...)
	}
	fillProxy(&st, v.bal)
	now := c.clock.Now()
	for i, in := range st.Instances {
		if !in.runningSince.IsZero() {
			st.Instances[i].UptimeSeconds = now.Sub(in.runningSince).Seconds()
		}
	}
	if len(st.Instances) > 0 {
		st.UptimeSeconds = st.Instances[0].UptimeSeconds
	}
	return st
}

func describeExit(st exitStatus, ran time.Duration) string {
	ran = ran.Round(time.Millisecond)
	if st.signal != 0 {
		return fmt.Sprintf("killed by %s after %s", config.Signal(st.signal), ran)
	}
	return fmt.Sprintf("exited with code %d after %s", st.code, ran)
}
