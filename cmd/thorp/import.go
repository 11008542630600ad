package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"time"

	"github.com/thorp-dev/thorp/cmd/thorp/importpm2"
)

func init() {
	commands["import"] = command{summary: "convert a PM2 ecosystem JSON or dump.pm2 into thorp.lua (import pm2 FILE)", run: cmdImport}
}

const importUsage = `import pm2 FILE [-o thorp.lua] [--force]

Converts a PM2 ecosystem file in JSON ({"apps": [...]} or a list of apps) or
PM2's saved process list (~/.pm2/dump.pm2) into a thorp.lua, written to
stdout or to -o. PM2 keys without a thorp equivalent are kept as comments in
the output and listed on stderr. JavaScript and YAML ecosystem files must be
exported as JSON first. Run 'thorp check' on the result.`

func cmdImport(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fset := newFlags("import", importUsage, stderr)
	out := fset.String("o", "", "write to `FILE` instead of stdout")
	force := fset.Bool("force", false, "overwrite the -o file if it exists")
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
	lua, notes, err := importpm2.Convert(data, src, time.Now())
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
