// Package daemon runs one thorp: a Supervisor with its control API on the
// unix socket, the HTTP server, the metrics push, the config's hooks, the
// alert dispatcher (settings.alerts), an optional service-manager link,
// signal handling and config reloads.
//
// It sits beside the engine rather than in it because it wires engine,
// engine/api and engine/web together, which the engine must not know
// about; and it holds both the run and the reload because a reload touches
// the same parts the run owns (supervisor, hooks, HTTP server, the current
// script). It never imports plugins or the CLI: evaluating thorp.lua (a
// Loader) and running its hooks (Hooks) are injected by cmd/thorp, and it
// knows no flags, terminals or exit codes (a second signal is ErrKilled;
// the CLI maps it to its exit code).
//
// Concurrency model: New binds the listeners and starts nothing. Run starts
// every goroutine of the daemon in one errgroup and returns only after all
// of them have ended: the supervisor (which owns the component loops, the
// sampler and the periodic state saving, and saves the state once more at
// shutdown), both servers, the metrics pusher, the hook runner, the alert
// dispatcher's delivery, the notifier, the signal handler and the reloads SIGHUP asks for. Reload and
// Close may be called from any goroutine; reloads are serialised.
package daemon

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"os"
	"reflect"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/alert"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/web"
)

// ErrKilled is returned by Run when a second stop signal arrived during the
// ordered shutdown: every component's process group was SIGKILLed.
var ErrKilled = errors.New("killed by a second signal during the shutdown")

// Load is one evaluation of the config file.
type Load struct {
	// Config is the validated config, nil when the file has errors.
	Config *config.Config
	// Problems lists the errors and warnings the evaluation found.
	Problems config.Problems
	// Release closes what the evaluation holds (its Lua state); nil for
	// nothing. The daemon calls it for a load it refuses and for the
	// current one at Close, not for one a reload replaced: processes
	// started under that config may still call its Lua functions, which
	// are bound to its state and keep it open until nothing uses them
	// (see plugins.Script).
	Release func()
	// Script is what the config's Lua functions are bound to, handed to
	// Hooks.Set with the load (cmd/thorp: its *plugins.Script, whose
	// timers run while its hooks are installed); the daemon does nothing
	// else with it. Nil for none.
	Script any
}

// release calls l.Release if set.
func (l Load) release() {
	if l.Release != nil {
		l.Release()
	}
}

// Loader evaluates the config file again, for a reload. It is called from
// the goroutine that asked for the reload, one call at a time.
type Loader func() Load

// Hooks runs the on(event, fn) hooks of the config. Handle is called from
// the engine's goroutines and must not block; the other methods may be
// called from any goroutine.
type Hooks interface {
	// Set installs the hooks of l (at start and after each reload).
	Set(l Load)
	// Handle queues an engine event for the hooks.
	Handle(ev engine.Event)
	// Reloaded tells the hooks that a reload was applied.
	Reloaded(rep engine.ReloadReport)
	// Run calls hooks until ctx ends.
	Run(ctx context.Context)
}

// Notifier hears about the daemon's life, e.g. a systemd notify link. Its
// methods may be called from any goroutine.
type Notifier interface {
	// Run follows sup until ctx ends (READY, STATUS and watchdog pings).
	Run(ctx context.Context, sup *engine.Supervisor)
	// Stopping is called once, when the ordered shutdown begins.
	Stopping()
	// Reloading and Reloaded bracket a reload that SIGHUP asked for.
	Reloading()
	Reloaded()
}

// Options configure a Daemon.
type Options struct {
	// Logger receives thorp's own log; nil discards it.
	Logger *slog.Logger
	// Version is reported by GET /api/v1/info.
	Version string
	// Engine are the supervisor's options. Logger, StatePath and
	// OnEvent are filled in by New from the other fields and the config.
	Engine engine.Options
	// Load evaluates the config file again for a reload; nil refuses
	// reloads.
	Load Loader
	// Hooks, when set, runs the config's hooks.
	Hooks Hooks
	// Notifier, when set, is told about start, reloads and shutdown.
	Notifier Notifier
	// Signals delivers SIGTERM and SIGINT (ordered shutdown; a second one
	// kills) and SIGHUP (reload). Nil: only Run's context and Close stop
	// the daemon.
	Signals <-chan os.Signal
	// Metrics are more parts that write their own /metrics families
	// (thorp run's stdout tee).
	Metrics []web.MetricsWriter
	// Activity, when set, is called at each engine event and after each
	// request on the control socket (a thorp command): thorp ran code it
	// does not run while idle. It must not block. The HTTP server's
	// requests (scrapes, the dashboard) do not call it: they recur.
	Activity func()
}

