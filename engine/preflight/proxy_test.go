package preflight

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

// proxied gives the test config's component a proxy on listen.
func proxied(cfg *config.Config, listen string) {
	p := config.DefaultProxy()
	p.Listen = listen
	cfg.Components[0].Proxy = &p
}

// secondComponent appends a copy of the test config's component named name
// at line 9.
func secondComponent(cfg *config.Config, name string) *config.Component {
	c := cfg.Components[0]
	c.Name, c.Line, c.Proxy, c.Sockets = name, 9, nil, nil
	cfg.Components = append(cfg.Components, c)
	return &cfg.Components[1]
}

func TestCheck_ProxyListen(t *testing.T) {
	fakeFreeSpace(t, 1<<40)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().String()
	_, busyPort, _ := net.SplitHostPort(busy)
	free := freeAddr(t)

	for _, tc := range []struct {
		name  string
		setup func(cfg *config.Config)
		held  func(string) bool
		want  []string
	}{
		{"free", func(cfg *config.Config) { proxied(cfg, "tcp://"+free) }, nil, nil},
		{"busy", func(cfg *config.Config) { proxied(cfg, "tcp://"+busy) }, nil, []string{
			`thorp.lua:5: component "api": proxy.listen: port ` + busyPort + ` is busy: ` + busy + ` is already in use by another program`,
		}},
		{"held by the running thorp of this config", func(cfg *config.Config) { proxied(cfg, "tcp://"+busy) },
			func(a string) bool { return a == busy }, nil},
		{"settings.http on it", func(cfg *config.Config) {
			cfg.Settings.HTTP = free
			proxied(cfg, "tcp://"+free)
		}, nil, []string{
			`thorp.lua:5: component "api": proxy.listen: ` + free + ` is also used by settings.http`,
		}},
		{"two components proxy it", func(cfg *config.Config) {
			proxied(cfg, "tcp://"+free)
			p := *cfg.Components[0].Proxy
			secondComponent(cfg, "web").Proxy = &p
		}, nil, []string{
			`thorp.lua:9: component "web": proxy.listen: ` + free + ` is also used by component "api" proxy`,
		}},
		{"another component's socket on it", func(cfg *config.Config) {
			proxied(cfg, "tcp://"+free)
			secondComponent(cfg, "web").Sockets = map[string]string{"http": "tcp://" + free}
		}, nil, []string{
			`thorp.lua:9: component "web": sockets.http: ` + free + ` is also used by component "api" proxy`,
		}},
		{"two components proxy one unix path", func(cfg *config.Config) {
			path := filepath.Join(cfg.Dir, "api.sock")
			proxied(cfg, "unix://"+path)
			p := *cfg.Components[0].Proxy
			secondComponent(cfg, "web").Proxy = &p
		}, nil, []string{
			`thorp.lua:9: component "web": proxy.listen: unix://$DIR/api.sock is also used by component "api" proxy`,
		}},
		{"unix path holds a file", func(cfg *config.Config) {
			path := filepath.Join(cfg.Dir, "api.sock")
			if err := os.WriteFile(path, nil, 0o644); err != nil {
				t.Fatal(err)
			}
			proxied(cfg, "unix://"+path)
		}, nil, []string{
			`thorp.lua:5: component "api": proxy.listen: $DIR/api.sock is a regular file, not a socket; thorp removes only a stale socket it can bind again (move it away or choose another path)`,
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t)
			tc.setup(cfg)
			var want []string
			for _, w := range tc.want {
				want = append(want, strings.ReplaceAll(w, "$DIR", cfg.Dir))
			}
			wantProblems(t, check(t, cfg, Options{HeldBySelf: tc.held}), want...)
		})
	}
}

// freeAddr returns a loopback host:port nothing listens on now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

// unprivilegedEnv marks the copy of the test binary that
// TestCheck_PrivilegedPort runs as nobody.
const unprivilegedEnv = "THORP_PREFLIGHT_TEST_UNPRIVILEGED"

// TestCheck_PrivilegedPort checks a proxy on port 81 as a user without
// CAP_NET_BIND_SERVICE: run as root, it runs itself again as nobody.
func TestCheck_PrivilegedPort(t *testing.T) {
	if os.Getenv(unprivilegedEnv) == "" && os.Geteuid() == 0 {
		runUnprivileged(t, "TestCheck_PrivilegedPort")
		return
	}
	if ln, err := net.Listen("tcp", "127.0.0.1:81"); err == nil {
		ln.Close()
		t.Skip("this user may bind ports below 1024 (CAP_NET_BIND_SERVICE or net.ipv4.ip_unprivileged_port_start)")
	}
	fakeFreeSpace(t, 1<<40)
	cfg := testConfig(t)
	proxied(cfg, "tcp://127.0.0.1:81")
	wantProblems(t, check(t, cfg, Options{}),
		`thorp.lua:5: component "api": proxy.listen: port 81 is privileged (below 1024) and this thorp may not bind it: run thorp as root or with CAP_NET_BIND_SERVICE (setcap cap_net_bind_service=+ep on the thorp binary), or use a port of 1024 or more`)
}

// runUnprivileged runs test in a copy of this test binary as nobody
// (uid and gid 65534) and fails t when it fails, skips t when it skips.
func runUnprivileged(t *testing.T, test string) {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	bin, err := os.ReadFile(self)
	if err != nil {
		t.Fatal(err)
	}
	dir, err := os.MkdirTemp("", "thorp-preflight-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	exe := filepath.Join(dir, "preflight.test")
	if err := os.WriteFile(exe, bin, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	// nobody's temporary directory: the host's may not be writable to all.
	tmp := filepath.Join(dir, "tmp")
	if err := os.Mkdir(tmp, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(tmp, 65534, 65534); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, exe, "-test.run=^"+test+"$", "-test.v")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), unprivilegedEnv+"=1", "TMPDIR="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	out, err := cmd.CombinedOutput()
	switch {
	case err != nil:
		t.Fatalf("%s as nobody: %v\n%s", test, err, out)
	case strings.Contains(string(out), "--- SKIP"):
		t.Skipf("as nobody:\n%s", out)
	case !strings.Contains(string(out), "--- PASS"):
		t.Fatalf("%s as nobody did not run:\n%s", test, out)
	}
}
