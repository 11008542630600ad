package main

import (
	"fmt"
	"io"
	"log/slog"

	"github.com/thorp-dev/thorp/engine/cgroup"
	"github.com/thorp-dev/thorp/engine/config"
)

// hostCgroups is this host's cgroup layout for thorp run (nil when it
// cannot be read: every part then uses the process tree, and log says so).
func hostCgroups(log *slog.Logger) *cgroup.Layout {
	l, err := cgroup.DetectSelf()
	if err != nil {
		log.Warn("cgroups: cannot read the layout; tracking processes through their process tree", "err", err)
		return nil
	}
	return &l
}

// cgroupPlan is what thorp check says about cgroups: the plan for this
// host as thorp run would make it, without creating anything.
func cgroupPlan() (cgroup.Plan, error) {
	l, err := cgroup.DetectSelf()
	if err != nil {
		return cgroup.Plan{}, err
	}
	return cgroup.MakePlan(l), nil
}

// cgroupProblems warns about components whose cgroup keys this host
// cannot honour.
func cgroupProblems(cfg *config.Config, file string, p cgroup.Plan) config.Problems {
	var out config.Problems
	for _, c := range cfg.Components {
		if c.MemoryHigh > 0 && !p.MemoryHigh {
			out = append(out, config.Problem{File: file, Line: c.Line, Component: c.Name, Key: "memory_high", Warning: true,
				Message: fmt.Sprintf("needs the cgroup v2 memory controller, which this host does not give thorp (memory: %s); the component runs without it", p.Memory.By)})
		}
		if c.MemoryMeasure == "cgroup" && !p.Memory.Cgroup {
			out = append(out, config.Problem{File: file, Line: c.Line, Component: c.Name, Key: "memory_measure", Warning: true,
				Message: fmt.Sprintf(`"cgroup" is not available on this host (memory: %s); thorp measures RSS instead`, p.Memory)})
		}
	}
	return out
}

// printCgroupPlan writes check's cgroups section.
func printCgroupPlan(w io.Writer, p cgroup.Plan, err error) {
	if err != nil {
		fmt.Fprintf(w, "cgroups: cannot read the layout (%v): thorp run tracks processes through their process tree\n", err)
		return
	}
	fmt.Fprintln(w, "cgroups:")
	for _, line := range p.Lines() {
		fmt.Fprintf(w, "  %s\n", line)
	}
}

// cgroupJSON is the plan for check --json.
func cgroupJSON(p cgroup.Plan, err error) map[string]any {
	if err != nil {
		return map[string]any{"error": err.Error()}
	}
	return map[string]any{
		"layout":      p.Layout.Describe(),
		"tracking":    p.Tracking.String(),
		"kill":        p.Kill.String(),
		"memory":      p.Memory.String(),
		"cpu":         p.CPU.String(),
		"memory_high": p.MemoryHigh,
	}
}