// ListenError is returned by New when the HTTP server cannot bind
// settings.http.
type ListenError struct{ Err error }

// Error returns the listen error.
func (e *ListenError) Error() string { return e.Err.Error() }

// Unwrap returns the listen error.
func (e *ListenError) Unwrap() error { return e.Err }

// serverShutdownTimeout bounds the wait for requests in flight when the
// servers close at the end of Run.
const serverShutdownTimeout = 5 * time.Second

// Daemon is one running thorp. Create it with New, run it with Run, and
// release it with Close.
type Daemon struct {
	log      *slog.Logger
	opts     Options
	sup      *engine.Supervisor
	alerts   *alert.Dispatcher
	web      *web.Server
	info     api.Info
	socket   string // the control socket's path
	control  net.Listener
	ctlSrv   *http.Server
	base     context.Context // the control requests' context
	endBase  context.CancelFunc
	killed   chan struct{} // closed by the second signal
	killOnce sync.Once
	critical *criticalWatch

	reloadMu sync.Mutex // one reload at a time; guards current

	mu       sync.Mutex
	current  Load // the config running now and its script
	started  bool // Run was called
	stopping bool // the ordered shutdown has begun; no more reloads
	closed   bool
	cancel   context.CancelFunc // ends Run's context; nil before Run
	done     chan struct{}      // closed when Run returns
}

// New prepares a daemon for first, a validated load: it creates the
// supervisor (which opens the log files), binds the control socket and,
// when settings.http is set, the HTTP address, so a busy port fails before
// anything starts. Nothing runs until Run. On error everything New
// acquired is released again, except first (the caller releases it).
func New(first Load, opts Options) (*Daemon, error) {
	cfg := first.Config
	if cfg == nil {
		return nil, errors.New("daemon: no config")
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Daemon{log: log, opts: opts, current: first, socket: cfg.Settings.Control,
		killed: make(chan struct{}), done: make(chan struct{}), critical: newCriticalWatch(cfg)}
	eng := opts.Engine
	eng.Logger, eng.StatePath = log, cfg.Settings.State
	// Every event goes to the hooks and to the alert dispatcher; neither
	// blocks.
	d.alerts = alert.New(cfg.Settings.Alerts, alert.Options{Logger: log, UserAgent: "thorp/" + opts.Version})
	hooks := opts.Hooks
	if hooks != nil {
		hooks.Set(first)
	}
	eng.OnEvent = func(ev engine.Event) {
		if hooks != nil {
			hooks.Handle(ev)
		}
		d.alerts.Handle(ev)
		d.critical.handle(ev)
		if opts.Activity != nil {
			opts.Activity()
		}
	}
	sup, err := engine.New(cfg, eng)
	if err != nil {
		return nil, err
	}
	d.sup = sup
	d.alerts.Attach(sup)
	ln, err := api.ListenControl(cfg.Settings.Control)
	if err != nil {
		_ = sup.Close()
		return nil, err
	}
	d.control = ln
	started := time.Now()
	d.info = api.Info{PID: os.Getpid(), Version: opts.Version, Config: cfg.File, Started: started, Profile: cfg.Profile}
	public := api.NewPublicHandler(sup, d.info)
	d.web = web.New(sup, web.Options{Addr: cfg.Settings.HTTP, Token: cfg.Settings.Token, Hosts: cfg.Settings.HTTPHosts,
		Started: started, API: public, Logger: log, Metrics: metricsOf(d.alerts, opts.Hooks, opts.Metrics)})
	// The sockets held for components, and their proxies' listen
	// addresses, count as this thorp's, for check.
	d.info.Listening = append(d.info.Listening, "unix://"+cfg.Settings.Control)
	for _, cc := range cfg.Components {
		addrs := slices.Collect(maps.Values(cc.Sockets))
		if cc.Proxy != nil {
			addrs = append(addrs, cc.Proxy.Listen)
		}
		for _, addr := range addrs {
			if hp, ok := strings.CutPrefix(addr, "tcp://"); ok {
				d.info.Listening = append(d.info.Listening, hp)
			} else if strings.HasPrefix(addr, "unix://") {
				d.info.Listening = append(d.info.Listening, addr)
			}
		}
	}
	if cfg.Settings.HTTP != "" {
		if err := d.web.Listen(); err != nil {
			d.releaseServers()
			_ = sup.Close()
			return nil, &ListenError{Err: err}
		}
		d.info.Listening = append(d.info.Listening, d.web.Addr())
	}
	control := api.NewHandler(sup, d.info, true)
	if opts.Load != nil {
		control.SetReloader(d.Reload)
		public.SetReloader(d.Reload)
	}
	d.base, d.endBase = context.WithCancel(context.Background())
	var ctl http.Handler = control
	if opts.Activity != nil {
		ctl = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			control.ServeHTTP(w, r)
			opts.Activity()
		})
	}
	d.ctlSrv = api.NewServer(ctl)
	d.ctlSrv.BaseContext = func(net.Listener) context.Context { return d.base }
	d.ctlSrv.ErrorLog = slog.NewLogLogger(log.Handler(), slog.LevelWarn)
	return d, nil
}

