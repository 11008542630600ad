package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"strconv"
	"syscall"
)

// execShimCommand is the hidden subcommand components with sockets start
// through: socket activation wants LISTEN_PID to be the component's own
// pid, which only the child knows.
const execShimCommand = "__exec"

func init() {
	commands[execShimCommand] = command{run: cmdExecShim}
}

// cmdExecShim sets LISTEN_PID to its own pid and execs args[0] with the
// argv args[1:]; the component keeps this pid, its group and its fds.
func cmdExecShim(_ context.Context, args []string, _, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprintln(stderr, "thorp __exec: PATH ARGV0 [ARGS...]")
		return exitUsage
	}
	os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
	err := syscall.Exec(args[0], args[1:], os.Environ())
	fmt.Fprintf(stderr, "thorp: exec %s: %v\n", args[0], err)
	return 127
}
