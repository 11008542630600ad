package simulate

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestInheritedSocket_Env(t *testing.T) {
	tests := []struct {
		name     string
		env      map[string]string
		wantName string
		wantOK   bool
	}{
		{"none", nil, "", false},
		{"one, pid unset", map[string]string{"LISTEN_FDS": "1"}, "", true},
		{"pid matches", map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "42"}, "", true},
		{"pid of another process", map[string]string{"LISTEN_FDS": "1", "LISTEN_PID": "43"}, "", false},
		{"zero fds", map[string]string{"LISTEN_FDS": "0"}, "", false},
		{"garbage", map[string]string{"LISTEN_FDS": "x"}, "", false},
		{"first of several names", map[string]string{"LISTEN_FDS": "2", "LISTEN_FDNAMES": "http:admin"}, "http", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			name, ok := inheritedSocket(func(k string) string { return tt.env[k] }, 42)
			if name != tt.wantName || ok != tt.wantOK {
				t.Fatalf("got (%q, %v), want (%q, %v)", name, ok, tt.wantName, tt.wantOK)
			}
		})
	}
}

func TestListen_NoAddressNoSocket(t *testing.T) {
	t.Setenv("LISTEN_FDS", "1")
	t.Setenv("LISTEN_PID", "1") // someone else's
	ln, err := Listen("")
	if err != nil || ln != nil {
		t.Fatalf("Listen(\"\") = %v, %v; want nil, nil", ln, err)
	}
}

// TestHTTP_InheritedSocket passes a listener as fd 3 the way thorp does, checks
// the child serves on it, and that after the child's graceful exit the socket
// still queues connections for the next instance (here: the test itself).
func TestHTTP_InheritedSocket(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	f, err := ln.(*net.TCPListener).File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	c := startChild(t, "http", HTTPOptions{Addr: "127.0.0.1:1"}, func(cmd *exec.Cmd) {
		cmd.ExtraFiles = []*os.File{f}
		cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "LISTEN_FDNAMES=web")
	})
	line := c.waitLine(t, "listening on ", 10*time.Second)
	if got, want := strings.TrimPrefix(line, "listening on "), ln.Addr().String(); got != want {
		t.Fatalf("child listens on %s, want the inherited %s", got, want)
	}
	c.drain()
	base := "http://" + ln.Addr().String()
	if body := get(t, base+"/"); body != "ok\n" {
		t.Fatalf("GET / = %q", body)
	}
	var h health
	if err := json.Unmarshal([]byte(get(t, base+"/health")), &h); err != nil {
		t.Fatal(err)
	}
	if h.Status != "healthy" || h.PID != c.cmd.Process.Pid || h.RSSBytes <= 0 {
		t.Fatalf("health = %+v", h)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if ws := c.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
		t.Fatalf("exit status %v, want 0", ws)
	}
	// The socket is still ours and still listening.
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 2*time.Second)
	if err != nil {
		t.Fatalf("inherited socket stopped listening: %v", err)
	}
	defer conn.Close()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(2 * time.Second))
	ac, err := ln.Accept()
	if err != nil {
		t.Fatalf("accept after the child left: %v", err)
	}
	_ = ac.Close()
}

func get(t *testing.T, url string) string {
	t.Helper()
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return string(b)
}

// listenNotify opens a unixgram socket for NOTIFY_SOCKET in a temp dir.
func listenNotify(t *testing.T) (string, *net.UnixConn) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	return path, conn
}

func readDatagram(t *testing.T, conn *net.UnixConn, timeout time.Duration) string {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(timeout))
	b := make([]byte, 512)
	n, err := conn.Read(b)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(b[:n])
}

func TestNotify_Sockets(t *testing.T) {
	path, conn := listenNotify(t)
	abstract := "@thorp-simulate-test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + time.Now().Format("150405.000000000")
	aconn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: abstract, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	defer aconn.Close()
	for _, tt := range []struct {
		name string
		sock string
		conn *net.UnixConn
	}{{"path", path, conn}, {"abstract", abstract, aconn}} {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NOTIFY_SOCKET", tt.sock)
			if err := Notify("READY=1"); err != nil {
				t.Fatal(err)
			}
			if got := readDatagram(t, tt.conn, 5*time.Second); got != "READY=1" {
				t.Fatalf("got %q", got)
			}
		})
	}
	t.Run("unset", func(t *testing.T) {
		t.Setenv("NOTIFY_SOCKET", "")
		if err := Notify("READY=1"); err != nil {
			t.Fatal(err)
		}
	})
}

