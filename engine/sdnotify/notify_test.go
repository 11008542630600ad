package sdnotify

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// receiver binds a plain unixgram socket (not a Listener, so the two sides
// are tested independently) and returns it with its address.
func receiver(t *testing.T, abstract bool) (*net.UnixConn, string) {
	t.Helper()
	addr := filepath.Join(t.TempDir(), "notify.sock")
	if abstract {
		addr = fmt.Sprintf("@thorp-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	}
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: addr, Net: "unixgram"})
	if err != nil {
		t.Fatalf("listen %s: %v", addr, err)
	}
	t.Cleanup(func() { conn.Close() })
	return conn, addr
}

// recv reads one datagram or fails after timeout.
func recv(t *testing.T, conn *net.UnixConn, timeout time.Duration) string {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		t.Fatal(err)
	}
	n, err := conn.Read(buf)
	if err != nil {
		t.Fatalf("no datagram within %v: %v", timeout, err)
	}
	return string(buf[:n])
}

// expectNothing fails if a datagram is already queued on conn.
func expectNothing(t *testing.T, conn *net.UnixConn) {
	t.Helper()
	buf := make([]byte, 4096)
	if err := conn.SetReadDeadline(time.Now().Add(20 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	if n, err := conn.Read(buf); err == nil {
		t.Fatalf("unexpected datagram %q", buf[:n])
	}
}

func env(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestNotifier_Send_MessagesArriveExactly(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			conn, addr := receiver(t, abstract)
			n := FromEnv(env(map[string]string{"NOTIFY_SOCKET": addr}))
			if !n.Enabled() || n.Socket() != addr {
				t.Fatalf("notifier for %q: enabled=%v socket=%q", addr, n.Enabled(), n.Socket())
			}
			cases := []struct {
				send func() error
				want string
			}{
				{n.Ready, "READY=1"},
				{n.Stopping, "STOPPING=1"},
				{n.Watchdog, "WATCHDOG=1"},
				{func() error { return n.Status("2 of 3 running") }, "STATUS=2 of 3 running"},
				{func() error { return n.Status("a\nb") }, "STATUS=a b"},
				{func() error { return n.Send("READY=1", "STATUS=up") }, "READY=1\nSTATUS=up"},
			}
			for _, c := range cases {
				if err := c.send(); err != nil {
					t.Fatalf("send %q: %v", c.want, err)
				}
				if got := recv(t, conn, 5*time.Second); got != c.want {
					t.Errorf("got %q, want %q", got, c.want)
				}
			}
			if err := n.Reloading(); err != nil {
				t.Fatal(err)
			}
			got := recv(t, conn, 5*time.Second)
			first, second, _ := strings.Cut(got, "\n")
			if first != "RELOADING=1" || !strings.HasPrefix(second, "MONOTONIC_USEC=") {
				t.Errorf("reloading sent %q", got)
			}
			if _, err := strconv.ParseUint(strings.TrimPrefix(second, "MONOTONIC_USEC="), 10, 64); err != nil {
				t.Errorf("MONOTONIC_USEC not a number in %q", got)
			}
		})
	}
}

func TestNotifier_Send_NoSocketIsNoop(t *testing.T) {
	for name, n := range map[string]*Notifier{
		"nil":      nil,
		"zero":     {},
		"env":      FromEnv(env(nil)),
		"relative": FromEnv(env(map[string]string{"NOTIFY_SOCKET": "notify.sock"})),
		"bare @":   FromEnv(env(map[string]string{"NOTIFY_SOCKET": "@"})),
	} {
		t.Run(name, func(t *testing.T) {
			if n.Enabled() {
				t.Fatal("enabled without a usable socket")
			}
			for _, f := range []func() error{n.Ready, n.Stopping, n.Reloading, n.Watchdog, func() error { return n.Status("x") }} {
				if err := f(); err != nil {
					t.Errorf("got %v, want nil", err)
				}
			}
			if n.WatchdogInterval() != 0 {
				t.Error("watchdog without a socket")
			}
			done := make(chan struct{})
			go func() { n.RunWatchdog(context.Background(), nil); close(done) }()
			select {
			case <-done:
			case <-time.After(5 * time.Second):
				t.Fatal("RunWatchdog did not return without a watchdog")
			}
		})
	}
}