// metricsOf lists the parts that write their own /metrics families: the
// alerts, the hooks when they do, and more.
func metricsOf(alerts web.MetricsWriter, hooks Hooks, more []web.MetricsWriter) []web.MetricsWriter {
	out := []web.MetricsWriter{alerts}
	if m, ok := hooks.(web.MetricsWriter); ok {
		out = append(out, m)
	}
	out = append(out, more...)
	return out
}

// Supervisor returns the daemon's supervisor. Safe for concurrent use.
func (d *Daemon) Supervisor() *engine.Supervisor { return d.sup }

// Info returns what the daemon reports on GET /api/v1/info. Safe for
// concurrent use.
func (d *Daemon) Info() api.Info { return d.info }

// Run supervises until ctx ends, a stop signal arrives, Close is called, or
// a part fails. Then the components stop in reverse dependency order (the
// servers keep answering meanwhile, so clients can follow the shutdown),
// the supervisor saves its state, the event streams end and the servers
// close; Run returns once every goroutine it started has ended. It returns
// nil after an ordered shutdown, ErrKilled after a second signal, a
// *CriticalError when an instance of a component marked critical ended
// errored (which begins the same ordered shutdown), or what made it stop
// (a supervisor that could not start, an invalid metrics push). Failures of a server are logged and do not stop supervision.
// Run may be called once.
func (d *Daemon) Run(ctx context.Context) error {
	d.mu.Lock()
	if d.started || d.closed {
		d.mu.Unlock()
		return errors.New("daemon: Run called twice or after Close")
	}
	d.started = true
	ctx, cancel := context.WithCancel(ctx)
	d.cancel = cancel
	d.mu.Unlock()
	defer close(d.done)
	defer cancel()

	// life lasts until the supervisor has stopped: servers, hooks and the
	// pusher serve the whole shutdown.
	life, endLife := context.WithCancel(context.Background())
	defer endLife()
	cfg := d.sup.Config()
	waitPush := func() {}
	if p := cfg.Settings.MetricsPush; p.URL != "" {
		wait, err := d.web.Push(life, p.URL, p.Interval, p.Labels)
		if err != nil {
			d.shutdownServers()
			return err
		}
		waitPush = wait
	}

	g, gctx := errgroup.WithContext(ctx)
	supCtx, stopSup := context.WithCancel(gctx)
	defer stopSup()
	g.Go(func() error {
		defer endLife()
		if err := d.sup.Run(supCtx); err != nil {
			return fmt.Errorf("supervisor: %w", err)
		}
		return nil
	})
	g.Go(func() error {
		<-life.Done()
		waitPush()
		d.shutdownServers()
		return nil
	})
	g.Go(func() error {
		if err := d.ctlSrv.Serve(d.control); err != nil && !errors.Is(err, http.ErrServerClosed) {
			d.log.Error("control socket stopped; the CLI cannot reach this thorp", "err", err)
		}
		return nil
	})
	// Serve even without an address, so a reload can turn the server on.
	g.Go(func() error {
		if err := d.web.Serve(); err != nil {
			d.log.Error("http server stopped", "err", err)
		}
		return nil
	})
	if d.opts.Hooks != nil {
		g.Go(func() error {
			d.opts.Hooks.Run(life)
			return nil
		})
	}
	g.Go(func() error {
		d.alerts.Run(life)
		return nil
	})
	if d.opts.Notifier != nil {
		g.Go(func() error {
			d.opts.Notifier.Run(life, d.sup)
			return nil
		})
	}
	g.Go(func() error {
		d.handleSignals(life, supCtx, stopSup, g)
		return nil
	})
	g.Go(func() error {
		d.killUntilStopped(life)
		return nil
	})
	d.log.Info("thorp started", "pid", d.info.PID, "config", cfg.File, "components", len(cfg.Components),
		"control", d.socket, "profile", cfg.Profile)
	err := g.Wait()
	select {
	case <-d.killed:
		return errors.Join(ErrKilled, d.critical.err(), err)
	default:
		return errors.Join(d.critical.err(), err)
	}
}

