package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Issue 9 items 1–3: thorp removes, truncates or follows only what it
// created, and one thorp runs a config.

// staleSocket leaves a socket file at path that nothing answers on, as
// a thorp killed with SIGKILL would: bound, never listened on, closed.
func staleSocket(t *testing.T, path string) {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: path}); err != nil {
		t.Fatal(err)
	}
}

// mustContain fails unless the file at path holds exactly want.
func mustContain(t *testing.T, path, want string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil || string(b) != want {
		t.Fatalf("%s: %q, %v; want %q untouched", path, b, err, want)
	}
}

// checkAndRunRefuse asserts that thorp check reports the error want and
// that thorp run refuses with it.
func checkAndRunRefuse(t *testing.T, cfg, want string) {
	t.Helper()
	out, _, code := thorpCmd(t, "check", "-c", cfg)
	if code != exitFailed || !strings.Contains(out, want) {
		t.Fatalf("check: exit %d, want an error %q\n%s", code, want, out)
	}
	if out := runRefused(t, cfg); !strings.Contains(out, want) {
		t.Fatalf("run: want %q\n%s", want, out)
	}
}

// runRefused runs `thorp run` expecting it to refuse at once; it returns
// its output.
func runRefused(t *testing.T, cfg string) string {
	t.Helper()
	out, errOut, code := thorpCmd(t, "run", "-c", cfg)
	if code != exitFailed {
		t.Fatalf("thorp run: exit %d, want %d\n%s%s", code, exitFailed, out, errOut)
	}
	return out + errOut
}

