// Package sdnotify speaks systemd's sd_notify protocol on both sides: a
// Notifier sends READY=1, STOPPING=1, WATCHDOG=1 and STATUS= datagrams to the
// socket named by $NOTIFY_SOCKET (thorp run under a Type=notify unit), and a
// Listener receives such datagrams from thorp's own components, each tagged
// with the sender's pid taken from the kernel's SCM_CREDENTIALS.
//
// Concurrency model: a Notifier holds no connection between sends (each
// message dials, writes one datagram and closes), so its methods are safe for
// concurrent use and need no Close. RunWatchdog blocks its caller's goroutine
// until the context ends. A Listener owns one reader goroutine that Close
// stops and waits for; messages are handed over on a channel that Close
// closes.
package sdnotify

import (
	"context"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Notifier sends sd_notify messages to $NOTIFY_SOCKET: a filesystem path, or
// an abstract socket written '@name'. A nil or zero Notifier (no socket)
// sends nothing and returns nil from every method. It is safe for concurrent
// use.
type Notifier struct {
	socket   string
	watchdog time.Duration
}

// New returns a Notifier for socket (a path or '@name'; "" sends nothing)
// with the given watchdog interval (0 for none).
func New(socket string, watchdog time.Duration) *Notifier {
	return &Notifier{socket: socket, watchdog: watchdog}
}

// FromEnv builds a Notifier from NOTIFY_SOCKET, WATCHDOG_USEC and
// WATCHDOG_PID as read through environ (os.Getenv in production). A socket
// that is neither an absolute path nor '@name' is ignored. The watchdog is
// set only when WATCHDOG_USEC is a positive number and WATCHDOG_PID, if
// present, equals this process's pid (systemd sets it for the main process;
// a child that inherited the variables must not ping on its behalf).
func FromEnv(environ func(string) string) *Notifier {
	n := &Notifier{}
	if s := environ("NOTIFY_SOCKET"); strings.HasPrefix(s, "/") || (strings.HasPrefix(s, "@") && len(s) > 1) {
		n.socket = s
	}
	usec, err := strconv.ParseUint(environ("WATCHDOG_USEC"), 10, 63)
	if err != nil || usec == 0 {
		return n
	}
	if p := environ("WATCHDOG_PID"); p != "" {
		pid, err := strconv.Atoi(p)
		if err != nil || pid != os.Getpid() {
			return n
		}
	}
	n.watchdog = time.Duration(usec) * time.Microsecond
	return n
}

// Enabled reports whether n has a socket to send to.
func (n *Notifier) Enabled() bool { return n != nil && n.socket != "" }

// Socket returns the socket n sends to ("" when none).
func (n *Notifier) Socket() string {
	if n == nil {
		return ""
	}
	return n.socket
}

// Ready tells the service manager that startup is complete (READY=1).
func (n *Notifier) Ready() error { return n.Send("READY=1") }

// Stopping tells the service manager that shutdown has begun (STOPPING=1).
func (n *Notifier) Stopping() error { return n.Send("STOPPING=1") }

// Reloading tells the service manager that a configuration reload has begun
// (RELOADING=1 with MONOTONIC_USEC, as Type=notify-reload requires); send
// Ready when it is done.
func (n *Notifier) Reloading() error {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts); err != nil {
		return n.Send("RELOADING=1")
	}
	return n.Send("RELOADING=1", "MONOTONIC_USEC="+strconv.FormatInt(ts.Nano()/1000, 10))
}

// Status sets the one-line status text systemctl status shows (STATUS=msg).
// Newlines in msg become spaces, since they would end the field.
func (n *Notifier) Status(msg string) error {
	return n.Send("STATUS=" + strings.NewReplacer("\r\n", " ", "\n", " ", "\r", " ").Replace(msg))
}

// Watchdog sends one keep-alive ping (WATCHDOG=1).
func (n *Notifier) Watchdog() error { return n.Send("WATCHDOG=1") }

// WatchdogInterval returns the watchdog interval systemd asked for, 0 when
// there is no watchdog.
func (n *Notifier) WatchdogInterval() time.Duration {
	if n == nil || n.socket == "" {
		return 0
	}
	return n.watchdog
}

// Send sends fields ("KEY=value", one per line) in one datagram. It returns
// nil without sending when n has no socket.
func (n *Notifier) Send(fields ...string) error {
	if !n.Enabled() || len(fields) == 0 {
		return nil
	}
	msg := strings.Join(fields, "\n")
	conn, err := net.DialUnix("unixgram", nil, &net.UnixAddr{Name: n.socket, Net: "unixgram"})
	if err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstField(msg), err)
	}
	defer conn.Close()
	if err := conn.SetWriteDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstField(msg), err)
	}
	if _, err := conn.Write([]byte(msg)); err != nil {
		return fmt.Errorf("sd_notify %q: %w", firstField(msg), err)
	}
	return nil
}

func firstField(msg string) string {
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return msg[:i]
	}
	return msg
}

// RunWatchdog sends WATCHDOG=1 every half watchdog interval until ctx is
// done; it returns at once when there is no watchdog. healthy may be nil;
// when it returns false that ping is skipped, so that systemd restarts a
// thorp that is wedged. Send errors are ignored (the next tick tries again).
// It blocks; run it in its own goroutine. Safe to call concurrently, though
// one caller is what systemd expects.
func (n *Notifier) RunWatchdog(ctx context.Context, healthy func() bool) {
	iv := n.WatchdogInterval()
	if iv <= 0 {
		return
	}
	t := time.NewTicker(iv / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if healthy == nil || healthy() {
				_ = n.Watchdog()
			}
		}
	}
}
