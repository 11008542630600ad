package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"

	"github.com/thorp-dev/thorp/cmd/thorp/importpm2"
)

func init() {
	commands["import"] = command{summary: "convert a PM2 ecosystem file (.js, .cjs, .mjs, .json, .yaml) or dump.pm2 into thorp.lua (import pm2 FILE)", run: cmdImport}
}

const importUsage = `import pm2 FILE [-o thorp.lua] [--force] [-- ARGS...]

Converts a PM2 ecosystem file or PM2's saved process list into a thorp.lua,
written to stdout or to -o. FILE may be:

  ecosystem.config.js, .cjs, .mjs  JavaScript (module.exports, exports.apps,
                                   export default, export const apps)
  ecosystem.json                   JSON, with // and /* */ comments, trailing
                                   commas and unquoted keys (JSON5) allowed
  ecosystem.yml, .yaml             YAML
  ~/.pm2/dump.pm2                  what 'pm2 save' wrote

JavaScript runs in an embedded engine, sandboxed as PM2 would not: it sees
process.env (a copy of this shell's environment), process.argv,
process.cwd(), __dirname, __filename and require("path"), require("os"),
require("url") (computed, never read from the machine); dotenv loads
nothing. Any other require, file system or network access is an error
naming the file and line, and so is a script still running after 2s.
Values the script read from this shell or machine are listed. ARGS after
-- are in process.argv after a "--", as 'pm2 start FILE -- ARGS' put them.

PM2's meaning is kept: env_<name> blocks become env profiles (thorp run
--env NAME), cluster mode a proxy on the app's PORT (a profile's own PORT
under that profile), instances "max", 0 or
-1 instances = "max" (counted where thorp runs), out_file/error_file
thorp's log_file/error_file (PM2's combined log_file the one log_file with
merge_logs when it is the only file named), time/log_date_format
timestamps, watch/ignore_watch/watch_delay watch (a glob becomes its
directory).
Keys without a thorp equivalent stay as comments in the output and are
listed on stderr. Run 'thorp check' on the result.`

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := newFlags("import", importUsage, stderr)
	out := fset.String("o", "", "write to `FILE` instead of stdout")
	force := fset.Bool("force", false, "overwrite the -o file if it exists")
	var scriptArgs []string // after --: the script's process.argv
	if i := slices.Index(args, "--"); i >= 0 {
		args, scriptArgs = args[:i], args[i:]
	}
	pos, err := parseInterspersed(fset, args)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) != 2 || pos[0] != "pm2" {
		fmt.Fprintf(stderr, "Usage: thorp %s\n", importUsage)
		return exitUsage
	}
	src := pos[1]
	data, err := os.ReadFile(src)
	if err != nil {
		fmt.Fprintf(stderr, "thorp import: %v\n", err)
		return exitFailed
	}
	opts := importpm2.DefaultOptions()
	if scriptArgs != nil {
		opts.Host.Argv = append([]string{"node", "pm2", "start", src}, scriptArgs...)
	}
	lua, notes, err := importpm2.Convert(data, src, opts)
	if err != nil {
		fmt.Fprintf(stderr, "thorp import: %v\n", err)
		return exitFailed
	}
	for _, n := range notes {
		fmt.Fprintf(stderr, "thorp import: %s\n", n)
	}
	if *out == "" {
		if _, err := stdout.Write(lua); err != nil {
			fmt.Fprintf(stderr, "thorp import: %v\n", err)
			return exitFailed
		}
		return exitOK
	}
	flags := os.O_WRONLY | os.O_CREATE | os.O_EXCL
	if *force {
		flags = os.O_WRONLY | os.O_CREATE | os.O_TRUNC
	}
	f, err := os.OpenFile(*out, flags, 0o644)
	if errors.Is(err, fs.ErrExist) {
		fmt.Fprintf(stderr, "thorp import: %s exists; use --force to overwrite it\n", *out)
		return exitFailed
	}
	if err != nil {
		fmt.Fprintf(stderr, "thorp import: %v\n", err)
		return exitFailed
	}
	_, err = f.Write(lua)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		fmt.Fprintf(stderr, "thorp import: write %s: %v\n", *out, err)
		return exitFailed
	}
	fmt.Fprintf(stderr, "thorp import: wrote %s; check it with: thorp check -c %s\n", *out, *out)
	return exitOK
}
