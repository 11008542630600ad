package engine

import (
	"fmt"

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
	if in.old != nil && c.overlaps(reason) {
		// An overlap replacement is under way already; stopping its new
		// process would leave the instance with none serving.
		c.log.Info("restart skipped: a replacement of this instance is under way", "instance", in.index, "reason", string(reason))
		return
	}
	if c.overlaps(reason) && in.old == nil &&
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

// overlaps reports whether a restart for reason starts the new process
// first: with restart_mode = "overlap" for the reasons it covers, and for
// every planned restart (all but a crash) of a proxied component, whose
// clients then never wait on a gap.
func (c *component) overlaps(reason policies.Reason) bool {
	if c.proxied() {
		return reason != policies.ReasonCrash
	}
	return c.cfg.RestartMode == "overlap" && reason.Overlaps()
}

// retireOld ends the process an overlap restart replaces, once the new one
// is ready: behind a balancer it is drained first (see drainOld), unless
// drain is false (the instance is being stopped). The instance stays
// running.
func (c *component) retireOld(in *instance, drain bool) {
	p := in.old
	if p == nil || p.stopping {
		return
	}
	if drain && c.drainOld(in, "the new process is in rotation") {
		return
	}
	c.outOfRotation(p)
	c.stopRetired(in, p, "the new process is ready")
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

// stopRetired sends the stop sequence to p, the process an overlap restart
// replaced, now out of rotation (why says why now). The instance stays
// running.
func (c *component) stopRetired(in *instance, p *process, why string) {
	p.requested = true
	sig := c.sendStop(p)
	c.event(in, Event{Type: EventStopping, PID: p.pid, Signal: config.Signal(sig).String(),
		Message: fmt.Sprintf("%s; %s sent to the old one's group, SIGKILL in %s", why, config.Signal(sig), c.cfg.KillTimeout)})
}
