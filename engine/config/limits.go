package config

import (
	"maps"
	"slices"
	"strings"
)

// MaxInstances is the most instances one component may declare. It is a
// fixed ceiling, not a setting: a number beyond it is a typo or an attack
// (2^53 would have thorp allocate one slot per instance and die of memory),
// never a real deployment, and a knob to raise it would only move the foot-gun.
const MaxInstances = 1024

// validateLimits checks a component's values that the operating system or
// thorp's own memory bound: the instances ceiling, environment variable
// names (every bad one is reported) and NUL bytes, which no argv, working
// directory, environment value or user name can hold. bad reports one
// problem for a key, as validateComponent's does.
func validateLimits(c *Component, bad func(key, format string, args ...any)) {
	if c.Instances < 1 {
		bad("instances", "must be at least 1, got %d", c.Instances)
	} else if c.Instances > MaxInstances {
		bad("instances", "%d is more than the ceiling of %d instances per component", c.Instances, MaxInstances)
	}
	for _, k := range slices.Sorted(maps.Keys(c.Env)) {
		if k == "" || strings.ContainsAny(k, "=\x00") {
			bad("env", "%q is not a valid environment variable name (no '=', no NUL byte, not empty)", k)
			continue
		}
		if strings.ContainsRune(c.Env[k], 0) {
			bad("env."+k, "the value holds a NUL byte, which an environment variable cannot carry")
		}
	}
	if c.Command.Shell {
		if len(c.Command.Argv) == 3 && strings.ContainsRune(c.Command.Argv[2], 0) {
			bad("command", "holds a NUL byte, which a command line cannot carry")
		}
	} else {
		for i, arg := range c.Command.Argv {
			if strings.ContainsRune(arg, 0) {
				bad("command", "item %d holds a NUL byte, which a command line cannot carry", i+1)
			}
		}
	}
	for _, kv := range [][2]string{{"cwd", c.Cwd}, {"user", c.User}, {"group", c.Group}, {"log_file", c.LogFile}, {"error_file", c.ErrorFile}} {
		if strings.ContainsRune(kv[1], 0) {
			bad(kv[0], "holds a NUL byte, which a path or name cannot carry")
		}
	}
}
