package simulate

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLeak_GrowsRSS(t *testing.T) {
	const rate = 50 << 20
	c := startChild(t, "leak", LeakOptions{Rate: rate, Max: 200 << 20, StatusEvery: 100 * time.Millisecond}, nil)
	c.waitLine(t, "rss=", 10*time.Second)
	c.drain()
	pid := c.cmd.Process.Pid
	rss0, err := processRSS(pid)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var rss int64
	for range tick.C {
		if rss, err = processRSS(pid); err != nil {
			t.Fatal(err)
		}
		if time.Since(start) >= time.Second {
			break
		}
	}
	elapsed := time.Since(start)
	want := int64(float64(rate)*elapsed.Seconds()) / 2
	if grew := rss - rss0; grew < want {
		t.Fatalf("RSS grew %d MiB in %s, want at least %d MiB", grew>>20, elapsed, want>>20)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if ws := c.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
		t.Fatalf("exit status %v, want 0", ws)
	}
}

func TestLeak_StopsAtMaxAndServesHealth(t *testing.T) {
	const max = 8 << 20
	c := startChild(t, "leak", LeakOptions{Rate: 100 << 20, Max: max, Addr: "127.0.0.1:0"}, nil)
	addr := strings.TrimPrefix(c.waitLine(t, "listening on ", 10*time.Second), "listening on ")
	c.waitLine(t, "reached max=8.0 MiB", 10*time.Second)
	c.drain()
	var h health
	if err := json.Unmarshal([]byte(get(t, "http://"+addr+"/health")), &h); err != nil {
		t.Fatal(err)
	}
	if h.AllocatedBytes != max || h.RSSBytes < max {
		t.Fatalf("health = %+v, want allocated_bytes %d and rss_bytes above it", h, max)
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if ws := c.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
		t.Fatalf("exit status %v, want 0", ws)
	}
}

func TestLeak_RejectsZeroRate(t *testing.T) {
	if err := Leak(context.Background(), LeakOptions{}, &bytes.Buffer{}); err == nil {
		t.Fatal("no error for rate 0")
	}
}

// TestHTTP_SIGTERMUnderLoad is the graceful-shutdown guarantee end to end: a
// real process, a real SIGTERM, fresh connections hammering it meanwhile.
func TestHTTP_SIGTERMUnderLoad(t *testing.T) {
	c := startChild(t, "http", HTTPOptions{Addr: "127.0.0.1:0"}, nil)
	addr := strings.TrimPrefix(c.waitLine(t, "listening on ", 10*time.Second), "listening on ")
	c.drain()
	var res hammerResult
	stop := make(chan struct{})
	defer close(stop)
	hammered := make(chan struct{})
	go func() {
		hammer(addr, 8, stop, &res)
		close(hammered)
	}()
	deadline := time.Now().Add(10 * time.Second)
	for res.ok.Load() < 200 && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond) // letting load build up, not a sync point
	}
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if ws := c.wait(t, 15*time.Second); ws.ExitStatus() != 0 {
		t.Fatalf("exit status %v, want 0", ws)
	}
	<-hammered
	if len(res.failures) > 0 {
		t.Fatalf("%d requests on accepted connections failed, e.g. %s (ok=%d)", len(res.failures), res.failures[0], res.ok.Load())
	}
	t.Logf("ok=%d refused=%d", res.ok.Load(), res.refused.Load())
}

func TestCrash_Exit(t *testing.T) {
	tests := []struct {
		name   string
		opts   CrashOptions
		code   int
		signal syscall.Signal
	}{
		{"code", CrashOptions{After: 50 * time.Millisecond, Code: 3}, 3, 0},
		{"zero code", CrashOptions{After: 0, Code: 0}, 0, 0},
		{"SIGSEGV", CrashOptions{After: 50 * time.Millisecond, Signal: syscall.SIGSEGV}, -1, syscall.SIGSEGV},
		{"SIGTERM", CrashOptions{Signal: syscall.SIGTERM}, -1, syscall.SIGTERM},
		{"SIGKILL", CrashOptions{Signal: syscall.SIGKILL}, -1, syscall.SIGKILL},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := startChild(t, "crash", tt.opts, nil)
			c.drain()
			ws := c.wait(t, 10*time.Second)
			if ws.ExitStatus() != tt.code {
				t.Errorf("exit status %d, want %d", ws.ExitStatus(), tt.code)
			}
			if tt.signal != 0 && (!ws.Signaled() || ws.Signal() != tt.signal) {
				t.Errorf("status %v, want killed by %s", ws, tt.signal)
			}
		})
	}
}

func TestCrash_StopsCleanlyOnSIGTERM(t *testing.T) {
	c := startChild(t, "crash", CrashOptions{After: time.Hour, Code: 1}, nil)
	c.waitLine(t, "crashing in", 10*time.Second)
	c.drain()
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	if ws := c.wait(t, 10*time.Second); ws.ExitStatus() != 0 {
		t.Fatalf("exit status %v, want 0", ws)
	}
}

func TestChatty_Lines(t *testing.T) {
	tests := []struct {
		name   string
		opts   ChattyOptions
		outSeq []int64 // expected seq numbers on stdout
		errSeq []int64
	}{
		{"stdout", ChattyOptions{Lines: 5}, []int64{1, 2, 3, 4, 5}, nil},
		{"split", ChattyOptions{Lines: 5, Stderr: true}, []int64{2, 4}, []int64{1, 3, 5}},
		{"rate", ChattyOptions{Lines: 3, Rate: 100}, []int64{1, 2, 3}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			if err := Chatty(context.Background(), tt.opts, &out, &errOut); err != nil {
				t.Fatal(err)
			}
			checkChatty(t, out.String(), tt.outSeq)
			checkChatty(t, errOut.String(), tt.errSeq)
		})
	}
}

