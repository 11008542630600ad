package sdnotify

import (
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// TestMain lets the test binary act as a notifying child process.
func TestMain(m *testing.M) {
	if sock := os.Getenv("SDNOTIFY_TEST_CHILD"); sock != "" {
		n := New(sock, 0)
		if err := n.Send("READY=1", "STATUS=child up"); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func next(t *testing.T, l *Listener) Message {
	t.Helper()
	select {
	case m, ok := <-l.Messages():
		if !ok {
			t.Fatal("messages closed")
		}
		return m
	case <-time.After(5 * time.Second):
		t.Fatal("no message within 5s")
	}
	return Message{}
}

func TestParseMessage_Fields(t *testing.T) {
	cases := []struct {
		in   string
		want map[string]string
	}{
		{"READY=1", map[string]string{"READY": "1"}},
		{"READY=1\nSTATUS=a=b\n", map[string]string{"READY": "1", "STATUS": "a=b"}},
		{"\n\nWATCHDOG=1", map[string]string{"WATCHDOG": "1"}},
		{"FLAG", map[string]string{"FLAG": ""}},
		{"STATUS=x\nSTATUS=y", map[string]string{"STATUS": "y"}},
		{"", map[string]string{}},
	}
	for _, c := range cases {
		if got := ParseMessage([]byte(c.in)); !maps.Equal(got, c.want) {
			t.Errorf("ParseMessage(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestListener_Messages_FromSelf(t *testing.T) {
	for _, abstract := range []bool{false, true} {
		t.Run(fmt.Sprintf("abstract=%v", abstract), func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "c.sock")
			if abstract {
				path = fmt.Sprintf("@thorp-sdnotify-listener-%d-%d", os.Getpid(), time.Now().UnixNano())
			}
			l, err := Listen(path, 4)
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			n := New(l.Path(), 0)
			if err := n.Ready(); err != nil {
				t.Fatal(err)
			}
			if err := n.Watchdog(); err != nil {
				t.Fatal(err)
			}
			if err := n.Status("serving"); err != nil {
				t.Fatal(err)
			}
			m := next(t, l)
			if !m.Ready() || m.PID != os.Getpid() || m.UID != os.Getuid() {
				t.Errorf("first message %+v, want READY=1 from pid %d", m, os.Getpid())
			}
			if m := next(t, l); !m.Watchdog() || m.Ready() {
				t.Errorf("second message %+v, want WATCHDOG=1", m)
			}
			if s, ok := next(t, l).Status(); !ok || s != "serving" {
				t.Errorf("status %q %v", s, ok)
			}
		})
	}
}

func TestListener_Messages_ChildPID(t *testing.T) {
	l, err := Listen(filepath.Join(t.TempDir(), "c.sock"), 1)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SDNOTIFY_TEST_CHILD="+l.Path())
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v: %s", err, out)
	}
	m := next(t, l)
	if m.PID != cmd.Process.Pid {
		t.Errorf("pid %d, want the child's %d", m.PID, cmd.Process.Pid)
	}
	if s, _ := m.Status(); !m.Ready() || s != "child up" {
		t.Errorf("message %+v", m)
	}
}

func TestListener_Close_Twice(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	l, err := Listen(path, 0)
	if err != nil {
		t.Fatal(err)
	}
	// A message the consumer never reads must not block Close.
	if err := New(path, 0).Ready(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for range l.Messages() {
	}
	if _, err := os.Lstat(path); !os.IsNotExist(err) {
		t.Errorf("socket file left behind: %v", err)
	}
	if err := New(path, 0).Ready(); err == nil {
		t.Error("send to a closed listener succeeded")
	}
}

func TestListen_ReplacesStaleSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "c.sock")
	l1, err := Listen(path, 1)
	if err != nil {
		t.Fatal(err)
	}
	// Simulate a crash: the file stays although nothing reads it.
	l1.conn.Close()
	l1.wg.Wait()
	l2, err := Listen(path, 1)
	if err != nil {
		t.Fatalf("listen over a stale socket: %v", err)
	}
	defer l2.Close()
	if err := New(path, 0).Ready(); err != nil {
		t.Fatal(err)
	}
	if m := next(t, l2); !m.Ready() {
		t.Errorf("got %+v", m)
	}
}

func TestListen_RefusesNonSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "regular")
	if err := os.WriteFile(path, []byte("keep me"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Listen(path, 1); err == nil {
		t.Fatal("listened over a regular file")
	}
	if b, _ := os.ReadFile(path); string(b) != "keep me" {
		t.Error("regular file was changed")
	}
}
