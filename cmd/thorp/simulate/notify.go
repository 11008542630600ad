package simulate

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"time"
)

// Notify sends state (for example "READY=1") to the service manager's
// NOTIFY_SOCKET, the sd_notify protocol. A socket name starting with '@' is
// an abstract socket. Without NOTIFY_SOCKET it does nothing and returns nil.
// Safe for concurrent use.
func Notify(state string) error {
	sock := os.Getenv("NOTIFY_SOCKET")
	if sock == "" {
		return nil
	}
	c, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: sock, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("notify %q: %w", sock, err)
	}
	defer c.Close()
	if _, err := c.Write([]byte(state)); err != nil {
		return fmt.Errorf("notify %q: %w", sock, err)
	}
	return nil
}

// watchdogInterval returns how often to send WATCHDOG=1: half of
// WATCHDOG_USEC, when it is set and WATCHDOG_PID is unset or this process.
func watchdogInterval(getenv func(string) string, pid int) (time.Duration, bool) {
	us, err := strconv.ParseInt(getenv("WATCHDOG_USEC"), 10, 64)
	if err != nil || us <= 0 {
		return 0, false
	}
	if p := getenv("WATCHDOG_PID"); p != "" {
		if wp, err := strconv.Atoi(p); err != nil || wp != pid {
			return 0, false
		}
	}
	return time.Duration(us) * time.Microsecond / 2, true
}

// runWatchdog sends WATCHDOG=1 at half the WATCHDOG_USEC period until ctx is
// done; it returns at once when no watchdog is asked for.
func runWatchdog(ctx context.Context) {
	every, ok := watchdogInterval(os.Getenv, os.Getpid())
	if !ok {
		return
	}
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			_ = Notify("WATCHDOG=1")
		}
	}
}