func TestNotifier_Send_MissingSocketFails(t *testing.T) {
	n := New(filepath.Join(t.TempDir(), "gone.sock"), 0)
	err := n.Ready()
	if err == nil || !errors.Is(err, os.ErrNotExist) && !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("got %v, want a no-such-file error", err)
	}
	if !strings.Contains(err.Error(), "READY=1") {
		t.Errorf("error %q does not name the message", err)
	}
}

func TestFromEnv_Watchdog(t *testing.T) {
	self := strconv.Itoa(os.Getpid())
	cases := []struct {
		name string
		env  map[string]string
		want time.Duration
	}{
		{"no watchdog", map[string]string{}, 0},
		{"usec", map[string]string{"WATCHDOG_USEC": "30000000"}, 30 * time.Second},
		{"usec and own pid", map[string]string{"WATCHDOG_USEC": "100000", "WATCHDOG_PID": self}, 100 * time.Millisecond},
		{"other pid", map[string]string{"WATCHDOG_USEC": "100000", "WATCHDOG_PID": "1"}, 0},
		{"bad pid", map[string]string{"WATCHDOG_USEC": "100000", "WATCHDOG_PID": "x"}, 0},
		{"bad usec", map[string]string{"WATCHDOG_USEC": "soon"}, 0},
		{"zero usec", map[string]string{"WATCHDOG_USEC": "0"}, 0},
		{"negative usec", map[string]string{"WATCHDOG_USEC": "-5"}, 0},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.env["NOTIFY_SOCKET"] = "/run/systemd/notify"
			if got := FromEnv(env(c.env)).WatchdogInterval(); got != c.want {
				t.Errorf("got %v, want %v", got, c.want)
			}
		})
	}
}

func TestNotifier_RunWatchdog_PingsAtHalfInterval(t *testing.T) {
	conn, addr := receiver(t, false)
	n := FromEnv(env(map[string]string{"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "100000", "WATCHDOG_PID": strconv.Itoa(os.Getpid())}))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	start := time.Now()
	go func() { n.RunWatchdog(ctx, nil); close(done) }()
	const pings = 5
	for i := 0; i < pings; i++ {
		if got := recv(t, conn, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("ping %d: got %q", i, got)
		}
	}
	elapsed := time.Since(start)
	cancel()
	<-done
	// A ticker never fires early: 5 pings at 50ms take at least 250ms. At the
	// full interval they would take 500ms; allow scheduling delay on top of
	// 250ms but not a doubled period.
	if elapsed < pings*50*time.Millisecond {
		t.Errorf("%d pings in %v: faster than half the interval", pings, elapsed)
	}
	if elapsed >= pings*100*time.Millisecond {
		t.Logf("%d pings took %v (slow machine?)", pings, elapsed)
	}
	if elapsed > 3*time.Second {
		t.Errorf("%d pings took %v, want about 250ms", pings, elapsed)
	}
}

func TestNotifier_RunWatchdog_SkipsWhenUnhealthy(t *testing.T) {
	conn, addr := receiver(t, false)
	n := New(addr, 40*time.Millisecond)
	var calls atomic.Int32
	healthy := func() bool { return calls.Add(1) > 3 }
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.RunWatchdog(ctx, healthy); close(done) }()
	if got := recv(t, conn, 5*time.Second); got != "WATCHDOG=1" {
		t.Fatalf("got %q", got)
	}
	// Sends are synchronous, so the first datagram is the first healthy tick's.
	if c := calls.Load(); c < 4 {
		t.Errorf("pinged after %d health checks, want the first 3 skipped", c)
	}
	cancel()
	<-done
}

func TestNotifier_RunWatchdog_PIDMismatchDisables(t *testing.T) {
	conn, addr := receiver(t, false)
	n := FromEnv(env(map[string]string{"NOTIFY_SOCKET": addr, "WATCHDOG_USEC": "10000", "WATCHDOG_PID": strconv.Itoa(os.Getpid() + 1)}))
	if n.WatchdogInterval() != 0 {
		t.Fatalf("watchdog %v for another pid", n.WatchdogInterval())
	}
	done := make(chan struct{})
	go func() { n.RunWatchdog(context.Background(), nil); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("RunWatchdog kept running for another pid's watchdog")
	}
	expectNothing(t, conn)
	// The socket itself still works for READY=1.
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, conn, 5*time.Second); got != "READY=1" {
		t.Errorf("got %q", got)
	}
}
