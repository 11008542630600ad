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
	// paths, gaining or losing a proxy, proxy.port_env); they restarted
	// with reason "config", dependencies first (a proxied one as a rolling
	// restart). A proxy's other keys apply in place: a new listen address
	// is bound before anything changes, a new mode gets a new balancer.
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
func (s *Supervisor) MarkReloadFailed() { s.markReload(false) }

// Reload applies cfg, a fully validated config, as the difference to the
// running one: PrepareReload, then Commit. See PrepareReload for what
// happens when it cannot be applied (nothing changes).
func (s *Supervisor) Reload(ctx context.Context, cfg *config.Config) (ReloadReport, error) {
	p, err := s.PrepareReload(cfg)
	if err != nil {
		return ReloadReport{}, err
	}
	return p.Commit(ctx)
}

// PreparedReload is a reload whose every step that can fail has
// succeeded: the log files and held sockets of the new config are open,
// and nothing running has changed yet. Exactly one of Commit or Abort must
// be called; until then other reloads wait.
type PreparedReload struct {
	s       *Supervisor
	cfg     *config.Config
	rep     ReloadReport
	restart map[string]bool
	removed map[string]bool
	levels  [][]string                 // cfg's dependency order
	files   map[string][2]*rotate.File // every component's out and error log
	opened  []string                   // log paths opened for this reload
	// sockets are the held sockets of the components whose sockets change
	// (or are added): bound now, or shared with their running holder.
	sockets map[string][]*heldSocket
	// proxies are the proxy listeners of the components whose proxy
	// address changes (or that are added with one); nil for a component
	// whose proxy goes.
	proxies map[string]*heldSocket
	ended   bool
}

// PrepareReload does every part of applying cfg that can fail, before
// anything changes: it compares cfg with the running config, opens the
// log files cfg needs and binds the held sockets of the components whose
// sockets change. An address a component already holds is not bound
// again: the listener passes to whichever component of cfg names it
// first, so connections keep queueing and a component can keep (or take)
// an address on which a bind would fail. On error everything it opened or
// bound is released, the running config, processes, sockets and checks are
// exactly as before (the next reload compares against them), and the
// error says so. Reloads are serialised: the next one waits for Commit or
// Abort. Safe for concurrent use.
func (s *Supervisor) PrepareReload(cfg *config.Config) (*PreparedReload, error) {
	s.reloadMu.Lock()
	select {
	case <-s.running:
	default:
		s.reloadMu.Unlock()
		return nil, fmt.Errorf("%w; try again in a moment", ErrNotStarted)
	}
	p, err := s.prepare(cfg)
	if err != nil {
		s.markReload(false)
		s.reloadMu.Unlock()
		return nil, fmt.Errorf("%w; nothing changed", err)
	}
	return p, nil
}

// markReload records the outcome of a reload, for the reload metrics.
func (s *Supervisor) markReload(ok bool) {
	s.mu.Lock()
	s.lastReload = reloadMark{ok: ok, at: s.clock.Now()}
	s.mu.Unlock()
}

// prepare is PrepareReload under s.reloadMu. Reading the components'
// sockets is safe here: a loop replaces them only for a reload's config
// request, or as it ends, which happens only under s.reloadMu.
func (s *Supervisor) prepare(cfg *config.Config) (*PreparedReload, error) {
	p := &PreparedReload{s: s, cfg: cfg, restart: map[string]bool{}, removed: map[string]bool{},
		files: map[string][2]*rotate.File{}, sockets: map[string][]*heldSocket{}, proxies: map[string]*heldSocket{}}
	if err := p.prepare(); err != nil {
		p.release()
		return nil, err
	}
	return p, nil
}

