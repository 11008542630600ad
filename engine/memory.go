package engine

import (
	"context"
	"errors"
	"fmt"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/proc"
	"github.com/thorp-dev/thorp/policies"
)

// The growth estimate is a least-squares fit over the last two minutes of
// samples (at most 120 of them: bounded memory per instance). The sampler
// keeps one per process and sends its estimate with each sample, so that
// it schedules the next sample from the fresh estimate.
const (
	growthWindow  = 2 * time.Minute
	growthSamples = 120
)

// applySamples records samples and applies the memory policy. It reports
// whether that changed a figure the snapshot shows or an instance's
// process or state.
func (c *component) applySamples(samples []usageSample) (changed bool) {
	for _, s := range samples {
		if s.cpu > c.cpu {
			c.cpu, changed = s.cpu, true
		}
		if s.instance >= len(c.insts) {
			continue
		}
		in := c.insts[s.instance]
		p := in.proc
		if p == nil || p.pid != s.pid || p.exited != nil {
			continue // a sample of a process that is gone: never act on it
		}
		if in.memory != s.memory || in.procs != s.procs || in.cpuPercent != s.cpuPct || in.lastGrowth != s.growth {
			changed = true
		}
		in.memory = s.memory
		in.procs = s.procs
		in.cpuPercent = s.cpuPct
		c.record(in, s)
		c.trackEscaped(p, s.escaped)
		in.lastGrowth = s.growth
		if in.state != StateRunning || p.stopping {
			continue
		}
		if c.cfg.MemoryPolicy != nil {
			c.callMemoryPolicy(in, p, s)
			continue
		}
		state := in.state
		c.thresholdPolicy(in, s.memory)
		if in.state != state || in.proc != p || p.stopping {
			changed = true
		}
	}
	return changed
}

// trackEscaped remembers descendants that left the process group, so a stop
// reaches them and the fence kills them if thorp dies.
func (c *component) trackEscaped(p *process, ids []proc.Ident) {
	for _, id := range ids {
		known := false
		for _, e := range p.escaped {
			if e == id {
				known = true
				break
			}
		}
		if !known {
			p.escaped = append(p.escaped, id)
			c.sup.fence.AddProcess(id.PID, id.StartTime)
		}
	}
}

// thresholdPolicy restarts in when memory stays over max_memory_restart for
// memory_samples samples in a row.
func (c *component) thresholdPolicy(in *instance, memory int64) {
	p := policies.MemoryPolicy{Limit: int64(c.cfg.MaxMemoryRestart), Samples: c.cfg.MemorySamples}
	if p.Limit > 0 && memory > p.Limit { // the limit as written, for the message
		p.LimitText = c.cfg.MaxMemoryRestart.Written(c.cfg.MaxMemoryRestartText)
	}
	d, st := policies.DecideMemory(p, in.memState, memory)
	in.memState = st
	if d.Restart {
		c.memoryRestart(in, d.Why)
	}
}

func (c *component) memoryRestart(in *instance, why string) {
	c.countRestart(in, policies.ReasonMemory, why)
	c.restartInstance(in, policies.ReasonMemory)
}

// callMemoryPolicy runs the component's Lua memory_policy off the loop (it
// may take up to settings.plugins.timeout) and applies its answer on the
// loop (onPolicy). One call per process is in flight at a time; samples
// that arrive meanwhile are recorded but not judged.
func (c *component) callMemoryPolicy(in *instance, p *process, s usageSample) {
	if p.policyBusy {
		return
	}
	p.policyBusy = true
	fn := c.cfg.MemoryPolicy
	arg := map[string]any{
		"component":       c.name,
		"instance":        in.index,
		"rss":             s.rss,
		"pss":             s.pss,
		"memory":          s.memory,
		"limit":           int64(c.cfg.MaxMemoryRestart),
		"growth_per_hour": in.lastGrowth.BytesPerHour,
		"uptime":          c.clock.Now().Sub(p.started).Seconds(),
		"restarts":        c.restarts[policies.ReasonMemory] + c.restarts[policies.ReasonCrash] + c.restarts[policies.ReasonExit],
		"cpu":             s.cpuPct,
	}
	timeout := c.sup.Config().Settings.Plugins.Timeout
	// Owner: p (release waits); the call ends with p.ctx at the latest.
	p.watch(func() {
		res, err := fn.Call(p.ctx, arg, timeout)
		c.in.post(policyMsg{p: p, s: s, fn: fn, res: res, err: err})
	})
}

// onPolicy applies memory_policy's answer m, unless its process is being
// stopped meanwhile.
func (c *component) onPolicy(m policyMsg) {
	in, p, s, fn, res, err := m.p.inst, m.p, m.s, m.fn, m.res, m.err
	if in.proc != p || p.stopping || p.exited != nil {
		return
	}
	if err == nil {
		switch res {
		case "restart":
			c.memoryRestart(in, fmt.Sprintf("memory_policy at %s returned \"restart\" (memory %s, limit %s)",
				fn.Where(), config.Size(s.memory), config.Size(c.cfg.MaxMemoryRestart)))
			return
		case "alert":
			// The message stays the same from sample to sample, so that
			// settings.alerts' rate limit sees one alert; the figures
			// are its fields.
			c.event(in, Event{Type: EventAlert, PID: p.pid, Reason: policies.ReasonMemory, Alert: config.AlertMemory,
				Message: fmt.Sprintf("memory_policy at %s raised an alert", fn.Where()),
				Fields:  map[string]string{"memory": config.Size(s.memory).String(), "limit": config.Size(c.cfg.MaxMemoryRestart).String()}})
			return
		case nil:
			return
		}
		err = fmt.Errorf("returned %v (%T); it must return \"restart\", \"alert\" or nil", res, res)
	}
	if !in.policyErr {
		in.policyErr = true
		what := "failed"
		if errors.Is(err, context.DeadlineExceeded) {
			what = "timed out"
		}
		c.event(in, Event{Type: EventWarning, PID: p.pid, Reason: policies.ReasonMemory,
			Message: fmt.Sprintf("memory_policy at %s %s: %v; using the max_memory_restart threshold instead", fn.Where(), what, err)})
	}
	c.thresholdPolicy(in, s.memory)
}

// signal sends sig to p's process group and to descendants that left it:
// those its cgroup lists, or without one those the sampler saw. SIGKILL
// through the cgroup is cgroup.kill, which nothing forking escapes.
func (p *process) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.pid, sig)
	if p.cg != nil {
		if sig == syscall.SIGKILL {
			_ = p.cg.Kill()
			return
		}
		// Each process once: those in the group got sig already.
		pids, _ := p.cg.Procs(nil)
		for _, pid := range pids {
			if st, err := proc.ReadStat(procRoot, pid); err == nil && st.PGID != p.pid {
				_ = syscall.Kill(pid, sig)
			}
		}
		return
	}
	for _, id := range p.escaped {
		if st, err := proc.ReadStat(procRoot, id.PID); err == nil && st.StartTime == id.StartTime {
			_ = syscall.Kill(id.PID, sig)
		}
	}
}

// alive reports whether anything p started still exists: a process in its
// cgroup, or without one a process of its group or a descendant that left
// it.
func (p *process) alive() bool {
	if p.cg != nil {
		return !p.cg.Empty() || proc.GroupAlive(p.pid)
	}
	if proc.GroupAlive(p.pid) {
		return true
	}
	for _, id := range p.escaped {
		if st, err := proc.ReadStat(procRoot, id.PID); err == nil && st.StartTime == id.StartTime && st.State != 'Z' {
			return true
		}
	}
	return false
}
