package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/thorp-dev/thorp/engine/config"
)

func init() {
	commands["init"] = command{summary: "write a commented starter thorp.lua here; init -- CMD ARGS... fills one component in", run: cmdInit}
}

const initUsage = `init [-o FILE] [--name NAME] [-- CMD ARGS...]

Writes a commented starter thorp.lua in the current directory (or FILE) and
creates conf.d/ next to it: the file loads conf.d/*.lua, where
'thorp add NAME -- CMD ARGS...' writes one file per component. An existing
file is never overwritten. With a command after --, the file declares one
component running it: named after the script an interpreter runs (node
app.js → app) or after the program, with --name to choose; cwd "." (the
file's directory). Then: 'thorp check', 'thorp up', 'thorp status'.`

func cmdInit(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("init", initUsage, stderr)
	out := fs.String("o", "thorp.lua", "write the config to `FILE`")
	name := fs.String("name", "", "the component's `NAME` (default: from the command)")
	flagArgs, argv, _ := cutCommand(args)
	pos, err := parseInterspersed(fs, flagArgs)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) > 0 {
		fmt.Fprintf(stderr, "thorp init: unexpected %q; put the command after --, like thorp init -- node app.js\n", pos[0])
		return exitUsage
	}
	var comp *componentSpec
	if len(argv) > 0 {
		n := *name
		if n == "" {
			n = nameFor(argv)
		}
		if !config.ValidName(n) {
			fmt.Fprintf(stderr, "thorp init: %q is not a component name: 1-63 letters, digits, '_' or '-', starting with a letter or digit\n", n)
			return exitUsage
		}
		comp = &componentSpec{name: n, argv: argv, cwd: ".", cwdNote: "relative to this file"}
	} else if *name != "" {
		fmt.Fprintln(stderr, "thorp init: --name names the component of a command; give it after --, like thorp init --name web -- node app.js")
		return exitUsage
	}
	if err := createNew(*out, []byte(starterConfig(comp))); err != nil {
		if errors.Is(err, os.ErrExist) {
			fmt.Fprintf(stderr, "thorp init: %s exists already; init never overwrites a file (edit it, or 'thorp add NAME -- CMD ARGS...' adds a component)\n", termSafe(*out))
			return exitFailed
		}
		fmt.Fprintf(stderr, "thorp init: %s\n", termSafeErr(err))
		return exitFailed
	}
	conf := filepath.Join(filepath.Dir(*out), confDir)
	if err := os.Mkdir(conf, 0o755); err != nil && !errors.Is(err, os.ErrExist) {
		fmt.Fprintf(stderr, "thorp init: wrote %s, but: %s\n", termSafe(*out), termSafeErr(err))
		return exitFailed
	}
	what := "no component yet"
	if comp != nil {
		what = fmt.Sprintf("component %q runs %s", comp.name, strings.Join(argv, " "))
	}
	fmt.Fprintf(stdout, "wrote %s (%s)\n", termSafe(*out), termSafe(what))
	fmt.Fprintln(stdout, "next: thorp check, then thorp up; thorp add NAME -- CMD ARGS... adds a component in conf.d/")
	return exitOK
}

// cutCommand splits args at the first "--": the flags and names before it,
// the command after it, and whether there was one.
func cutCommand(args []string) (before, argv []string, ok bool) {
	for i, a := range args {
		if a == "--" {
			return args[:i], args[i+1:], true
		}
	}
	return args, nil, false
}

// starterConfig is the thorp.lua `thorp init` writes, with comp declared
// (nil: only a commented example).
func starterConfig(comp *componentSpec) string {
	var b strings.Builder
	b.WriteString(`-- thorp.lua: what thorp supervises. 'thorp check' validates it, 'thorp up'
-- runs it in the background, 'thorp status' shows what runs and 'thorp help'
-- lists the commands. Every key: docs/config.md.
--
-- A size is a string with a unit ("150MB" = 150,000,000 bytes, "150M" = 150 MiB);
-- a duration is "4s", "500ms" or a number of seconds.

settings {
  logs = { dir = "logs", max_size = "10MB", retain_days = 30, compress = true },
  -- http = "127.0.0.1:9615",   -- /health, /metrics and the dashboard ("" turns it off)
}

`)
	if comp != nil {
		b.WriteString(comp.lua())
		b.WriteString("\n")
	}
	b.WriteString(`-- A component is one service; thorp restarts it when it crashes or outgrows
-- its memory limit, and keeps its output in logs/NAME-out.log and -error.log:
--
-- component "api" {
--   command = { "node", "server.js" },   -- argv, no shell; a string runs with /bin/sh -c
--   cwd = ".",                           -- relative to this file
--   env = { NODE_ENV = "production" },
--   instances = 2,                       -- or "max": one process per CPU
--   max_memory_restart = "300MB",        -- per process tree
--   depends_on = { "cache" },            -- started after cache runs
-- }

-- 'thorp add NAME -- CMD ARGS...' writes conf.d/NAME.lua and 'thorp remove NAME'
-- deletes it; this line loads those files.
`)
	b.WriteString(includeLine + "\n")
	return b.String()
}
