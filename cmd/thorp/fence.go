package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/engine/cgroup"
	"github.com/thorp-dev/thorp/engine/fence"
	"github.com/thorp-dev/thorp/engine/proc"
)

// fenceCommand is the hidden subcommand thorp run starts as its fence
// process; it is not listed in the help.
const fenceCommand = "__fence"

func init() {
	commands[fenceCommand] = command{run: cmdFence}
}

func cmdFence(context.Context, []string, io.Writer, io.Writer) int {
	// Survive the signals aimed at thorp's terminal or service group: the
	// fence must still be there to clean up when thorp dies.
	signal.Ignore(syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP, syscall.SIGQUIT)
	dropStartupPages()
	var killed []string
	fence.Serve(os.Stdin, func(pid int) (uint64, bool) {
		st, err := proc.ReadStat("/proc", pid)
		return st.StartTime, err == nil
	}, func(dir string) error {
		killed = append(killed, dir)
		return cgroup.KillDir(dir)
	})
	// Then the cgroups thorp left: each once its killed processes are gone.
	cgroup.RemoveKilled(killed, 3*time.Second)
	return exitOK
}
