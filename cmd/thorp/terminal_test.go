package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestMain_NoTerminalQueryAtStart runs thorp on a terminal that never
// answers (a pty nobody reads for it), as over `ssh -tt` or in a CI
// runner: it must neither write a query to the terminal nor wait for an
// answer. Bubble Tea v1's package init did both in every thorp command
// (an OSC 11 colour query, a cursor-position request, up to 5 s); monit
// is on Bubble Tea v2, which queries nothing before a program runs.
func TestMain_NoTerminalQueryAtStart(t *testing.T) {
	master, slave := openPty(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, thorpBin, "version")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = slave, slave, slave
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "CI=") && !strings.HasPrefix(kv, "TERM=") { // CI= turned termenv's queries off
			env = append(env, kv)
		}
	}
	// Inside tmux, as far as thorp can tell, with a tmux that records being
	// run: a colour-profile detection at start (Lip Gloss v2's) runs
	// `tmux info`.
	fake := t.TempDir()
	ran := filepath.Join(fake, "tmux-ran")
	if err := os.WriteFile(filepath.Join(fake, "tmux"), []byte("#!/bin/sh\necho \"$@\" >> "+ran+"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	for i, kv := range env {
		if strings.HasPrefix(kv, "PATH=") {
			env[i] = "PATH=" + fake + ":" + strings.TrimPrefix(kv, "PATH=")
		}
	}
	cmd.Env = append(env, "TERM=xterm-256color", "TMUX=/tmp/tmux-0/default,1,0")
	// Its own session with the pty as controlling terminal, in the
	// foreground, as a shell would run it.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	out := make(chan []byte)
	go func() {
		var b bytes.Buffer
		_, _ = io.Copy(&b, master) // ends with EIO once thorp has exited
		out <- b.Bytes()
	}()
	err := cmd.Wait()
	took := time.Since(start)
	master.Close()
	got := <-out
	if err != nil {
		t.Fatalf("thorp version: %v\n%q", err, got)
	}
	if strings.Contains(string(got), "\x1b]") || strings.Contains(string(got), "\x1b[6n") {
		t.Errorf("thorp version queried the terminal: %q", got)
	}
	if took > 3*time.Second {
		t.Errorf("thorp version took %v on a terminal that does not answer", took)
	}
	if !strings.Contains(string(got), "thorp ") {
		t.Errorf("no version printed: %q", got)
	}
	if b, err := os.ReadFile(ran); err == nil {
		t.Errorf("thorp version ran tmux at start: tmux %s", b)
	}
}

// openPty returns a new pseudo-terminal's master and slave; both are
// closed when the test ends.
func openPty(t *testing.T) (master, slave *os.File) {
	t.Helper()
	master, err := os.OpenFile("/dev/ptmx", os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { master.Close() })
	fd := int(master.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(fmt.Errorf("unlock pty: %w", err))
	}
	n, err := unix.IoctlGetInt(fd, unix.TIOCGPTN)
	if err != nil {
		t.Fatal(fmt.Errorf("pty number: %w", err))
	}
	slave, err = os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|syscall.O_NOCTTY, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := slave.Close(); err != nil && !errors.Is(err, os.ErrClosed) {
			t.Error(err)
		}
	})
	return master, slave
}
