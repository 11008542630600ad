package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"slices"
	"time"

	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/preflight"
)

func init() {
	commands["check"] = command{summary: "preflight: validate thorp.lua and the host; prints every problem, exit 1 on any error", run: cmdCheck}
}

const checkUsage = `check [-c FILE] [--env PROFILE] [--json] [--set KEY=VALUE...]

Runs the same load path as 'thorp run' without starting anything, then checks
the host, all in one round: every problem of the config, and the host
problems of the settings and of every component whose own config has no
error. Host checks: commands exist and are executable, an interpreter's
script exists (node, python, ruby, php, bun, deno, bash, sh: the first
argument that is not an option, relative to cwd), cwd and log directories
are writable, ports are free (a port held by the running thorp of this
config is not busy; one held by another thorp names its pid and config),
users and groups exist (and can be used: another identity needs root;
'thorp run' refuses such a config the same way). With --env (or
$THORP_ENV) it checks the config as 'thorp run --env' would run it, and
warns when no component defines that profile. Prints every problem as
FILE:LINE: component "x": key: message, or, for a value that came from a
THORP_* variable or a --set flag, as THORP_HTTP: message or
--set http=VALUE: message; those first, then sorted by file and line.
Then a cgroups section says how thorp run would find, kill and measure
each component's processes on this host and why: through a cgroup of its
own (the cgroup2 hierarchy, or v1's memory hierarchy), or through its
process tree where thorp cannot create cgroups; where memory comes from
(the v2 or v1 memory controller, or the tree walk); whether memory_high
can be applied. Warnings never change the exit code; any error exits 1.`

func cmdCheck(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("check", checkUsage, stderr)
	cfgPath := configFlag(fs)
	asJSON := fs.Bool("json", false, `print {"ok", "errors", "warnings", "cgroups"} as JSON`)
	overrides := overridesFlag(fs)
	profile := profileFlag(fs)
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	}
	cfg, settingsOK, problems := loadForCheck(*cfgPath, activeProfile(*profile), overrides)
	if cfg != nil {
		problems = append(problems, preflight.Check(cfg, preflight.Options{
			HeldBySelf:   heldByRunningThorp(ctx, cfg),
			HeldBy:       func(addr string) string { return otherThorp(ctx, addr) },
			Env:          os.Environ(),
			File:         *cfgPath,
			SkipSettings: !settingsOK,
		})...)
	}
	plan, planErr := cgroupPlan()
	if cfg != nil && planErr == nil {
		problems = append(problems, cgroupProblems(cfg, *cfgPath, plan)...)
	}
	problems.Sort()
	errs, warns := problems.Errors(), problems.Warnings()
	if *asJSON {
		writeJSON(stdout, map[string]any{"ok": len(errs) == 0, "errors": nonNil(errs), "warnings": nonNil(warns), "cgroups": cgroupJSON(plan, planErr)})
	} else {
		printProblems(stdout, errs)
		printProblems(stdout, warns)
		printCgroupPlan(stdout, plan, planErr)
		switch {
		case len(errs) > 0:
			fmt.Fprintf(stdout, "%s: %d error(s), %d warning(s); fix the errors above before 'thorp run'\n", *cfgPath, len(errs), len(warns))
		default:
			fmt.Fprintf(stdout, "%s: ok, %d component(s), %d warning(s)\n", *cfgPath, len(cfg.Components), len(warns))
		}
	}
	if len(errs) > 0 {
		return exitFailed
	}
	return exitOK
}

func nonNil(ps config.Problems) config.Problems {
	if ps == nil {
		return config.Problems{}
	}
	return ps
}

// heldByRunningThorp asks the thorp running this config which addresses it
// holds, so check does not report them as busy.
func heldByRunningThorp(ctx context.Context, cfg *config.Config) func(string) bool {
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	info, err := api.NewClient(cfg.Settings.Control).Info(ctx)
	if err != nil {
		return nil
	}
	return func(addr string) bool { return slices.Contains(info.Listening, addr) }
}

// otherThorp names the thorp whose HTTP server holds the TCP address addr
// ("another thorp (pid 123, config /srv/thorp.lua)"); "" when what
// answers there is not a thorp.
func otherThorp(ctx context.Context, addr string) string {
	info, ok := thorpAt(ctx, addr)
	if !ok {
		return ""
	}
	return fmt.Sprintf("another thorp (pid %d, config %s)", info.PID, info.Config)
}

// thorpAt asks GET /api/v1/info of what answers on the TCP address addr
// (an unspecified host is asked on 127.0.0.1), within a second; ok is
// false when that is not a thorp.
func thorpAt(ctx context.Context, addr string) (info api.Info, ok bool) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return info, false
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+net.JoinHostPort(host, port)+"/api/v1/info", nil)
	if err != nil {
		return info, false
	}
	// Straight to the address: no proxy from the environment.
	client := &http.Client{Transport: &http.Transport{Proxy: nil}}
	defer client.CloseIdleConnections()
	resp, err := client.Do(req)
	if err != nil {
		return info, false
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || json.NewDecoder(io.LimitReader(resp.Body, 64<<10)).Decode(&info) != nil || info.PID <= 0 || info.Config == "" {
		return api.Info{}, false
	}
	return info, true
}
