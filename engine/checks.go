package engine

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/robfig/cron/v3"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// This file holds what watches a running process: health checks, the
// watchdog and the cron schedule. Each ends in a restart with its reason;
// none counts toward max_restarts.

// markRunning moves in to running and starts what watches a running
// process (health checks).
func (c *component) markRunning(in *instance, p *process, msg string) {
	p.runningAt = c.clock.Now()
	p.readyBy = time.Time{}
	if p.stopProbe != nil {
		p.stopProbe()
	}
	c.intoRotation(in, p)
	c.setState(in, StateRunning, Event{Type: EventRunning, PID: p.pid, Message: msg})
	c.retireOld(in, true) // an overlap restart: the old process may go now
	if h := c.cfg.Health; h != nil && (h.HTTP != "" || h.Func != nil) {
		hc := *h
		// Owner: p (release waits); ends with p.ctx.
		p.watch(func() { c.runHealth(p, hc) })
	}
}

// runHealth checks p every interval until p.ctx ends; results go to the
// loop. It touches nothing the loop owns.
func (c *component) runHealth(p *process, h config.Health) {
	client := &http.Client{Timeout: h.Timeout}
	every(c.clock, h.Interval, p.ctx.Done(), func() {
		err := c.checkHealth(p.ctx, p, client, h)
		if p.ctx.Err() == nil {
			c.in.post(healthMsg{p: p, err: err})
		}
	})
}

// checkHealth runs one check: nil when healthy.
func (c *component) checkHealth(ctx context.Context, p *process, client *http.Client, h config.Health) error {
	if h.Func != nil {
		res, err := h.Func.Call(ctx, probeArg(c.name, p), h.Timeout)
		switch {
		case err != nil:
			return fmt.Errorf("health function at %s: %w", h.Func.Where(), err)
		case res != true:
			return fmt.Errorf("health function at %s returned %v", h.Func.Where(), res)
		}
		return nil
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, h.HTTP, nil)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("GET %s: %w", h.HTTP, err)
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("GET %s: %s", h.HTTP, resp.Status)
	}
	return nil
}

// probeArg is the table a ready or health function gets: the component,
// the instance, the process's pid and, behind a balancer, its $PORT (0
// otherwise). It reads only what is fixed once the process started.
func probeArg(component string, p *process) map[string]any {
	return map[string]any{"component": component, "instance": p.inst.index, "pid": p.pid, "port": p.port}
}

// onHealth applies one health check result.
func (c *component) onHealth(in *instance, p *process, err error) {
	if in.proc != p || p.stopping || p.exited != nil || c.cfg.Health == nil {
		return
	}
	restart, st := policies.DecideHealth(policies.HealthPolicy{Failures: c.cfg.Health.Failures}, in.health, err == nil)
	in.health = st
	wasHealthy, wasFailing := in.healthy, in.healthFailing
	in.healthy, in.healthFailing = err == nil, err != nil
	switch {
	case err != nil && wasHealthy:
		c.event(in, Event{Type: EventWarning, PID: p.pid, Reason: policies.ReasonHealth,
			Message: fmt.Sprintf("health check failed (%d of %d): %v", st.Misses, c.cfg.Health.Failures, err)})
	case err == nil && wasFailing:
		// Also the first pass of a process that replaced a failing one,
		// which ends the failing episode (settings.alerts' "health").
		c.event(in, Event{Type: EventRunning, PID: p.pid, Reason: policies.ReasonHealth, Message: "health check passes again"})
	}
	if restart {
		why := fmt.Sprintf("%d health checks failed in a row: %v", st.Misses, err)
		c.countRestart(in, policies.ReasonHealth, why)
		c.restartInstance(in, policies.ReasonHealth)
	}
}

// watchdogDue returns when in's process must have pinged WATCHDOG=1 by,
// or zero when no watchdog applies.
func (c *component) watchdogDue(in *instance) time.Time {
	p := in.proc
	if c.cfg.Watchdog <= 0 || p == nil || p.stopping || p.exited != nil || in.state != StateRunning {
		return time.Time{}
	}
	last := p.runningAt
	if p.lastPing.After(last) {
		last = p.lastPing
	}
	return last.Add(c.cfg.Watchdog)
}

// checkWatchdog restarts in when its process missed its watchdog.
func (c *component) checkWatchdog(in *instance, now time.Time) {
	due := c.watchdogDue(in)
	if due.IsZero() || now.Before(due) {
		return
	}
	why := fmt.Sprintf("no WATCHDOG=1 within watchdog = %s: the process looks hung", c.cfg.Watchdog)
	c.countRestart(in, policies.ReasonWatchdog, why)
	c.restartInstance(in, policies.ReasonWatchdog)
}

// cronSchedule returns the component's cron_restart schedule, nil when none.
func cronSchedule(cc *config.Component) cron.Schedule {
	if cc.CronRestart == "" {
		return nil
	}
	s, err := cron.ParseStandard(cc.CronRestart) // validated with the config
	if err != nil {
		return nil
	}
	return s
}

// checkCron restarts every running instance when the cron schedule is due.
func (c *component) checkCron(now time.Time) {
	if c.nextCron.IsZero() || now.Before(c.nextCron) {
		return
	}
	c.nextCron = c.cron.Next(now)
	var due []*instance
	for _, in := range c.active() {
		if in.proc == nil || in.proc.stopping || in.proc.exited != nil {
			continue
		}
		due = append(due, in)
	}
	c.restartAll(due, policies.ReasonCron, fmt.Sprintf("cron_restart %q is due", c.cfg.CronRestart))
}

// setCron (re)computes the cron schedule from the config.
func (c *component) setCron() {
	c.cron = cronSchedule(c.cfg)
	c.nextCron = time.Time{}
	if c.cron != nil {
		c.nextCron = c.cron.Next(c.clock.Now())
	}
}