// handleSignals acts on the stop and reload signals until life ends:
// the first SIGTERM/SIGINT/SIGQUIT (or the end of supCtx, or a critical
// component ending errored) begins the ordered shutdown, a second signal
// kills, SIGHUP reloads (in g) unless stopping.
func (d *Daemon) handleSignals(life, supCtx context.Context, stopSup context.CancelFunc, g *errgroup.Group) {
	supDone := supCtx.Done()
	critical := d.critical.fired
	for {
		select {
		case <-life.Done():
			return
		case <-critical:
			critical = nil
			if !d.isStopping() {
				d.log.Error("shutting down: a critical component ended errored; stopping components in reverse dependency order",
					"component", d.critical.cause.Component, "instance", d.critical.cause.Instance, "why", d.critical.cause.Message)
				d.beginStopping()
				stopSup()
			}
		case <-supDone:
			supDone = nil
			d.beginStopping()
		case sig := <-d.opts.Signals:
			stopping := d.isStopping()
			switch {
			case sig == syscall.SIGHUP && !stopping:
				d.log.Info("SIGHUP received: reloading the config")
				g.Go(func() error {
					if n := d.opts.Notifier; n != nil {
						n.Reloading()
						defer n.Reloaded()
					}
					if _, _, err := d.Reload(supCtx); err != nil {
						d.log.Warn("config reload finished with errors", "err", err)
					}
					return nil
				})
			case sig == syscall.SIGHUP:
				d.log.Info("SIGHUP ignored during shutdown")
			case !stopping:
				d.log.Info("shutting down: stopping components in reverse dependency order; send the signal again to kill them", "signal", sig.String())
				d.beginStopping()
				stopSup()
			default:
				d.log.Warn("second signal: killing every component's process group", "signal", sig.String())
				d.killOnce.Do(func() { close(d.killed) })
			}
		}
	}
}

// killUntilStopped waits for the second signal, then SIGKILLs every
// component's process group, and again at every event until life ends, so
// that nothing a policy restarts meanwhile outlives the shutdown.
func (d *Daemon) killUntilStopped(life context.Context) {
	select {
	case <-life.Done():
		return
	case <-d.killed:
	}
	for {
		changed := d.sup.WaitEvent()
		d.sup.Kill()
		select {
		case <-life.Done():
			return
		case <-changed:
		}
	}
}

// beginStopping marks the shutdown (no more reloads) and tells the
// notifier, once.
func (d *Daemon) beginStopping() {
	d.mu.Lock()
	was := d.stopping
	d.stopping = true
	d.mu.Unlock()
	if !was && d.opts.Notifier != nil {
		d.opts.Notifier.Stopping()
	}
}

func (d *Daemon) isStopping() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopping
}

// shutdownServers ends the event streams and requests in flight (bounded),
// closes both servers and removes the control socket. Safe twice.
func (d *Daemon) shutdownServers() {
	ctx, cancel := context.WithTimeout(context.Background(), serverShutdownTimeout)
	defer cancel()
	d.endBase()
	if err := d.ctlSrv.Shutdown(ctx); err != nil {
		_ = d.ctlSrv.Close()
	}
	if err := d.web.Shutdown(ctx); err != nil {
		d.log.Warn("http server shutdown", "err", err)
	}
	d.releaseServers()
}

// releaseServers closes the listeners (a second close does nothing);
// closing the control listener removes the socket file it created.
func (d *Daemon) releaseServers() {
	_ = d.web.Close()
	_ = d.control.Close()
}

// Close ends Run as its context would (an ordered shutdown) and waits for
// it to return, then releases what New acquired (the listeners and the
// supervisor's sockets, log files and spawner) and the current script.
// It is safe to call twice, before Run or without it.
func (d *Daemon) Close() error {
	d.mu.Lock()
	if d.closed {
		d.mu.Unlock()
		<-d.doneIfStarted()
		return nil
	}
	d.closed = true
	started, cancel := d.started, d.cancel
	d.mu.Unlock()
	if started {
		cancel()
		<-d.done
	} else {
		d.endBase()
		d.releaseServers()
	}
	err := d.sup.Close()
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	d.current.release()
	d.current = Load{}
	return err
}

