package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// HangOptions configure the hang workload.
type HangOptions struct {
	// Children is how many grandchildren to spawn; they hang too.
	Children int
	// Self is the command that runs a childless hang workload, e.g.
	// {"/usr/bin/thorp", "simulate", "hang"}; required when Children > 0.
	Self []string
}

// Hang ignores SIGTERM and SIGINT for the whole process (signal.Ignore, so
// the copies it starts ignore them from birth) and blocks: a hung process
// for kill-timeout and group-kill tests, ended only by SIGKILL or another
// signal it does not ignore. While it blocks a timer stays armed: with only
// a never-cancelled context to wait for, Go would otherwise end the program
// with "all goroutines are asleep - deadlock!". It first
// starts opts.Children copies of itself (opts.Self), which stay in its process group,
// with the LISTEN_*, NOTIFY_SOCKET and WATCHDOG_* variables removed, and
// prints "pid=P children=C1,C2" to stdout. It returns only when ctx is
// cancelled (in-process use; the signals that cancel it in thorp are
// ignored), after killing and reaping its children. Not for concurrent use.
func Hang(ctx context.Context, opts HangOptions, stdout io.Writer) error {
	signal.Ignore(syscall.SIGTERM, syscall.SIGINT)
	if opts.Children > 0 && len(opts.Self) == 0 {
		return errors.New("hang: children need the command to run them")
	}
	env := childEnv(os.Environ())
	var (
		cmds []*exec.Cmd
		pids []string
		wg   sync.WaitGroup
	)
	defer func() {
		for _, c := range cmds {
			_ = c.Process.Kill()
		}
		wg.Wait()
	}()
	for range opts.Children {
		c := exec.Command(opts.Self[0], opts.Self[1:]...)
		c.Env = env
		if err := c.Start(); err != nil {
			return fmt.Errorf("hang: start child: %w", err)
		}
		cmds = append(cmds, c)
		pids = append(pids, strconv.Itoa(c.Process.Pid))
		wg.Go(func() { _ = c.Wait() })
	}
	fmt.Fprintf(stdout, "pid=%d children=%s\n", os.Getpid(), strings.Join(pids, ","))
	// A pending timer keeps the runtime from declaring a deadlock.
	alive := time.NewTicker(time.Hour)
	defer alive.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-alive.C:
		}
	}
}

// childEnv is env without the variables addressed to this process only.
func childEnv(env []string) []string {
	out := make([]string, 0, len(env))
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LISTEN_") || strings.HasPrefix(k, "WATCHDOG_") || k == "NOTIFY_SOCKET" {
			continue
		}
		out = append(out, kv)
	}
	return out
}
