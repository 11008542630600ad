package api

import (
	"context"
	"errors"
	"fmt"
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

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/config"
)

// dialEnv makes the test binary a client that sends one request to the
// socket it names and prints the answer, or "closed".
const dialEnv = "THORP_API_TEST_DIAL"

func TestMain(m *testing.M) {
	if sock := os.Getenv(dialEnv); sock != "" {
		c, err := net.Dial("unix", sock)
		if err != nil {
			fmt.Println("dial:", err)
			os.Exit(1)
		}
		fmt.Fprint(c, "GET /api/v1/components HTTP/1.0\r\n\r\n")
		b, _ := io.ReadAll(c)
		if len(b) == 0 {
			fmt.Println("closed")
		} else {
			fmt.Println(string(b))
		}
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func startAPI(t testing.TB, mutable bool) (string, *engine.Supervisor) {
	t.Helper()
	dir := t.TempDir()
	c := config.DefaultComponent()
	c.Name = "svc"
	c.Command = config.Command{Argv: []string{"/bin/sh", "-c", "exec sleep 100"}, Shell: true}
	c.Cwd = dir
	c.Env = map[string]string{"SECRET": "hunter2"}
	c.EnvProfiles = map[string]map[string]string{"production": {"SECRET": "prod-hunter2"}}
	c.Tags = []string{"web"}
	c.Logs = config.Defaults().Logs
	c.Logs.Dir = filepath.Join(dir, "logs")
	cfg := &config.Config{File: filepath.Join(dir, "thorp.lua"), Dir: dir, Settings: config.Defaults(), Components: []config.Component{c}}
	sup, err := engine.New(cfg, engine.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sup.Run(ctx) }()
	sock := filepath.Join(dir, ".thorp", "thorp.sock")
	ln, err := ListenControl(sock)
	if err != nil {
		t.Fatal(err)
	}
	h := NewHandler(sup, Info{PID: os.Getpid(), Version: "test"}, mutable)
	if !mutable {
		h = NewPublicHandler(sup, Info{})
		h.mutable = false
	}
	srv := NewServer(h)
	go srv.Serve(ln)
	t.Cleanup(func() {
		srv.Close()
		cancel()
		<-done
		if err := sup.Close(); err != nil {
			t.Error(err)
		}
	})
	<-sup.Started()
	return sock, sup
}

func TestListenControl_ModeStaleAndBusy(t *testing.T) {
	sock, _ := startAPI(t, true)
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("control socket mode %o, want 600", fi.Mode().Perm())
	}
	// A second thorp on the same socket is refused, naming the first.
	if _, err := ListenControl(sock); err == nil || !strings.Contains(err.Error(), "already running") {
		t.Fatalf("second listen: %v", err)
	}
	// A regular file at the path is refused and stays as it was.
	dir := t.TempDir()
	precious := filepath.Join(dir, "precious.txt")
	if err := os.WriteFile(precious, []byte("keep me"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := ListenControl(precious); err == nil || !strings.Contains(err.Error(), "is a regular file, not a socket") {
		t.Fatalf("listen on a regular file: %v", err)
	}
	if b, err := os.ReadFile(precious); err != nil || string(b) != "keep me" {
		t.Fatalf("regular file changed: %q, %v", b, err)
	}
	// A stale socket file (nobody listening) is replaced.
	stale := filepath.Join(dir, "stale.sock")
	// Bound, never listened on: a listener closed instead could live on
	// for an instant in a child the supervisor forks meanwhile.
	fd, err := syscall.Socket(syscall.AF_UNIX, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Bind(fd, &syscall.SockaddrUnix{Name: stale}); err != nil {
		t.Fatal(err)
	}
	syscall.Close(fd)
	ln, err := ListenControl(stale)
	if err != nil {
		t.Fatalf("stale socket not replaced: %v", err)
	}
	// Close removes only the socket it created: a file put in its place
	// meanwhile stays.
	if err := os.Remove(stale); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(stale, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	ln.Close()
	if b, err := os.ReadFile(stale); err != nil || string(b) != "new" {
		t.Fatalf("close removed a file it did not create: %q, %v", b, err)
	}
}

func TestClient_ActionsAndErrors(t *testing.T) {
	sock, _ := startAPI(t, true)
	c := NewClient(sock)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	deadline := time.Now().Add(10 * time.Second)
	for {
		comps, err := c.Components(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if comps[0].State == engine.StateRunning {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("never running")
		}
		time.Sleep(10 * time.Millisecond)
	}
	d, err := c.Describe(ctx, "svc")
	if err != nil || d.Config["env"].(map[string]any)["SECRET"] != "hunter2" {
		t.Fatalf("describe over the unix socket: %v %v", err, d.Config["env"])
	}
	if _, err := c.Act(ctx, "restart", []string{"svc"}, true); err != nil {
		t.Fatal(err)
	}
	var apiErr *APIError
	if _, err := c.Act(ctx, "restart", []string{"nope"}, true); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("unknown component: %v", err)
	}
	if _, err := c.Act(ctx, "explode", []string{"svc"}, true); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Fatalf("unknown action: %v", err)
	}
	if _, err := c.Signal(ctx, "NOPE", []string{"svc"}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusBadRequest {
		t.Fatalf("bad signal: %v", err)
	}
	evs, err := c.Events(ctx, 0, "svc", "")
	if err != nil || len(evs) == 0 {
		t.Fatalf("events: %v %d", err, len(evs))
	}
	if _, err := NewClient(filepath.Join(t.TempDir(), "none.sock")).Components(ctx); !errors.Is(err, ErrNotRunning) {
		t.Fatalf("no thorp: %v", err)
	}
}

func TestPublicHandler_HidesEnvAndRefusesWrites(t *testing.T) {
	sock, _ := startAPI(t, false)
	c := NewClient(sock)
	ctx := context.Background()
	d, err := c.Describe(ctx, "svc")
	if err != nil {
		t.Fatal(err)
	}
	if v := d.Config["env"].(map[string]any)["SECRET"]; v != "(hidden)" {
		t.Fatalf("env value exposed: %v", v)
	}
	if v := d.Config["env_production"].(map[string]any)["SECRET"]; v != "(hidden)" {
		t.Fatalf("env_production value exposed: %v", v)
	}
	var apiErr *APIError
	if _, err := c.Act(ctx, "stop", []string{"svc"}, true); !errors.As(err, &apiErr) || apiErr.Status != http.StatusForbidden {
		t.Fatalf("read-only handler allowed a stop: %v", err)
	}
}

// TestListenControl_RefusesOtherUsers widens the socket's mode by hand and
// connects as another user: the peer check must still refuse the request.
func TestListenControl_RefusesOtherUsers(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run a client as another user: skipped on a non-root developer machine; CI runs it as root")
	}
	sock, _ := startAPI(t, true)
	if err := os.Chmod(sock, 0o666); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(sock), 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(filepath.Dir(sock)); d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755) // let nobody reach the socket
	}
	// The client is this test binary, copied where user nobody may run it.
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(t.TempDir(), "client")
	b, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	for d := filepath.Dir(bin); d != "/"; d = filepath.Dir(d) {
		_ = os.Chmod(d, 0o755)
	}
	cmd := exec.Command(bin)
	cmd.Env = []string{dialEnv + "=" + sock}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	// The kernel accepts the connection; thorp closes it unanswered.
	if err != nil || strings.TrimSpace(string(out)) != "closed" {
		t.Fatalf("foreign user: want a closed connection, got %v: %s", err, out)
	}
	// The owner still is.
	if _, err := NewClient(sock).Components(context.Background()); err != nil {
		t.Fatalf("owner refused: %v", err)
	}
}

func TestClient_ResetAndScale(t *testing.T) {
	sock, _ := startAPI(t, true)
	c := NewClient(sock)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if _, err := c.Act(ctx, "restart", []string{"svc"}, true); err != nil {
		t.Fatal(err)
	}
	comps, err := c.Reset(ctx, []string{"svc"})
	if err != nil || len(comps) != 1 || comps[0].Restarts != 0 || comps[0].LastRestartReason != "" {
		t.Fatalf("reset: %v %+v", err, comps)
	}
	comps, err = c.Scale(ctx, "svc", 3, true)
	if err != nil || len(comps) != 1 || len(comps[0].Instances) != 3 || comps[0].Scale == nil ||
		comps[0].Scale.Instances != 3 || comps[0].Scale.ConfigInstances != 1 {
		t.Fatalf("scale 3: %v %+v", err, comps)
	}
	for _, inst := range comps[0].Instances {
		if inst.State != engine.StateRunning {
			t.Errorf("instance %d is %s when scale returned", inst.Index, inst.State)
		}
	}
	var apiErr *APIError
	for _, tt := range []struct {
		name   string
		n      int
		status int
		want   string
	}{
		{"svc", 0, http.StatusBadRequest, `query parameter "instances"`},
		{"svc", config.MaxInstances + 1, http.StatusBadRequest, "scale to 1 to 1024"},
		{"nope", 2, http.StatusNotFound, "unknown component"},
		{"all", 2, http.StatusBadRequest, "one component"},
	} {
		if _, err := c.Scale(ctx, tt.name, tt.n, true); !errors.As(err, &apiErr) || apiErr.Status != tt.status || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("scale %s %d: %v, want %d %q", tt.name, tt.n, err, tt.status, tt.want)
		}
	}
	if _, err := c.Reset(ctx, []string{"nope"}); !errors.As(err, &apiErr) || apiErr.Status != http.StatusNotFound {
		t.Errorf("reset nope: %v", err)
	}
}
