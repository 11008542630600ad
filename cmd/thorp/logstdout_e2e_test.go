package main

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestRun_LogsStdoutStuckPipe: with settings.logs.stdout and thorp's
// stdout a pipe nobody reads, a component writing 200,000 lines is not
// slowed: every line reaches its log file, the lines the pipe could not
// take are counted in /metrics, and SIGTERM still stops thorp promptly
// (exit 0).
func TestRun_LogsStdoutStuckPipe(t *testing.T) {
	port := freeTCPPort(t)
	const lines = 200000
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "127.0.0.1:%d", logs = { stdout = true, timestamps = false } }
component "chatty" { command = "seq 1 %d; echo done > done; exec sleep 100000" }
`, port, lines))
	dir := filepath.Dir(cfg)
	stuckR, stuckW, err := os.Pipe() // nobody reads stuckR
	if err != nil {
		t.Fatal(err)
	}
	defer stuckR.Close()
	cmd := exec.Command(thorpBin, "run", "-c", cfg)
	var errb syncBuffer
	cmd.Stdout, cmd.Stderr = stuckW, &errb
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stuckW.Close()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		done <- nil
	})
	waitFor(t, 60*time.Second, "the component wrote all its lines", func() bool {
		_, err := os.Stat(filepath.Join(dir, "done"))
		return err == nil
	})
	want := []byte(strconv.Itoa(lines) + "\n")
	waitFor(t, 30*time.Second, "every line in the log file", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "logs", "chatty-out.log"))
		return bytes.Count(b, []byte("\n")) == lines && bytes.HasSuffix(b, want)
	})
	m := regexp.MustCompile(`thorp_log_stdout_dropped_lines_total\{stream="stdout"\} (\d+)`).FindStringSubmatch(metricsText(t, port))
	if m == nil {
		t.Fatal("no thorp_log_stdout_dropped_lines_total{stream=\"stdout\"} in /metrics")
	}
	if n, _ := strconv.Atoi(m[1]); n == 0 || n >= lines {
		t.Fatalf("%d lines dropped on the stuck stdout, want some (the pipe holds 64 KiB, the buffer 1 MiB) but not all", n)
	}
	began := time.Now()
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if code := cmd.ProcessState.ExitCode(); code != exitOK {
			t.Fatalf("exit code %d, want 0:\n%s", code, errb.String())
		}
	case <-time.After(20 * time.Second):
		t.Fatalf("thorp did not exit within 20s of SIGTERM with its stdout stuck:\n%s", errb.String())
	}
	t.Logf("SIGTERM to exit with a stuck stdout: %s", time.Since(began).Round(time.Millisecond))
}

// TestRun_LogsStdoutClosedPipe: with logs.stdout, a stdout and stderr
// whose reader has gone (every write fails with EPIPE) cost the copies and
// nothing else: thorp keeps supervising, every line reaches the log file,
// and SIGTERM exits 0.
func TestRun_LogsStdoutClosedPipe(t *testing.T) {
	port := freeTCPPort(t)
	cfg := writeConfig(t, fmt.Sprintf(`
settings { http = "127.0.0.1:%d", logs = { stdout = true, timestamps = false } }
component "chatty" { command = "while [ ! -e go ]; do sleep 0.01; done; seq 1 1000; echo done > done; exec sleep 100000" }
`, port))
	dir := filepath.Dir(cfg)
	goneR, goneW, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(thorpBin, "run", "-c", cfg)
	cmd.Stdout, cmd.Stderr = goneW, goneW // both streams' reader gone
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	goneW.Close()
	goneR.Close() // the reader is gone before the component writes
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		done <- nil
	})
	waitFor(t, 30*time.Second, "thorp serving /metrics", func() bool {
		res, err := http.Get(fmt.Sprintf("http://127.0.0.1:%d/metrics", port))
		if err != nil {
			return false
		}
		res.Body.Close()
		return res.StatusCode == http.StatusOK
	})
	if err := os.WriteFile(filepath.Join(dir, "go"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 30*time.Second, "every line in the log file", func() bool {
		b, _ := os.ReadFile(filepath.Join(dir, "logs", "chatty-out.log"))
		return bytes.Count(b, []byte("\n")) == 1000 && bytes.HasSuffix(b, []byte("1000\n"))
	})
	select {
	case err := <-done:
		t.Fatalf("thorp exited (%v) after its stdout's reader went away", err)
	default:
	}
	if st := status(t, cfg); len(st.Components) != 1 || st.Components[0].State != "running" {
		t.Fatalf("status after the stdout's reader went away: %+v", st)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err
		if code := cmd.ProcessState.ExitCode(); code != exitOK {
			t.Fatalf("exit code %d, want 0", code)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("thorp did not exit within 20s of SIGTERM")
	}
}
