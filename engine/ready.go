package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/sdnotify"
	"github.com/thorp-dev/thorp/engine/sockfile"
)

// probeEvery is how often a tcp, http or Lua readiness probe is tried.
const probeEvery = 100 * time.Millisecond

// portProbeEvery is how often a proxied process's $PORT is tried: a
// loopback connect is cheap, and a rolling restart waits for each one.
const portProbeEvery = 10 * time.Millisecond

// readiness is how one process shows it is ready: the probe a component's
// `ready` asks for, prepared before the process starts (a notify socket
// must exist before the process can be told about it).
type readiness struct {
	kind    string // "started", "tcp", "http", "log", "notify", "lua"
	target  string // address or URL
	re      *regexp.Regexp
	fn      config.Func
	notify  *sdnotify.Listener
	logSeen chan struct{} // closed when the log line matched (kind "log")
	seen    sync.Once     // stdout and stderr both watch for the line

	notified   chan struct{} // closed at the first READY=1 (kind "notify")
	notifyOnce sync.Once
	watchdog   time.Duration  // told to the process as WATCHDOG_USEC
	every      time.Duration  // between tries of a tcp, http or Lua probe; probeEvery when 0
	what       string         // how messages name the probe when `ready` does not ("" = it does)
	arg        map[string]any // what a ready function gets (kind "lua"); read-only
}

// newReadiness prepares the probe of cc for instance index. A proxied
// process (port is its $PORT) is ready, unless ready says otherwise, when
// its port accepts a connection.
func (s *Supervisor) newReadiness(cc *config.Component, index, port int) (*readiness, error) {
	r := &readiness{kind: "started"}
	switch {
	case cc.ReadyFunc != nil:
		r.kind, r.fn = "lua", cc.ReadyFunc
		r.arg = map[string]any{"component": cc.Name, "instance": index, "port": port}
	case port != 0 && (cc.Ready == "" || cc.Ready == "started"):
		r.kind, r.target, r.every = "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), portProbeEvery
		r.what = fmt.Sprintf("its $%s (%s)", cc.Proxy.PortEnv, r.target)
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
		// An overlap restart runs a second process of the instance while
		// the first still listens on its socket: that one takes the
		// other name (sockfile never takes over a live socket).
		var l *sdnotify.Listener
		var path string
		for _, suffix := range []string{".sock", "-b.sock"} {
			path = filepath.Join(dir, fmt.Sprintf("%s-%d%s", cc.Name, index, suffix))
			if l, err = sdnotify.Listen(path, 16); !errors.Is(err, sockfile.ErrLive) {
				break
			}
		}
		if err != nil {
			return nil, fmt.Errorf("notify socket %s: %w (a unix socket path must be under 108 bytes: move settings.control to a shorter path)", path, err)
		}
		r.notify, r.notified, r.watchdog = l, make(chan struct{}), cc.Watchdog
	}
	return r, nil
}

// readNotify reads the process's sd_notify messages until the socket
// closes (close): READY=1 ends a "notify" probe; onPing is called for each
// WATCHDOG=1. The caller runs it on a goroutine the process owns.
func (r *readiness) readNotify(onPing func()) {
	for m := range r.notify.Messages() {
		if m.Ready() {
			r.notifyOnce.Do(func() { close(r.notified) })
		}
		if m.Watchdog() {
			onPing()
		}
	}
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
// its lines as the log copier reads them (no goroutine of its own); other
// probes leave the stream alone.
func (r *readiness) watchOutput(rd io.Reader) io.Reader {
	if r.kind != "log" {
		return rd
	}
	return &lineMatcher{r: rd, re: r.re, onMatch: func() { r.seen.Do(func() { close(r.logSeen) }) }}
}

// maxProbeLine bounds the line a "log:" probe matches; longer lines pass
// through unmatched.
const maxProbeLine = 64 << 10

// lineMatcher passes a stream through unchanged and calls onMatch at the
// first line re matches (a trailing "\r" is not part of the line). It
// hides the stream's file descriptor, so readers go through Read.
type lineMatcher struct {
	r       io.Reader
	re      *regexp.Regexp
	onMatch func()
	line    []byte // the current line so far
	long    bool   // the current line is over maxProbeLine
	done    bool   // matched: pass the rest through
}

func (m *lineMatcher) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if !m.done {
		m.scan(p[:n])
		if err != nil && len(m.line) > 0 && !m.long {
			m.match() // the last line, without a newline
		}
	}
	return n, err
}

func (m *lineMatcher) scan(b []byte) {
	for len(b) > 0 && !m.done {
		i := bytes.IndexByte(b, '\n')
		part := b
		if i >= 0 {
			part = b[:i]
		}
		if !m.long {
			if len(m.line)+len(part) > maxProbeLine {
				m.long, m.line = true, m.line[:0]
			} else {
				m.line = append(m.line, part...)
			}
		}
		if i < 0 {
			return
		}
		if !m.long {
			m.match()
		}
		m.line, m.long = m.line[:0], false
		b = b[i+1:]
	}
}

func (m *lineMatcher) match() {
	if m.re.Match(bytes.TrimSuffix(m.line, []byte{'\r'})) {
		m.done, m.line = true, nil
		m.onMatch()
	}
}

// close releases what the probe holds (the notify socket). Safe twice.
func (r *readiness) close() {
	if r != nil && r.notify != nil {
		_ = r.notify.Close()
	}
}

// wait blocks until the process is ready or ctx ends; it returns nil when
// ready. tcp, http and Lua probes are tried every probeEvery of clk.
func (r *readiness) wait(ctx context.Context, clk Clock, luaTimeout time.Duration) error {
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
	every := r.every
	if every == 0 {
		every = probeEvery
	}
	t := clk.NewTimer(every)
	defer t.Stop()
	client := &http.Client{Timeout: time.Second}
	for {
		if r.try(ctx, client, luaTimeout) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C():
			t.Reset(every)
		}
	}
}

// try runs one tcp, http or Lua probe.
func (r *readiness) try(ctx context.Context, client *http.Client, luaTimeout time.Duration) bool {
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
		res, err := r.fn.Call(ctx, r.arg, luaTimeout)
		return err == nil && res == true
	}
	return false
}

// describe names the probe for messages.
func (r *readiness) describe(cc *config.Component) string {
	if r.fn != nil {
		return "the ready function at " + r.fn.Where()
	}
	if r.what != "" {
		return r.what
	}
	return fmt.Sprintf("ready = %q", cc.Ready)
}
