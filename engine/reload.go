package engine

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
	"github.com/thorp-dev/thorp/rotate"
)

// ReloadReport says what applying a new config did, by component name.
type ReloadReport struct {
	// Added components were started (each after its dependencies).
	Added []string `json:"added"`
	// Removed components were stopped, dependents first, and forgotten.
	Removed []string `json:"removed"`
	// Restarted components changed in a way only a new process can apply
	// (command, cwd, env, user, group, sockets, ready, instances, log
	// paths); they restarted with reason "config", dependencies first.
	Restarted []string `json:"restarted"`
	// Updated components changed only in policy (restart, memory, stop,
	// log rotation settings…); the new values apply to the running process.
	Updated []string `json:"updated"`
	// Unchanged components kept their processes.
	Unchanged []string `json:"unchanged"`
}

// LastReload reports whether the last config reload succeeded and when it
// was attempted (thorp's start counts as a successful load).
func (s *Supervisor) LastReload() (ok bool, at time.Time) {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.lastReload.ok, s.lastReload.at
}

// MarkReloadFailed records a reload that failed before reaching Reload
// (the new file did not evaluate or validate), for the reload metrics.
func (s *Supervisor) MarkReloadFailed() {
	s.mu.Lock()
	s.lastReload = reloadMark{ok: false, at: s.clock.Now()}
	s.mu.Unlock()
}

// Reload applies cfg, a fully validated config, as the difference to the
// running one: removed components stop, new ones start, changed ones
// restart with reason "config" or take new policy values in place, and
// unchanged ones keep their pids. cfg's Lua functions are bound to cfg's
// script; what runs under the previous config (a health check of a process
// that keeps running) goes on calling the previous config's functions until
// that process is replaced. Nothing changes when an
// error is returned before anything was applied (a log file that cannot be
// opened). Reload is safe for concurrent use; reloads are serialised.
func (s *Supervisor) Reload(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	s.reloadMu.Lock()
	defer s.reloadMu.Unlock()
	select {
	case <-s.running:
	default:
		return ReloadReport{}, fmt.Errorf("%w; try again in a moment", ErrNotStarted)
	}
	rep, err := s.reload(ctx, cfg)
	s.mu.Lock()
	s.lastReload = reloadMark{ok: err == nil, at: s.clock.Now()}
	s.mu.Unlock()
	return rep, err
}