func TestFiles_ControlOnRegularFileRefused(t *testing.T) {
	cfg := writeConfig(t, `
settings { control = "precious.txt", http = "" }
component "x" { command = { "sleep", "1000" } }
`)
	precious := filepath.Join(filepath.Dir(cfg), "precious.txt")
	if err := os.WriteFile(precious, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	checkAndRunRefuse(t, cfg, cfg+`:2: control: `+precious+` is a regular file, not a socket`)
	mustContain(t, precious, "keep me")
}

func TestFiles_UnixSocketOnRegularFileRefused(t *testing.T) {
	dir := t.TempDir()
	db := filepath.Join(dir, "app.db")
	if err := os.WriteFile(db, []byte("rows"), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, fmt.Sprintf(`
component "web" { command = { "sleep", "1000" } }
component "db" {
  command = { "sleep", "1000" },
  sockets = { http = "unix://%s" },
}
`, db))
	checkAndRunRefuse(t, cfg, cfg+`:3: component "db": sockets.http: `+db+` is a regular file, not a socket`)
	mustContain(t, db, "rows")
	// A directory, a symlink and a live socket are refused as well.
	other, err := net.Listen("unix", filepath.Join(dir, "live.sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := os.Symlink(db, filepath.Join(dir, "link.sock")); err != nil {
		t.Fatal(err)
	}
	for name, what := range map[string]string{"link.sock": "is a symbolic link", "live.sock": "is a live socket", "": "is a directory"} {
		path := filepath.Join(dir, name)
		cfg := writeConfig(t, fmt.Sprintf(`component "db" { command = { "sleep", "1000" }, sockets = { http = "unix://%s" } }`, path))
		out, _, code := thorpCmd(t, "check", "-c", cfg)
		if code != exitFailed || !strings.Contains(out, path+" "+what) {
			t.Fatalf("check %s: exit %d, want %q\n%s", path, code, what, out)
		}
	}
	if _, err := net.Dial("unix", filepath.Join(dir, "live.sock")); err != nil {
		t.Fatalf("the live socket was touched: %v", err)
	}
}

func TestFiles_StaleSocketsAreReplaced(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "web.sock")
	cfg := writeConfig(t, fmt.Sprintf(`
component "web" { command = { %q, "simulate", "http" }, sockets = { http = "unix://%s" } }
`, thorpBin, sock))
	control := filepath.Join(filepath.Dir(cfg), ".thorp", "thorp.sock")
	if err := os.MkdirAll(filepath.Dir(control), 0o700); err != nil {
		t.Fatal(err)
	}
	staleSocket(t, sock)
	staleSocket(t, control)
	if out, _, code := thorpCmd(t, "check", "-c", cfg); code != exitOK {
		t.Fatalf("check with stale sockets: exit %d\n%s", code, out)
	}
	r := startThorpRunning(t, cfg)
	if err := getUnix(sock); err != nil {
		t.Fatalf("the component does not answer on its socket: %v", err)
	}
	stopThorp(t, r)
	for _, p := range []string{sock, control} {
		if _, err := os.Lstat(p); !os.IsNotExist(err) {
			t.Fatalf("%s left behind after the shutdown: %v", p, err)
		}
	}
}

func TestRun_SecondRunRefusedFirstKeepsServing(t *testing.T) {
	dir := t.TempDir()
	sock := filepath.Join(dir, "web.sock")
	cfg := writeConfig(t, fmt.Sprintf(`
component "web" { command = { %q, "simulate", "http" }, sockets = { http = "unix://%s" } }
`, thorpBin, sock))
	first := startThorpRunning(t, cfg)
	pid := first.cmd.Process.Pid
	logDir := filepath.Join(filepath.Dir(cfg), "logs")
	before := listDir(t, logDir)
	out := runRefused(t, cfg)
	if want := fmt.Sprintf("a thorp (pid %d) is already running with this config", pid); !strings.Contains(out, want) {
		t.Fatalf("second run: want %q\n%s", want, out)
	}
	if err := getUnix(sock); err != nil {
		t.Fatalf("the first thorp's socket no longer answers after the second run: %v", err)
	}
	lock := filepath.Join(filepath.Dir(cfg), ".thorp", "thorp.lock")
	if b, err := os.ReadFile(lock); err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(pid) {
		t.Fatalf("lock file %s: %q, %v; want the pid %d", lock, b, err, pid)
	}
	if _, _, code := thorpCmd(t, "status", "-c", cfg); code != exitOK {
		t.Fatal("the first thorp's control socket no longer answers")
	}
	// thorp's own log was neither reopened nor rotated; the component's
	// logs, opened lazily by the first thorp, may have appeared meanwhile.
	after := listDir(t, logDir)
	for name, ino := range before {
		if after[name] != ino {
			t.Fatalf("the second run replaced %s (inode %d, now %d)", name, ino, after[name])
		}
	}
	for name := range after {
		if _, ok := before[name]; !ok && strings.HasPrefix(name, "thorp") {
			t.Fatalf("the second run created %s", name)
		}
	}
	// thorp check knows the sockets are the running thorp's own.
	if out, _, code := thorpCmd(t, "check", "-c", cfg); code != exitOK {
		t.Fatalf("check while thorp holds its unix sockets: exit %d\n%s", code, out)
	}
	// thorp up sees the running one and starts nothing.
	if out, errOut, code := thorpCmd(t, "up", "-c", cfg); code != exitOK || !strings.Contains(errOut, strconv.Itoa(pid)) {
		t.Fatalf("up: exit %d\n%s%s", code, out, errOut)
	}
	if err := getUnix(sock); err != nil {
		t.Fatalf("the socket no longer answers after thorp up: %v", err)
	}
}

func TestLogs_SymlinkIsNeverFollowed(t *testing.T) {
	cfg := writeConfig(t, `settings { http = "" }
component "web" {
  command = { "sh", "-c", "while true; do echo line; sleep 0.05; done" },
}
`)
	logs := filepath.Join(filepath.Dir(cfg), "logs")
	if err := os.MkdirAll(logs, 0o755); err != nil {
		t.Fatal(err)
	}
	target := filepath.Join(t.TempDir(), "precious.log")
	if err := os.WriteFile(target, []byte("precious\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(logs, "web-out.log")
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	checkAndRunRefuse(t, cfg, cfg+`:2: component "web": logs: log `+link+` is a symbolic link`)
	if out, errOut, code := thorpCmd(t, "flush", "web", "-c", cfg); code == exitOK {
		t.Fatalf("offline flush through a symlink succeeded\n%s%s", out, errOut)
	}
	mustContain(t, target, "precious\n")

	// A link swapped in while thorp runs: no write, rotation or flush
	// reaches its target.
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	startThorpRunning(t, cfg)
	waitFor(t, 10*time.Second, "output in web-out.log", func() bool {
		fi, err := os.Lstat(link)
		return err == nil && fi.Size() > 0
	})
	if err := os.Remove(link); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	thorpCmd(t, "rotate", "web", "-c", cfg)
	thorpCmd(t, "flush", "web", "-c", cfg)
	// The component keeps writing: thorp notices the link (within a
	// File's path check) and says so instead of writing through it.
	waitFor(t, 10*time.Second, "the symlink warning in thorp.log", func() bool {
		b, _ := os.ReadFile(filepath.Join(logs, "thorp.log"))
		return strings.Contains(string(b), link+" is a symbolic link")
	})
	thorpCmd(t, "rotate", "web", "-c", cfg)
	thorpCmd(t, "flush", "web", "-c", cfg)
	mustContain(t, target, "precious\n")
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("the link was replaced or moved: %v", err)
	}
	gz, _ := filepath.Glob(filepath.Join(filepath.Dir(target), "*"))
	if len(gz) != 1 {
		t.Fatalf("files appeared beside the target: %v", gz)
	}
}

// getUnix makes an HTTP request over the unix socket at path.
func getUnix(path string) error {
	c := http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", path)
		}}}
	resp, err := c.Get("http://web/")
	if err != nil {
		return err
	}
	resp.Body.Close()
	return nil
}

// listDir maps the names of the files in dir to their inodes (a file
// opened anew or rotated changes them).
func listDir(t *testing.T, dir string) map[string]uint64 {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, e := range ents {
		fi, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = fi.Sys().(*syscall.Stat_t).Ino
	}
	return m
}
