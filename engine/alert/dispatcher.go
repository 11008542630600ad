// Package alert is thorp's alert dispatcher: it raises the alerts of the
// settings.alerts rules (errored, health, memory, restarts) from the
// engine's events, and delivers every alert event, whatever raised it (a
// rule, thorp.alert in Lua, a memory_policy), to the configured webhook
// and command, with a timeout per attempt, retries with backoff and a rate
// limit on identical alerts. Each alert ends as one line in thorp's log
// and one count of thorp_alerts_total{kind,outcome}; the alert itself is an
// engine event (engine.EventAlert).
//
// Concurrency model: Handle is called from the engine's goroutines, for
// every event, and never blocks: under the dispatcher's mutex it applies
// the rules (a few map look-ups) and the rate limit, then it hands an alert
// to a bounded queue, or drops it (counted) when the queue is full. The
// alerts the rules raise are recorded through the Recorder (the
// supervisor) outside the mutex, and come back to Handle as events like
// any other alert. Run owns the delivery workers: they take alerts off the
// queue and deliver them, and Run returns once every one of them has ended
// after its context ended (an attempt in flight is cancelled then). Set,
// Attach and WriteMetrics may be called from any goroutine.
package alert

import (
	"cmp"
	"context"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// Recorder publishes an event made outside the components;
// *engine.Supervisor is one. Record must be safe for concurrent use.
type Recorder interface {
	Record(ev engine.Event)
}

// The outcomes of an alert, the outcome label of thorp_alerts_total.
const (
	OutcomeSent       = "sent"       // every destination took it
	OutcomeFailed     = "failed"     // a destination refused it or never answered, retries included
	OutcomeSuppressed = "suppressed" // an identical alert went out less than repeat_interval ago
	OutcomeDropped    = "dropped"    // the delivery queue was full
	OutcomeLogged     = "logged"     // no webhook or command is set: the log, the event and the metric are the alert
)

// Defaults of Options.
const (
	DefaultQueueSize = 64
	DefaultWorkers   = 4
	DefaultBackoff   = time.Second
	maxBackoff       = time.Minute
)

// Options configure a Dispatcher; the zero value is usable.
type Options struct {
	// Logger receives one line per alert; nil discards them.
	Logger *slog.Logger
	// Host is the host name in the alerts; "" is os.Hostname().
	Host string
	// UserAgent is the webhook requests' User-Agent; "" is "thorp".
	UserAgent string
	// QueueSize bounds the alerts waiting for delivery (DefaultQueueSize).
	QueueSize int
	// Workers is how many alerts are delivered at once (DefaultWorkers).
	Workers int
	// Backoff is the wait before the first retry; it doubles for each
	// further one, up to a minute (DefaultBackoff).
	Backoff time.Duration
	// Now is the rate limit's clock; nil is time.Now.
	Now func() time.Time
}

// Dispatcher raises and delivers alerts; see the package comment. Create
// it with New; it is safe for concurrent use.
type Dispatcher struct {
	log     *slog.Logger
	host    string
	agent   string
	workers int
	backoff time.Duration
	now     func() time.Time
	client  *http.Client
	queue   chan job
	stats   counters

	mu       sync.Mutex
	settings config.AlertSettings
	rec      Recorder
	rules    rules
	last     map[alertKey]time.Time // when an alert was last let through, for the rate limit
}

// job is one alert to deliver under the settings of the moment it was raised.
type job struct {
	ev       engine.Event
	kind     string
	settings config.AlertSettings
}

// alertKey is what makes two alerts identical for the rate limit.
type alertKey struct{ kind, component, message string }

// New returns a Dispatcher for settings; nothing is delivered until Run.
func New(settings config.AlertSettings, opts Options) *Dispatcher {
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	host := opts.Host
	if host == "" {
		host, _ = os.Hostname()
	}
	d := &Dispatcher{
		log:      log,
		host:     host,
		agent:    cmp.Or(opts.UserAgent, "thorp"),
		workers:  cmp.Or(max(opts.Workers, 0), DefaultWorkers),
		backoff:  cmp.Or(max(opts.Backoff, 0), DefaultBackoff),
		now:      opts.Now,
		client:   newClient(),
		queue:    make(chan job, cmp.Or(max(opts.QueueSize, 0), DefaultQueueSize)),
		settings: settings,
		rules:    newRules(),
		last:     map[alertKey]time.Time{},
	}
	if d.now == nil {
		d.now = time.Now
	}
	return d
}

// Set takes the settings of a reloaded config: the rules and the alerts
// raised from now on follow them; deliveries under way keep theirs.
func (d *Dispatcher) Set(settings config.AlertSettings) {
	d.mu.Lock()
	d.settings = settings
	d.mu.Unlock()
}

// Attach sets the recorder the rules' alerts are published through, once
// the supervisor exists. Without one they are delivered directly (and are
// not events).
func (d *Dispatcher) Attach(r Recorder) {
	d.mu.Lock()
	d.rec = r
	d.mu.Unlock()
}

// Handle takes one engine event: an alert event is delivered (or
// suppressed, or dropped); any other event goes through the rules, which
// may raise alerts. It never blocks.
func (d *Dispatcher) Handle(ev engine.Event) {
	if ev.Type == engine.EventAlert {
		d.accept(ev)
		return
	}
	d.mu.Lock()
	raised := d.rules.apply(d.settings, ev)
	rec := d.rec
	d.mu.Unlock()
	for _, a := range raised {
		if rec != nil {
			rec.Record(a) // comes back to Handle
		} else {
			d.accept(a)
		}
	}
}

// maxRemembered bounds the rate limit's memory: past it, alerts older than
// the repeat interval are forgotten.
const maxRemembered = 1024

// accept applies the rate limit to an alert and queues it for delivery.
func (d *Dispatcher) accept(ev engine.Event) {
	kind := cmp.Or(ev.Alert, "other")
	key := alertKey{kind, ev.Component, ev.Message}
	now := d.now()
	d.mu.Lock()
	s := d.settings
	if s.RepeatInterval > 0 {
		if at, ok := d.last[key]; ok && now.Sub(at) < s.RepeatInterval {
			d.mu.Unlock()
			d.finish(ev, kind, OutcomeSuppressed, nil)
			return
		}
		d.last[key] = now
		if len(d.last) > maxRemembered {
			maps.DeleteFunc(d.last, func(_ alertKey, at time.Time) bool { return now.Sub(at) >= s.RepeatInterval })
		}
	}
	d.mu.Unlock()
	if s.Webhook == "" && len(s.Command) == 0 {
		d.finish(ev, kind, OutcomeLogged, nil)
		return
	}
	select {
	case d.queue <- job{ev: ev, kind: kind, settings: s}:
	default:
		// Not delivered, so the next identical alert may go.
		d.mu.Lock()
		if d.last[key].Equal(now) {
			delete(d.last, key)
		}
		d.mu.Unlock()
		d.finish(ev, kind, OutcomeDropped, nil)
	}
}

// Run delivers queued alerts until ctx ends, then waits for its workers
// (an attempt in flight is cancelled with ctx) and returns. Alerts still
// queued then are not delivered. Call it once.
func (d *Dispatcher) Run(ctx context.Context) {
	var wg sync.WaitGroup
	for range d.workers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case j := <-d.queue:
					d.deliver(ctx, j)
				}
			}
		})
	}
	wg.Wait()
	d.client.CloseIdleConnections()
}

// finish counts an alert's outcome and logs it.
func (d *Dispatcher) finish(ev engine.Event, kind, outcome string, err error) {
	d.stats.add(kind, outcome)
	attrs := []any{"kind", kind, "component", ev.Component, "instance", ev.Instance, "message", ev.Message}
	for _, k := range slices.Sorted(maps.Keys(ev.Fields)) {
		attrs = append(attrs, "field."+k, ev.Fields[k])
	}
	attrs = append(attrs, "outcome", outcome)
	if err != nil {
		attrs = append(attrs, "err", err)
	}
	d.log.Warn("alert", attrs...)
}