func checkChatty(t *testing.T, s string, want []int64) {
	t.Helper()
	if len(s) != len(want)*ChattyLineSize {
		t.Fatalf("%d bytes, want %d lines of %d", len(s), len(want), ChattyLineSize)
	}
	for i, seq := range want {
		line := s[i*ChattyLineSize : (i+1)*ChattyLineSize]
		prefix := fmt.Sprintf("seq=%d ", seq)
		if !strings.HasPrefix(line, prefix) || !strings.HasSuffix(line, "\n") || strings.Count(line, "\n") != 1 {
			t.Fatalf("line %d = %q, want %q… of %d bytes", i, line, prefix, ChattyLineSize)
		}
	}
}

func TestChatty_ManyLines(t *testing.T) {
	var out bytes.Buffer
	const n = 100000
	if err := Chatty(context.Background(), ChattyOptions{Lines: n}, &out, nil); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != n {
		t.Fatalf("%d lines, want %d", len(lines), n)
	}
	for i, l := range lines {
		if !strings.HasPrefix(l, "seq="+strconv.Itoa(i+1)+" ") {
			t.Fatalf("line %d = %q", i, l)
		}
	}
}

func TestChatty_Rate(t *testing.T) {
	var out bytes.Buffer
	start := time.Now()
	if err := Chatty(context.Background(), ChattyOptions{Lines: 6, Rate: 50}, &out, nil); err != nil {
		t.Fatal(err)
	}
	// Line 6 is due 5/50 s after the first.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Fatalf("6 lines at 50/s took %s, want ≥ 100ms", d)
	}
}

func TestChatty_ForeverStopsOnCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := &cancelAfter{n: 5000, cancel: cancel}
	if err := Chatty(ctx, ChattyOptions{}, w, nil); err != nil {
		t.Fatal(err)
	}
	if w.lines < 5000 || w.buf.Len()%ChattyLineSize != 0 {
		t.Fatalf("wrote %d lines (%d bytes): want ≥ 5000 whole lines", w.lines, w.buf.Len())
	}
}

// cancelAfter cancels once n lines were written to it.
type cancelAfter struct {
	buf    bytes.Buffer
	lines  int
	n      int
	cancel func()
}

func (c *cancelAfter) Write(p []byte) (int, error) {
	c.lines += bytes.Count(p, []byte("\n"))
	if c.lines >= c.n {
		c.cancel()
	}
	return c.buf.Write(p)
}

func TestHang_SurvivesSIGTERM(t *testing.T) {
	c := startChild(t, "hang", HangOptions{Children: 2, Self: []string{os.Args[0], "-test.run=^$"}}, nil)
	line := c.waitLine(t, "pid=", 10*time.Second)
	c.drain()
	var pid int
	var children string
	if _, err := fmt.Sscanf(line, "pid=%d children=%s", &pid, &children); err != nil {
		t.Fatalf("parse %q: %v", line, err)
	}
	kids := strings.Split(children, ",")
	if pid != c.cmd.Process.Pid || len(kids) != 2 {
		t.Fatalf("line %q: want pid %d and 2 children", line, c.cmd.Process.Pid)
	}
	// Grandchildren print their own line once they ignore SIGTERM; wait until
	// each has set up by checking it reached the hang (its cmdline is ours and
	// its SigIgn has SIGTERM).
	for _, k := range kids {
		kpid, _ := strconv.Atoi(k)
		waitIgnoresSIGTERM(t, kpid)
	}
	waitIgnoresSIGTERM(t, pid)
	if err := syscall.Kill(-pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
		t.Fatal("hang exited on SIGTERM")
	case <-time.After(300 * time.Millisecond): // nothing to wait for: it must not happen
	}
	for _, k := range kids {
		kpid, _ := strconv.Atoi(k)
		if err := syscall.Kill(kpid, 0); err != nil {
			t.Fatalf("grandchild %d gone after SIGTERM: %v", kpid, err)
		}
	}
	if err := syscall.Kill(-pid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if ws := c.wait(t, 10*time.Second); !ws.Signaled() || ws.Signal() != syscall.SIGKILL {
		t.Fatalf("status %v, want killed by SIGKILL", ws)
	}
}

// waitIgnoresSIGTERM polls /proc/PID/status until SIGTERM is in SigIgn.
func waitIgnoresSIGTERM(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
		if err != nil {
			t.Fatal(err)
		}
		for l := range strings.Lines(string(b)) {
			if v, ok := strings.CutPrefix(l, "SigIgn:"); ok {
				mask, err := strconv.ParseUint(strings.TrimSpace(v), 16, 64)
				if err == nil && mask&(1<<(syscall.SIGTERM-1)) != 0 {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("process %d never ignored SIGTERM", pid)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHTTP_ReceivesPOSTs(t *testing.T) {
	c := startChild(t, "http", HTTPOptions{Addr: "127.0.0.1:0"}, nil)
	addr := strings.TrimPrefix(c.waitLine(t, "listening on ", 10*time.Second), "listening on ")
	resp, err := http.Post("http://"+addr+"/alerts", "application/json", strings.NewReader("{\"kind\": \"restarts\",\n \"component\": \"api\"}"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("POST answered %d", resp.StatusCode)
	}
	c.waitLine(t, `received POST /alerts: {"kind": "restarts", "component": "api"}`, 10*time.Second)
}
