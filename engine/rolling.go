package engine

import (
	"fmt"

	"github.com/thorp-dev/thorp/policies"
)

// restartAll restarts insts for reason (why is the event's message): each
// at once, or, when the restart is an overlap (every planned restart of a
// proxied component; restart_mode = "overlap") and there is more than one,
// as a rolling restart that replaces `rolling` instances at a time, so
// capacity never drops below instances - rolling.
func (c *component) restartAll(insts []*instance, reason policies.Reason, why string) {
	if !c.overlaps(reason) || len(insts) < 2 {
		for _, in := range insts {
			c.countRestart(in, reason, why)
			c.restartInstance(in, reason)
		}
		return
	}
	for _, in := range insts {
		in.rollNext, in.rollWhy = reason, why
	}
	c.advanceRoll()
}

// advanceRoll moves a rolling restart on: an instance whose replacement is
// in rotation and whose old process is drained and stopping is done; while fewer than
// `rolling` are under way, the next waiting instance that is not in the
// middle of another replacement starts its own. A replacement that ends
// errored stops the roll: the instances not reached keep their processes.
// Called by the loop after every batch of messages.
func (c *component) advanceRoll() {
	busy := 0
	for _, in := range c.insts {
		if !in.rolling {
			continue
		}
		switch {
		case in.state == StateErrored:
			in.rolling = false
			c.abortRoll(in)
		case in.state == StateRunning && (in.old == nil || in.old.stopping), !in.wantUp:
			// Its new process is in rotation and the old one out of it,
			// drained and told to stop: the next may begin.
			in.rolling = false
		default:
			busy++
		}
	}
	for _, in := range c.active() {
		if busy >= max(c.cfg.Rolling, 1) {
			return
		}
		if in.rollNext == "" || in.old != nil || in.state == StateStarting || in.state == StateStopping {
			continue
		}
		reason, why := in.rollNext, in.rollWhy
		in.rollNext, in.rollWhy, in.rolling = "", "", true
		busy++
		c.countRestart(in, reason, why)
		c.restartInstance(in, reason)
	}
}

// abortRoll ends a rolling restart whose replacement of failed did not
// start: the instances still waiting keep their processes.
func (c *component) abortRoll(failed *instance) {
	var left []int
	for _, in := range c.insts {
		if in.rollNext != "" {
			in.rollNext, in.rollWhy = "", ""
			left = append(left, in.index)
		}
	}
	if len(left) == 0 {
		return
	}
	c.event(failed, Event{Type: EventWarning, Message: fmt.Sprintf(
		"rolling restart stopped: instance %d did not come back; instances %v keep their processes", failed.index, left)})
	for _, in := range c.insts {
		c.settleWaiters(in)
	}
}