// doneIfStarted is d.done once Run was called, a closed channel otherwise.
func (d *Daemon) doneIfStarted() <-chan struct{} {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.started {
		return d.done
	}
	c := make(chan struct{})
	close(c)
	return c
}

// Reload evaluates the config file again and applies it as one operation,
// all or nothing: a file with errors changes nothing and comes back as
// problems (with a nil error). Otherwise everything that can fail is
// prepared first: the supervisor's log files and held sockets (see
// engine.Supervisor.PrepareReload) and the HTTP server's new address. If
// any of it fails, what was prepared is released, the running config,
// processes, sockets, checks, hooks and HTTP server stay exactly as they
// were, and the error ends in "nothing changed". Only then does the
// alert dispatcher take the new settings.alerts, is the difference
// applied (engine.PreparedReload.Commit), do the hooks move to the new
// config's functions (the previous load is not released; see
// Load.Release), and does the HTTP server take the new token and
// address. An error after that comes from applying (a component that did not
// restart); the new config is running. A changed control path or
// metrics_push is a warning: they apply when thorp restarts. It implements
// api.Reloader; reloads are serialised, and one asked for during the
// shutdown is refused.
func (d *Daemon) Reload(ctx context.Context) (engine.ReloadReport, config.Problems, error) {
	if d.opts.Load == nil {
		return engine.ReloadReport{}, nil, errors.New("this thorp cannot reload its config")
	}
	d.reloadMu.Lock()
	defer d.reloadMu.Unlock()
	if d.isStopping() {
		return engine.ReloadReport{}, nil, fmt.Errorf("%w; the config was not reloaded", engine.ErrShuttingDown)
	}
	next := d.opts.Load()
	cfg, problems := next.Config, next.Problems
	if cfg == nil {
		next.release()
		d.sup.MarkReloadFailed()
		d.log.Warn("config reload refused: the file has errors; nothing was changed", "errors", len(problems.Errors()))
		for _, p := range problems.Errors() {
			d.log.Warn(p.String())
		}
		return engine.ReloadReport{}, problems, nil
	}
	old := d.current.Config
	warn := func(key, msg string) {
		problems = append(problems, config.Problem{File: cfg.File, Line: cfg.Settings.Line, Key: key, Warning: true, Message: msg})
	}
	if cfg.Settings.Control != old.Settings.Control {
		warn("control", "a new control socket path takes effect when thorp restarts; the old one stays in use")
	}
	if !reflect.DeepEqual(cfg.Settings.MetricsPush, old.Settings.MetricsPush) {
		warn("metrics_push", "a changed metrics_push takes effect when thorp restarts")
	}

	// Prepare: everything that can fail, before anything changes.
	fail := func(err error) (engine.ReloadReport, config.Problems, error) {
		next.release()
		d.log.Warn("config reload failed; nothing changed", "err", err)
		return engine.ReloadReport{}, problems, err
	}
	switchWeb, abortWeb, err := d.web.PrepareRebind(cfg.Settings.HTTP)
	if err != nil {
		d.sup.MarkReloadFailed()
		return fail(fmt.Errorf("settings.http: %w; nothing changed", err))
	}
	prep, err := d.sup.PrepareReload(cfg)
	if err != nil {
		abortWeb()
		return fail(err)
	}

	// Commit. The alert rules and the critical components follow the new
	// config from its first event on (a component it adds or changes may
	// end errored during the commit).
	d.alerts.Set(cfg.Settings.Alerts)
	d.critical.set(cfg)
	rep, err := prep.Commit(ctx)
	// The previous load is not released: a process that keeps running
	// still calls its config's functions (a health check).
	if d.opts.Hooks != nil {
		d.opts.Hooks.Set(next)
	}
	d.current = next
	d.web.SetToken(cfg.Settings.Token)
	d.web.SetHosts(cfg.Settings.HTTPHosts)
	switchWeb()
	if d.opts.Hooks != nil {
		d.opts.Hooks.Reloaded(rep)
	}
	if err != nil {
		d.log.Warn("config reloaded with errors", "added", rep.Added, "removed", rep.Removed, "restarted", rep.Restarted, "updated", rep.Updated, "err", err)
		return rep, problems, fmt.Errorf("the new config was applied, but: %w", err)
	}
	d.log.Info("config reloaded", "added", rep.Added, "removed", rep.Removed, "restarted", rep.Restarted, "updated", rep.Updated)
	return rep, problems, nil
}