func TestHTTP_NotifiesReadyAfterStartupDelay(t *testing.T) {
	path, conn := listenNotify(t)
	const delay = 300 * time.Millisecond
	start := time.Now()
	c := startChild(t, "http", HTTPOptions{Addr: "127.0.0.1:0", StartupDelay: delay}, func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+path)
	})
	if got := readDatagram(t, conn, 10*time.Second); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}
	if d := time.Since(start); d < delay {
		t.Fatalf("READY=1 after %s, before the startup delay %s", d, delay)
	}
	// Ready means serving.
	addr := strings.TrimPrefix(c.waitLine(t, "listening on ", 5*time.Second), "listening on ")
	c.drain()
	if body := get(t, "http://"+addr+"/"); body != "ok\n" {
		t.Fatalf("GET / = %q", body)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if got := readDatagram(t, conn, 10*time.Second); got != "STOPPING=1" {
		t.Fatalf("got %q, want STOPPING=1", got)
	}
	if ws := c.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
		t.Fatalf("exit status %v, want 0", ws)
	}
}

func TestWatchdogInterval_Env(t *testing.T) {
	tests := []struct {
		usec, pid string
		want      time.Duration
		ok        bool
	}{
		{"", "", 0, false},
		{"2000000", "", time.Second, true},
		{"2000000", "42", time.Second, true},
		{"2000000", "7", 0, false},
		{"-5", "", 0, false},
	}
	for _, tt := range tests {
		env := map[string]string{"WATCHDOG_USEC": tt.usec, "WATCHDOG_PID": tt.pid}
		got, ok := watchdogInterval(func(k string) string { return env[k] }, 42)
		if got != tt.want || ok != tt.ok {
			t.Errorf("usec=%q pid=%q: got (%s, %v), want (%s, %v)", tt.usec, tt.pid, got, ok, tt.want, tt.ok)
		}
	}
}

func TestHTTP_SendsWatchdogPings(t *testing.T) {
	path, conn := listenNotify(t)
	c := startChild(t, "http", HTTPOptions{Addr: "127.0.0.1:0"}, func(cmd *exec.Cmd) {
		cmd.Env = append(cmd.Env, "NOTIFY_SOCKET="+path, "WATCHDOG_USEC=100000")
	})
	c.drain()
	if got := readDatagram(t, conn, 10*time.Second); got != "READY=1" {
		t.Fatalf("got %q, want READY=1", got)
	}
	for range 2 {
		if got := readDatagram(t, conn, 5*time.Second); got != "WATCHDOG=1" {
			t.Fatalf("got %q, want WATCHDOG=1", got)
		}
	}
}

// TestPlain_IgnoresSocketAndNotify runs both servers as apps that know
// nothing of thorp, in an environment that offers them a held socket and a
// notify socket: each serves on its own address and sends no datagram.
func TestPlain_IgnoresSocketAndNotify(t *testing.T) {
	for _, workload := range []string{"http", "leak"} {
		t.Run(workload, func(t *testing.T) {
			held, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer held.Close()
			f, err := held.(*net.TCPListener).File()
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			path, conn := listenNotify(t)
			var opts any = HTTPOptions{Addr: "127.0.0.1:0", Plain: true}
			if workload == "leak" {
				opts = LeakOptions{Rate: 1 << 20, Max: 1 << 20, Addr: "127.0.0.1:0", Plain: true}
			}
			c := startChild(t, workload, opts, func(cmd *exec.Cmd) {
				cmd.ExtraFiles = []*os.File{f}
				cmd.Env = append(cmd.Env, "LISTEN_FDS=1", "NOTIFY_SOCKET="+path, "WATCHDOG_USEC=100000")
			})
			addr := strings.TrimPrefix(c.waitLine(t, "listening on ", 10*time.Second), "listening on ")
			c.drain()
			if addr == held.Addr().String() {
				t.Fatalf("plain %s serves the inherited socket %s", workload, addr)
			}
			if body := get(t, "http://"+addr+"/"); body != "ok\n" {
				t.Fatalf("GET / = %q", body)
			}
			_ = c.cmd.Process.Signal(syscall.SIGTERM)
			if ws := c.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
				t.Fatalf("exit status %v, want 0", ws)
			}
			// The child has exited: whatever it sent is queued by now.
			_ = conn.SetReadDeadline(time.Now())
			b := make([]byte, 512)
			if n, err := conn.Read(b); err == nil {
				t.Fatalf("plain %s sent %q to NOTIFY_SOCKET", workload, b[:n])
			}
		})
	}
}
