package simulate

import (
	"context"
	"fmt"
	"io"
	"syscall"
	"time"
)

// ExitError asks the caller to exit the process with Code; the crash
// workload returns it. cmd/thorp maps it to the exit status.
type ExitError struct {
	// Code is the exit status, 0-255.
	Code int
}

// Error implements error.
func (e *ExitError) Error() string { return fmt.Sprintf("exit code %d", e.Code) }

// CrashOptions configure the crash workload.
type CrashOptions struct {
	// After is how long the process runs before it crashes.
	After time.Duration
	// Code is the exit status of the crash (ignored when Signal is set).
	Code int
	// Signal, when non-zero, makes the process die by this signal instead
	// (its default action, so SIGSEGV and SIGABRT dump core where allowed).
	Signal syscall.Signal
}

// Crash runs for opts.After, then crashes: it kills the process with
// opts.Signal when set (and does not return), or returns an *ExitError with
// opts.Code. When ctx is cancelled first it returns nil: a crash workload
// still stops cleanly on SIGTERM. Not for concurrent use.
func Crash(ctx context.Context, opts CrashOptions, stdout io.Writer) error {
	how := fmt.Sprintf("code %d", opts.Code)
	if opts.Signal != 0 {
		how = "signal " + signalName(opts.Signal)
	}
	fmt.Fprintf(stdout, "crashing in %s with %s\n", opts.After, how)
	t := time.NewTimer(opts.After)
	defer t.Stop()
	select {
	case <-ctx.Done():
		fmt.Fprintln(stdout, "stopped before crashing")
		return nil
	case <-t.C:
	}
	fmt.Fprintf(stdout, "crashing now with %s\n", how)
	if opts.Signal != 0 {
		if err := dieBySignal(opts.Signal); err != nil {
			return fmt.Errorf("crash: %w", err)
		}
	}
	return &ExitError{Code: opts.Code}
}