// prepare fills p in; on error the caller releases what it holds.
func (p *PreparedReload) prepare() (err error) {
	s, cfg, old := p.s, p.cfg, p.s.Config()
	if p.levels, err = config.TopoOrder(cfg.Components); err != nil {
		return err
	}
	rep := &p.rep
	for i := range cfg.Components {
		nc := &cfg.Components[i]
		oc := old.Component(nc.Name)
		switch {
		case oc == nil:
			rep.Added = append(rep.Added, nc.Name)
		case needsRestart(oc, nc) || s.outPath(oc) != s.outPath(nc) || s.errPath(oc) != s.errPath(nc):
			rep.Restarted = append(rep.Restarted, nc.Name)
			p.restart[nc.Name] = true
		case !reflect.DeepEqual(comparable(oc), comparable(nc)) || !sameFuncs(oc, nc):
			rep.Updated = append(rep.Updated, nc.Name)
		default:
			rep.Unchanged = append(rep.Unchanged, nc.Name)
		}
	}
	for _, oc := range old.Components {
		if cfg.Component(oc.Name) == nil {
			rep.Removed = append(rep.Removed, oc.Name)
			p.removed[oc.Name] = true
		}
	}

	// Every log file the new config needs (instance 0's of a component
	// with per-instance logs; the others open when their instance starts).
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		out, errLog, err := s.logs.openComponent(cc, 0, &p.opened)
		if err != nil {
			return err
		}
		p.files[cc.Name] = [2]*rotate.File{out, errLog}
	}

	// The held sockets of components that are added or whose sockets
	// change. The listeners of removed components and of changing ones
	// may pass to a new holder.
	pool := map[string]*heldSocket{}
	var changing []*config.Component
	s.mu.RLock()
	for name, c := range s.comps {
		nc := cfg.Component(name)
		if nc != nil && sameSockets(c.sockets, nc.Sockets) {
			continue
		}
		for _, h := range c.sockets {
			if pool[h.addr] == nil {
				pool[h.addr] = h
			}
		}
	}
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		if c := s.comps[cc.Name]; c == nil || !sameSockets(c.sockets, cc.Sockets) {
			changing = append(changing, cc)
		}
	}
	// Proxy listeners likewise: one whose address changes or whose
	// component goes may pass to a new holder.
	var reproxy []*config.Component
	for name, c := range s.comps {
		nc := cfg.Component(name)
		if f := c.front; f != nil && proxyListen(nc) != f.sock.addr && pool[f.sock.addr] == nil {
			pool[f.sock.addr] = f.sock
		}
		if nc != nil && c.front != nil && nc.Proxy == nil {
			p.proxies[name] = nil
		}
	}
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		if c := s.comps[cc.Name]; cc.Proxy != nil && (c == nil || c.front == nil || c.front.sock.addr != cc.Proxy.Listen) {
			reproxy = append(reproxy, cc)
		}
	}
	s.mu.RUnlock()
	for _, cc := range changing {
		hs, err := listenSockets(cc.Sockets, pool)
		if err != nil {
			return fmt.Errorf("component %q: %w", cc.Name, err)
		}
		p.sockets[cc.Name] = hs
	}
	for _, cc := range reproxy {
		hs, err := listenSockets(map[string]string{"proxy": cc.Proxy.Listen}, pool)
		if err != nil {
			return fmt.Errorf("component %q: proxy.listen: %w", cc.Name, err)
		}
		p.proxies[cc.Name] = hs[0]
	}
	return nil
}

// proxyListen is cc's proxy address; "" when cc is nil or has no proxy.
func proxyListen(cc *config.Component) string {
	if cc == nil || cc.Proxy == nil {
		return ""
	}
	return cc.Proxy.Listen
}

// Abort gives up a prepared reload: what PrepareReload opened or bound is
// released and nothing changes; the reload counts as failed. Abort after
// Commit or a second Abort does nothing.
func (p *PreparedReload) Abort() {
	if p.ended {
		return
	}
	p.ended = true
	p.release()
	p.s.markReload(false)
	p.s.reloadMu.Unlock()
}

// release closes the sockets and log files prepared for the reload.
func (p *PreparedReload) release() {
	for _, hs := range p.sockets {
		closeSockets(hs)
	}
	p.sockets = nil
	for _, h := range p.proxies {
		if h != nil {
			closeSockets([]*heldSocket{h})
		}
	}
	p.proxies = nil
	p.s.logs.discard(p.opened)
	p.opened = nil
}

// Commit applies the prepared reload: removed components stop, new ones
// start, changed ones restart with reason "config" or take new policy
// values in place, and unchanged ones keep their pids. cfg's Lua functions
// are bound to cfg's script; what runs under the previous config (a
// health check of a process that keeps running) goes on calling the
// previous config's functions until that process is replaced. Once begun
// it runs to the end even when ctx ends (a reload applied halfway is what
// it exists to prevent); an error it returns (a component that did not
// restart) comes after the new config was applied. Commit after Abort or a second Commit
// returns an error and does nothing.
func (p *PreparedReload) Commit(ctx context.Context) (ReloadReport, error) {
	if p.ended {
		return ReloadReport{}, errors.New("reload already committed or aborted")
	}
	p.ended = true
	s := p.s
	defer s.reloadMu.Unlock()
	err := p.commit(context.WithoutCancel(ctx))
	s.markReload(err == nil)
	return p.rep, err
}

