package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

func init() {
	commands["env"] = command{summary: "print a component's environment as thorp passes it (env with the profile merged in; secrets masked)", run: cmdEnv}
}

const envUsage = `env [-c FILE] [--env PROFILE] [--show] NAME|@TAG|all

Prints the environment thorp.lua gives component NAME, one KEY=value a line,
sorted: its env with env_PROFILE merged over it. The profile is --env, else
$THORP_ENV, else the one the thorp running FILE was started with. The
process also inherits thorp's own environment, which is not printed.
With @TAG, every component tagged TAG in turn (with all, every component), each under a "# NAME" line.
Values of keys that look secret (containing pass, secret, token, key, auth,
credential or private, in any case) print as **** unless --show is given.
Exit 1 when FILE has errors or has no component NAME (or none tagged TAG).`

// secretKey matches the names of variables whose values env masks.
var secretKey = regexp.MustCompile(`(?i)pass|secret|token|key|auth|credential|private`)

func cmdEnv(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("env", envUsage, stderr)
	cfgPath := configFlag(fs)
	profileValue := profileFlag(fs)
	show := fs.Bool("show", false, "print secret-looking values instead of ****")
	names, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(names) != 1 {
		fmt.Fprintln(stderr, "thorp env: give exactly one component name, @tag or all")
		return exitUsage
	}
	profile := activeProfile(*profileValue)
	if profile == "" {
		// The running thorp's profile, when one runs this config.
		ctx, cancel := context.WithTimeout(ctx, time.Second)
		if info, err := clientFor(*cfgPath).Info(ctx); err == nil {
			profile = info.Profile
		}
		cancel()
	}
	cfg, problems := readConfig(*cfgPath, profile)
	if cfg == nil {
		printProblems(stderr, problems)
		fmt.Fprintf(stderr, "thorp env: %s has errors; fix them (thorp check -c %s)\n", *cfgPath, *cfgPath)
		return exitFailed
	}
	printProblems(stderr, problems)
	selected, unknown := cfg.Select(names)
	if len(unknown) > 0 || len(selected) == 0 {
		fmt.Fprintf(stderr, "thorp env: unknown component %q in %s; known: %s\n", termSafe(names[0]), *cfgPath, termSafe(strings.Join(cfg.Known(), ", ")))
		return exitFailed
	}
	several := names[0] == "all" || strings.HasPrefix(names[0], config.TagPrefix)
	for i, name := range selected {
		if several {
			// A tag's components one after the other, each under its name.
			if i > 0 {
				fmt.Fprintln(stdout)
			}
			fmt.Fprintf(stdout, "# %s\n", name)
		}
		c := cfg.Component(name)
		for _, k := range slices.Sorted(maps.Keys(c.Env)) {
			v := c.Env[k]
			if !*show && secretKey.MatchString(k) {
				v = "****"
			}
			fmt.Fprintf(stdout, "%s=%s\n", termSafe(k), termSafe(v))
		}
	}
	return exitOK
}