func (s *Supervisor) reload(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	old := s.Config()
	var rep ReloadReport
	restart := map[string]bool{}
	for i := range cfg.Components {
		nc := &cfg.Components[i]
		oc := old.Component(nc.Name)
		switch {
		case oc == nil:
			rep.Added = append(rep.Added, nc.Name)
		case needsRestart(oc, nc) || s.outPath(oc) != s.outPath(nc) || s.errPath(oc) != s.errPath(nc):
			rep.Restarted = append(rep.Restarted, nc.Name)
			restart[nc.Name] = true
		case !reflect.DeepEqual(comparable(oc), comparable(nc)) || !sameFuncs(oc, nc):
			rep.Updated = append(rep.Updated, nc.Name)
		default:
			rep.Unchanged = append(rep.Unchanged, nc.Name)
		}
	}
	removed := map[string]bool{}
	for _, oc := range old.Components {
		if cfg.Component(oc.Name) == nil {
			rep.Removed = append(rep.Removed, oc.Name)
			removed[oc.Name] = true
		}
	}

	// Open every log file the new config needs before changing anything.
	files := map[string][2]*rotate.File{}
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		out, errLog, err := s.logs.openComponent(cc)
		if err != nil {
			return ReloadReport{}, err
		}
		out.SetOptions(s.logs.options(s.outPath(cc), cc.Logs))
		errLog.SetOptions(s.logs.options(s.errPath(cc), cc.Logs))
		files[cc.Name] = [2]*rotate.File{out, errLog}
	}

	// Removed components stop first, dependents before dependencies.
	if len(removed) > 0 {
		s.stopInOrder(old.Components, func(n string) bool { return removed[n] })
		var ended []*component
		s.mu.Lock()
		for n := range removed {
			if c := s.comps[n]; c != nil {
				ended = append(ended, c)
				delete(s.comps, n)
			}
		}
		s.order = slices.DeleteFunc(s.order, func(n string) bool { return removed[n] })
		s.mu.Unlock()
		// A loop closes its sockets as it returns: wait for it (outside
		// s.mu, which it may need), since a new component may bind the
		// same address.
		for _, c := range ended {
			c.endLoop()
			<-c.done
		}
	}

	// Swap the config, then give every kept component its new values.
	var added []*component
	var errs []error
	s.mu.Lock()
	s.cfg = cfg
	s.order = s.order[:0]
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		s.order = append(s.order, cc.Name)
		if s.comps[cc.Name] == nil {
			f := files[cc.Name]
			c := newComponent(s, cc, f[0], f[1])
			if err := c.rebindSockets(cc.Sockets); err != nil {
				errs = append(errs, err) // it starts without them and fails loudly
			}
			s.comps[cc.Name] = c
			added = append(added, c)
		}
	}
	s.mu.Unlock()
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		if slices.Contains(rep.Added, cc.Name) {
			continue
		}
		c, _ := s.component(cc.Name)
		f := files[cc.Name]
		// Changed sockets are rebound by the loop; the restart below hands
		// them over.
		if err := c.send(ctx, request{op: opConfig, cfg: cc, out: f[0], errLog: f[1]}); err != nil {
			errs = append(errs, err)
		}
	}
	for _, c := range added {
		s.startLoop(c)
		if err := c.send(ctx, request{op: opStart}); err != nil {
			errs = append(errs, err)
		}
	}

	// Changed components restart in dependency order, dependencies first.
	levels, err := config.TopoOrder(cfg.Components)
	if err != nil {
		return rep, err
	}
	for _, level := range levels {
		var names []string
		for _, n := range level {
			if restart[n] {
				names = append(names, n)
			}
		}
		if len(names) == 0 {
			continue
		}
		if err := s.Restart(ctx, names, policies.ReasonConfig, true); err != nil {
			errs = append(errs, fmt.Errorf("restart after config change: %w", err))
		}
	}
	return rep, errors.Join(errs...)
}

// needsRestart reports whether moving from a to b needs a new process.
func needsRestart(a, b *config.Component) bool {
	return !reflect.DeepEqual(a.Command, b.Command) || a.Cwd != b.Cwd || !reflect.DeepEqual(a.Env, b.Env) ||
		a.User != b.User || a.Group != b.Group || !reflect.DeepEqual(a.Sockets, b.Sockets) ||
		a.Ready != b.Ready || !config.SameFunc(a.ReadyFunc, b.ReadyFunc) || a.Instances != b.Instances ||
		a.LogFile != b.LogFile || a.ErrorFile != b.ErrorFile || a.MergeLogs != b.MergeLogs
}

// comparable returns a copy of c without what differs between two
// evaluations of the same text (lines) and without its Lua functions, which
// sameFuncs compares.
func comparable(c *config.Component) config.Component {
	x := *c
	x.Line = 0
	x.MemoryPolicy, x.ReadyFunc = nil, nil
	if x.Health != nil {
		h := *x.Health
		h.Func = nil
		x.Health = &h
	}
	return x
}

// sameFuncs reports whether a and b have the same memory_policy and health
// function (config.SameFunc); the ready function counts in needsRestart.
func sameFuncs(a, b *config.Component) bool {
	var ha, hb config.Func
	if a.Health != nil {
		ha = a.Health.Func
	}
	if b.Health != nil {
		hb = b.Health.Func
	}
	return config.SameFunc(a.MemoryPolicy, b.MemoryPolicy) && config.SameFunc(ha, hb)
}
