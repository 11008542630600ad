package simulate

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Environment of a re-executed test binary: which workload to run and its
// options as JSON.
const (
	envChild = "THORP_SIMULATE_CHILD"
	envOpts  = "THORP_SIMULATE_OPTS"
)

func TestMain(m *testing.M) {
	if w := os.Getenv(envChild); w != "" {
		os.Exit(childMain(w, os.Getenv(envOpts)))
	}
	os.Exit(m.Run())
}

// childMain runs a workload the way cmd/thorp does: cancelled by SIGTERM or
// SIGINT, an *ExitError mapped to the exit status.
func childMain(workload, opts string) int {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	decode := func(v any) {
		if err := json.Unmarshal([]byte(opts), v); err != nil {
			fmt.Fprintln(os.Stderr, "bad options:", err)
			os.Exit(2)
		}
	}
	var err error
	switch workload {
	case "leak":
		var o LeakOptions
		decode(&o)
		err = Leak(ctx, o, os.Stdout)
	case "http":
		var o HTTPOptions
		decode(&o)
		err = HTTP(ctx, o, os.Stdout)
	case "crash":
		var o CrashOptions
		decode(&o)
		err = Crash(ctx, o, os.Stdout)
	case "hang":
		var o HangOptions
		decode(&o)
		stop()
		// Grandchildren run this binary too: they must not spawn more.
		_ = os.Setenv(envOpts, "{}")
		err = Hang(context.Background(), o, os.Stdout)
	default:
		err = fmt.Errorf("unknown workload %q", workload)
	}
	var exit *ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	return 0
}

// child is a re-executed test binary running one workload.
type child struct {
	cmd   *exec.Cmd
	lines chan string // stdout lines; closed at EOF
	done  chan struct{}
	err   error // cmd.Wait's result, set before done closes
}

// startChild runs workload with opts in a new process group; setup may
// adjust the command (env, extra files) before it starts. The child is
// SIGKILLed (with its group) at the end of the test if still running.
func startChild(t *testing.T, workload string, opts any, setup func(*exec.Cmd)) *child {
	t.Helper()
	js, err := json.Marshal(opts)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envChild+"="+workload, envOpts+"="+string(js))
	cmd.Stderr = os.Stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if setup != nil {
		setup(cmd)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &child{cmd: cmd, lines: make(chan string, 1024), done: make(chan struct{})}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			select {
			case c.lines <- sc.Text():
			default: // nobody reads status lines: drop, never block the child
			}
		}
		close(c.lines)
		c.err = cmd.Wait()
		close(c.done)
	}()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		<-c.done
	})
	return c
}

// waitLine returns the first stdout line with prefix, failing after timeout.
func (c *child) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case l, ok := <-c.lines:
			if !ok {
				t.Fatalf("child exited before printing %q", prefix)
			}
			if strings.HasPrefix(l, prefix) {
				return l
			}
		case <-deadline:
			t.Fatalf("no line %q within %s", prefix, timeout)
		}
	}
}

// wait waits for the child to exit and returns its status.
func (c *child) wait(t *testing.T, timeout time.Duration) syscall.WaitStatus {
	t.Helper()
	select {
	case <-c.done:
	case <-time.After(timeout):
		t.Fatalf("child still running after %s", timeout)
	}
	var exit *exec.ExitError
	if c.err != nil && !errors.As(c.err, &exit) {
		t.Fatalf("wait: %v", c.err)
	}
	return c.cmd.ProcessState.Sys().(syscall.WaitStatus)
}

// drain discards the child's remaining output in the background.
func (c *child) drain() {
	go func() {
		for range c.lines {
		}
	}()
}
