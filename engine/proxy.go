package engine

import (
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
	"github.com/thorp-dev/thorp/engine/config"
)

// front is a proxied component's balancer and the listener it serves. The
// listener is a heldSocket: bound when the component is created, kept
// across every restart, passed from holder to holder by a reload like the
// sockets of `sockets`.
type front struct {
	sock *heldSocket
	bal  *balancer.Balancer
	mode string
}

// drainedMsg: the last connection to p, taken out of rotation, ended.
type drainedMsg struct{ p *process }

func (drainedMsg) isMessage() {}

// balancerOptions are the balancer's options for cc's proxy.
func (c *component) balancerOptions(px *config.Proxy) balancer.Options {
	return balancer.Options{Component: c.name, Mode: px.Mode, QueueTimeout: px.QueueTimeout, Log: c.log}
}

// setFront makes c serve its proxy on hs (nil: c has no proxy any more)
// with a new balancer, replacing the one it had: the processes in rotation
// pass to the new balancer, those draining are done (the old balancer
// closed their connections). hs is released when it is not the listener
// already held. Called by the loop (a config request) or before it starts.
func (c *component) setFront(hs *heldSocket) {
	old := c.front
	c.front = nil
	if old != nil {
		_ = old.bal.Close()
	}
	if hs != nil {
		px := c.cfg.Proxy
		c.front = &front{sock: hs, mode: px.Mode, bal: balancer.New(hs.ln, c.balancerOptions(px))}
	}
	for _, in := range c.insts {
		for _, p := range []*process{in.old, in.proc} {
			if p == nil || p.backend == nil {
				continue
			}
			p.backend = nil
			switch {
			case p.draining:
				c.in.post(drainedMsg{p: p})
			case c.front != nil:
				p.backend = c.front.bal.Add(in.index, p.pid, p.addr())
			}
		}
	}
	if old != nil && (hs == nil || old.sock != hs) {
		closeSockets([]*heldSocket{old.sock})
	}
}

// updateFront applies a config request's proxy: a new listener (rebound
// by the reload), a new mode (a new balancer on the same listener) or new
// timeouts. Loop only.
func (c *component) updateFront(r request) {
	px := c.cfg.Proxy
	switch {
	case r.reproxy:
		c.setFront(r.proxySock)
	case c.front != nil && px != nil && px.Mode != c.front.mode:
		c.setFront(c.front.sock)
	case c.front != nil && px != nil:
		c.front.bal.SetQueueTimeout(px.QueueTimeout)
	}
}

// closeFront stops the balancer and releases the listener. The loop does
// it as it returns; this is also for a component whose loop never ran.
func (c *component) closeFront() {
	if f := c.front; f != nil {
		c.front = nil
		_ = f.bal.Close()
		closeSockets([]*heldSocket{f.sock})
	}
}

// proxied reports whether c's processes sit behind its balancer.
func (c *component) proxied() bool { return c.front != nil && c.cfg.Proxy != nil }

// addr is the loopback address of p's $PORT.
func (p *process) addr() string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p.port)) }

// rotation is p's place in the balancer.
func (p *process) rotation() string {
	switch {
	case p.port == 0:
		return ""
	case p.draining:
		return RotationDraining
	case p.backend != nil:
		return RotationIn
	}
	return RotationOut
}

// intoRotation puts p, now ready, behind the balancer.
func (c *component) intoRotation(in *instance, p *process) {
	if c.proxied() && p.port != 0 && p.backend == nil {
		p.backend = c.front.bal.Add(in.index, p.pid, p.addr())
	}
}

// outOfRotation takes p out of the balancer at once: new connections go
// to the others; those it has are left to end with it.
func (c *component) outOfRotation(p *process) {
	if p.backend != nil {
		if c.front != nil {
			c.front.bal.Remove(p.backend)
		}
		p.backend = nil
	}
	p.draining = false
	p.drainBy = time.Time{}
}

// drainOld takes the process an overlap restart replaces out of rotation
// and lets its connections finish, up to drain_timeout; onDrained (or the
// deadline) stops it. It reports false when there is nothing to drain.
func (c *component) drainOld(in *instance, why string) bool {
	p := in.old
	if !c.proxied() || p.backend == nil {
		return false
	}
	if p.draining {
		return true
	}
	p.draining = true
	p.drainBy = c.clock.Now().Add(c.cfg.Proxy.DrainTimeout)
	c.event(in, Event{Type: EventDraining, PID: p.pid,
		Message: fmt.Sprintf("%s; pid %d is out of rotation, its connections may finish for up to %s", why, p.pid, c.cfg.Proxy.DrainTimeout)})
	c.front.bal.Drain(p.backend, func() { c.in.post(drainedMsg{p: p}) })
	return true
}

// onDrained stops the old process of in once its connections have ended
// (why says how): it was drained.
func (c *component) onDrained(in *instance, p *process, why string) {
	if in.old != p || !p.draining || p.stopping {
		return
	}
	c.outOfRotation(p)
	c.stopRetired(in, p, why)
}

// freeLoopbackPort returns a TCP port on 127.0.0.1 that nothing listens on
// now, for a process's $PORT. The process binds it itself, so another
// program could take it first; the process then fails its readiness like
// any process that cannot bind, and the next start gets another port.
func freeLoopbackPort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free loopback port for $PORT: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// proxyStatus is c's balancer as Status reports it, without the live
// counts (see fillProxy). Loop only.
func (c *component) proxyStatus() *ProxyStatus {
	if !c.proxied() {
		return nil
	}
	ps := &ProxyStatus{Listen: c.front.sock.addr, Mode: c.front.mode}
	for _, in := range c.insts {
		for _, p := range []*process{in.old, in.proc} {
			if p != nil && p.port != 0 && p.rotation() != RotationOut {
				ps.Backends = append(ps.Backends, BackendStatus{Instance: in.index, PID: p.pid, Port: p.port, Rotation: p.rotation()})
			}
		}
	}
	return ps
}

// fillProxy copies ps and fills in bal's live counters: connections by
// process and instance, totals and errors. Safe from any goroutine.
func fillProxy(st *Status, bal *balancer.Balancer) {
	if st.Proxy == nil || bal == nil {
		return
	}
	ps := *st.Proxy
	ps.Backends = append([]BackendStatus(nil), ps.Backends...)
	stats := bal.Stats()
	ps.ConnectionsTotal, ps.Errors, ps.Requests = stats.Connections, stats.Errors, stats.Requests
	active := map[int]int{}
	for _, b := range bal.Backends() {
		active[b.PID] += b.Active
	}
	byInstance := map[int]int{}
	ps.Active = 0
	for i := range ps.Backends {
		b := &ps.Backends[i]
		b.Connections = active[b.PID]
		ps.Active += b.Connections
		byInstance[b.Instance] += b.Connections
	}
	for i := range st.Instances {
		st.Instances[i].Connections = byInstance[st.Instances[i].Index]
	}
	st.Proxy = &ps
}

// WriteProxyMetrics writes the request-duration histograms of the
// components in http proxy mode (thorp_proxy_request_duration_seconds),
// without # HELP and # TYPE lines. Safe for concurrent use.
func (s *Supervisor) WriteProxyMetrics(w io.Writer) {
	for _, c := range s.components() {
		if bal := c.view.Load().bal; bal != nil {
			bal.WriteMetrics(w)
		}
	}
}
