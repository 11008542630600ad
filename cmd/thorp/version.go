package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"runtime"
)

// Set at build time with -ldflags "-X main.version=... -X main.commit=...".
var (
	version = "dev"
	commit  = "none"
)

func init() {
	commands["version"] = command{summary: "print version, commit and Go version", run: cmdVersion}
}

func cmdVersion(_ context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("version", "version [--json]", stderr)
	asJSON := fs.Bool("json", false, "print JSON")
	if _, err := parseInterspersed(fs, args); err != nil {
		return usageExit(err)
	}
	if *asJSON {
		_ = json.NewEncoder(stdout).Encode(map[string]string{"version": version, "commit": commit, "go": runtime.Version()})
		return exitOK
	}
	fmt.Fprintf(stdout, "thorp %s (commit %s, %s, %s/%s)\n", version, commit, runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return exitOK
}