func (p *PreparedReload) commit(ctx context.Context) error {
	s, cfg, old := p.s, p.cfg, p.s.Config()
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		f := p.files[cc.Name]
		f[0].SetOptions(s.logs.options(cc.OutLogFor(0), cc.Logs))
		f[1].SetOptions(s.logs.options(cc.ErrLogFor(0), cc.Logs))
	}

	// Removed components stop first, dependents before dependencies.
	if len(p.removed) > 0 {
		s.stopInOrder(old.Components, func(n string) bool { return p.removed[n] })
		var ended []*component
		s.mu.Lock()
		for n := range p.removed {
			if c := s.comps[n]; c != nil {
				ended = append(ended, c)
				delete(s.comps, n)
			}
		}
		s.order = slices.DeleteFunc(s.order, func(n string) bool { return p.removed[n] })
		s.mu.Unlock()
		// A loop releases its sockets as it returns: wait for it (outside
		// s.mu, which it may need). A listener it passed on stays open.
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
			f := p.files[cc.Name]
			c := newComponent(s, cc, f[0], f[1])
			c.setSockets(p.sockets[cc.Name])
			delete(p.sockets, cc.Name)
			if h := p.proxies[cc.Name]; h != nil {
				c.setFront(h)
			}
			delete(p.proxies, cc.Name)
			s.comps[cc.Name] = c
			added = append(added, c)
		}
	}
	s.mu.Unlock()
	for i := range cfg.Components {
		cc := &cfg.Components[i]
		if slices.Contains(p.rep.Added, cc.Name) {
			continue
		}
		c, _ := s.component(cc.Name)
		f := p.files[cc.Name]
		hs, rebind := p.sockets[cc.Name]
		delete(p.sockets, cc.Name)
		px, reproxy := p.proxies[cc.Name]
		delete(p.proxies, cc.Name)
		// Changed sockets pass to the loop; the restart below hands them
		// to the processes.
		if err := c.send(ctx, request{op: opConfig, cfg: cc, out: f[0], errLog: f[1], rebind: rebind, sockets: hs,
			reproxy: reproxy, proxySock: px}); err != nil {
			closeSockets(hs) // the loop ended (thorp is stopping) before taking them
			if px != nil {
				closeSockets([]*heldSocket{px})
			}
			errs = append(errs, err)
		}
	}
	for _, c := range added {
		s.startLoop(c)
		if !c.config().Autostart {
			continue
		}
		if err := c.send(ctx, request{op: opStart}); err != nil {
			errs = append(errs, err)
		}
	}

	// Changed components restart in dependency order, dependencies first.
	for _, level := range p.levels {
		var names []string
		for _, n := range level {
			if p.restart[n] && !p.keepStopped(n) {
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
	return errors.Join(errs...)
}

// keepStopped reports whether the changed component name stays stopped
// rather than restarting: autostart = false and nothing of it running.
func (p *PreparedReload) keepStopped(name string) bool {
	cc := p.cfg.Component(name)
	c, err := p.s.component(name)
	return err == nil && cc != nil && !cc.Autostart && c.status().State == StateStopped
}

// needsRestart reports whether moving from a to b needs a new process.
func needsRestart(a, b *config.Component) bool {
	return !reflect.DeepEqual(a.Command, b.Command) || a.Cwd != b.Cwd || !reflect.DeepEqual(a.Env, b.Env) ||
		a.User != b.User || a.Group != b.Group || !reflect.DeepEqual(a.Sockets, b.Sockets) ||
		a.Ready != b.Ready || !config.SameFunc(a.ReadyFunc, b.ReadyFunc) || a.Instances != b.Instances ||
		a.LogFile != b.LogFile || a.ErrorFile != b.ErrorFile || a.MergeLogs != b.MergeLogs ||
		(a.Proxy == nil) != (b.Proxy == nil) || a.Proxy != nil && b.Proxy != nil && a.Proxy.PortEnv != b.Proxy.PortEnv
}

// comparable returns a copy of c without what differs between two
// evaluations of the same text (lines) and without its Lua functions, which
// sameFuncs compares.
func comparable(c *config.Component) config.Component {
	x := *c
	x.Line, x.File = 0, "" // where it is declared is not what it does
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
