package engine

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/sdnotify"
)

// probeEvery is how often a tcp, http or Lua readiness probe is tried.
const probeEvery = 100 * time.Millisecond

// readiness is how one process shows it is ready: the probe a component's
// `ready` asks for, prepared before the process starts (a notify socket
// must exist before the process can be told about it).
type readiness struct {
	kind    string // "started", "tcp", "http", "log", "notify", "lua"
	target  string // address or URL
	re      *regexp.Regexp
	fn      *config.LuaFunc
	notify  *sdnotify.Listener
	logSeen chan struct{} // closed when the log line matched (kind "log")
	seen    sync.Once     // stdout and stderr both watch for the line

	notified   chan struct{} // closed at the first READY=1 (kind "notify")
	notifyOnce sync.Once
	watchdog   time.Duration // told to the process as WATCHDOG_USEC
}

// newReadiness prepares the probe of cc for instance index.
func (s *Supervisor) newReadiness(cc *config.Component, index int) (*readiness, error) {
	r := &readiness{kind: "started"}
	switch {
	case cc.ReadyFunc != nil:
		r.kind, r.fn = "lua", cc.ReadyFunc
	case cc.Ready == "" || cc.Ready == "started":
	case cc.Ready == "notify":
		r.kind = "notify"
	case strings.HasPrefix(cc.Ready, "tcp://"):
		r.kind, r.target = "tcp", strings.TrimPrefix(cc.Ready, "tcp://")
	case strings.HasPrefix(cc.Ready, "http://"), strings.HasPrefix(cc.Ready, "https://"):
		r.kind, r.target = "http", cc.Ready
	case strings.HasPrefix(cc.Ready, "log:"):
		re, err := regexp.Compile(strings.TrimPrefix(cc.Ready, "log:"))
		if err != nil {
			return nil, fmt.Errorf("ready: %w", err)
		}
		r.kind, r.re, r.logSeen = "log", re, make(chan struct{})
	default:
		return nil, fmt.Errorf("ready: %q is not a readiness probe", cc.Ready)
	}
	// ready = "notify" and watchdog both need a NOTIFY_SOCKET.
	if r.kind == "notify" || cc.Watchdog > 0 {
		// Next to the control socket: .thorp/notify/<name>-<instance>.sock
		dir, err := filepath.Abs(filepath.Join(filepath.Dir(s.Config().Settings.Control), "notify"))
		if err != nil {
			return nil, fmt.Errorf("notify socket directory: %w", err)
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, fmt.Errorf("notify socket directory: %w", err)
		}
		path := filepath.Join(dir, fmt.Sprintf("%s-%d.sock", cc.Name, index))
		l, err := sdnotify.Listen(path, 16)
		if err != nil {
			return nil, fmt.Errorf("notify socket %s: %w (a unix socket path must be under 108 bytes: move settings.control to a shorter path)", path, err)
		}
		r.notify, r.notified, r.watchdog = l, make(chan struct{}), cc.Watchdog
	}
	return r, nil
}

// listenNotify reads the process's sd_notify messages until the socket
// closes: READY=1 ends a "notify" probe; onPing is called (from this
// goroutine) for each WATCHDOG=1.
func (r *readiness) listenNotify(onPing func()) {
	if r.notify == nil {
		return
	}
	go func() {
		for m := range r.notify.Messages() {
			if m.Ready() {
				r.notifyOnce.Do(func() { close(r.notified) })
			}
			if m.Watchdog() {
				onPing()
			}
		}
	}()
}

// immediate reports whether the process is ready as soon as it runs.
func (r *readiness) immediate() bool { return r.kind == "started" }

// env is what the process must be told about its probe.
func (r *readiness) env() []string {
	var env []string
	if r.notify != nil {
		env = append(env, "NOTIFY_SOCKET="+r.notify.Path())
	}
	if r.watchdog > 0 {
		env = append(env, fmt.Sprintf("WATCHDOG_USEC=%d", r.watchdog.Microseconds()))
	}
	return env
}

// watchOutput wraps a stream of the process so that a "log:" probe sees
// its lines; other probes leave the stream alone.
func (r *readiness) watchOutput(rd io.Reader) io.Reader {
	if r.kind != "log" {
		return rd
	}
	pr, pw := io.Pipe()
	go func() {
		// Lines pass through unchanged; the first match is reported.
		sc := bufio.NewScanner(io.TeeReader(rd, pw))
		sc.Buffer(make([]byte, 0, 4096), 64<<10)
		matched := false
		for sc.Scan() {
			if !matched && r.re.Match(sc.Bytes()) {
				matched = true
				r.seen.Do(func() { close(r.logSeen) })
			}
		}
		// Drain what the scanner could not (an over-long line) and finish.
		_, err := io.Copy(pw, rd)
		pw.CloseWithError(err)
	}()
	return pr
}

// close releases what the probe holds (the notify socket). Safe twice.
func (r *readiness) close() {
	if r != nil && r.notify != nil {
		_ = r.notify.Close()
	}
}

// wait blocks until the process is ready, ctx ends, or the probe fails for
// good; it returns nil when ready.
func (r *readiness) wait(ctx context.Context, lua LuaCaller, luaTimeout time.Duration) error {
	switch r.kind {
	case "started":
		return nil
	case "log":
		select {
		case <-r.logSeen:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	case "notify":
		select {
		case <-r.notified:
			return nil
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	t := time.NewTicker(probeEvery)
	defer t.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		if r.try(ctx, client, lua, luaTimeout) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
		}
	}
}

// try runs one tcp, http or Lua probe.
func (r *readiness) try(ctx context.Context, client *http.Client, lua LuaCaller, luaTimeout time.Duration) bool {
	switch r.kind {
	case "tcp":
		d := net.Dialer{Timeout: time.Second}
		c, err := d.DialContext(ctx, "tcp", r.target)
		if err != nil {
			return false
		}
		c.Close()
		return true
	case "http":
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.target, nil)
		if err != nil {
			return false
		}
		resp, err := client.Do(req)
		if err != nil {
			return false
		}
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		resp.Body.Close()
		return resp.StatusCode < 400
	case "lua":
		if lua == nil {
			return true // no Lua runtime (embedding without plugins): ready when started
		}
		res, err := lua.Call(ctx, r.fn.ID, map[string]any{}, luaTimeout)
		return err == nil && res == true
	}
	return false
}

// describe names the probe for messages.
func (r *readiness) describe(cc *config.Component) string {
	if r.fn != nil {
		return "the ready function at " + r.fn.Where
	}
	return fmt.Sprintf("ready = %q", cc.Ready)
}
