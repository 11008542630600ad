package engine

import (
	"fmt"
	"syscall"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// restartInstance restarts in for reason: with restart_mode = "overlap"
// (for the reasons it covers) the new process starts next to the old one,
// which is stopped once the new one is ready, so the two share the
// component's sockets for a moment and no request waits on a gap; otherwise
// the old process stops first and the new one starts after it (with
// restart_delay for memory, health, watchdog and cron restarts: see
// policies.Reason).
func (c *component) restartInstance(in *instance, reason policies.Reason) {
	p := in.proc
	if p == nil {
		in.hist = policies.RunHistory{}
		c.begin(in)
		return
	}
	if c.cfg.RestartMode == "overlap" && reason.Overlaps() && in.old == nil &&
		p.exited == nil && !p.stopping && in.state == StateRunning {
		in.old, in.proc = p, nil
		c.event(in, Event{Type: EventOverlap, PID: p.pid, Reason: reason,
			Message: fmt.Sprintf("starting a new process; pid %d stops once it is ready", p.pid)})
		c.spawn(in)
		if in.proc == nil { // the new process could not even start: keep the old one
			in.proc, in.old = p, nil
			c.setState(in, StateRunning, Event{Type: EventWarning, PID: p.pid, Reason: reason,
				Message: "overlap restart failed to start a new process; the old one keeps running"})
		}
		return
	}
	in.restartBy = reason
	c.stopProc(in, p, reason)
}

// retireOld sends the stop sequence to the process an overlap restart
// replaces, once the new one is ready. The instance stays running.
func (c *component) retireOld(in *instance) {
	p := in.old
	if p == nil || p.stopping {
		return
	}
	p.requested, p.stopping = true, true
	p.killAt = c.clock.Now().Add(c.cfg.KillTimeout)
	sig := syscall.Signal(c.cfg.StopSignal)
	p.signal(sig)
	c.event(in, Event{Type: EventStopping, PID: p.pid, Signal: config.Signal(sig).String(),
		Message: fmt.Sprintf("the new process is ready; %s sent to the old one's group, SIGKILL in %s", config.Signal(sig), c.cfg.KillTimeout)})
}

// finishOld runs when the replaced process and its group are gone.
func (c *component) finishOld(in *instance, p *process) {
	in.old = nil
	c.release(p)
	c.dropGone()
	c.updateSnapshot() // the view changes before the event (see setState)
	c.event(in, Event{Type: EventStopped, PID: p.pid, Message: "the replaced process is gone; overlap restart complete"})
	c.settleWaiters(in)
}
