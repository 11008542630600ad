package main

import (
	"bufio"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestSimulate_PortEnv runs `thorp simulate http --port-env` the way a
// proxied component does: the port comes from the environment, and the
// server answers there.
func TestSimulate_PortEnv(t *testing.T) {
	port := freeTCPPort(t)
	cmd := exec.Command(thorpBin, "simulate", "http", "--port-env", "APP_PORT")
	cmd.Env = append(os.Environ(), "APP_PORT="+strconv.Itoa(port))
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	first := make(chan string, 1)
	done := make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(out)
		if sc.Scan() {
			first <- sc.Text()
		}
		close(first)
		_, _ = io.Copy(io.Discard, out)
		done <- cmd.Wait()
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
	})
	select {
	case line := <-first:
		if want := fmt.Sprintf("listening on 127.0.0.1:%d", port); line != want {
			t.Fatalf("first line %q, want %q", line, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no output within 10s")
	}
	client := &http.Client{Timeout: 5 * time.Second}
	resp, err := client.Get(fmt.Sprintf("http://127.0.0.1:%d/", port))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "ok\n" {
		t.Fatalf("GET / = %q", body)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case err := <-done:
		done <- err // for the cleanup
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("still running 10s after SIGTERM")
	}
}

func TestSimulate_PortEnvMistakes(t *testing.T) {
	tests := []struct {
		args []string
		env  string
		want string
	}{
		{[]string{"http", "--port-env", "THORP_TEST_UNSET_PORT"}, "", "$THORP_TEST_UNSET_PORT is not set"},
		{[]string{"leak", "--port-env", "THORP_TEST_PORT"}, "THORP_TEST_PORT=http", `$THORP_TEST_PORT = "http" is not a port`},
		{[]string{"http", "--port-env", "THORP_TEST_PORT"}, "THORP_TEST_PORT=70000", "is not a port"},
		{[]string{"http", "--port-env", "THORP_TEST_PORT", "--port", "1"}, "THORP_TEST_PORT=80", "give one of --port, --addr and --port-env"},
		{[]string{"crash", "--port-env", "PORT"}, "", "--port-env does not apply to crash"},
	}
	for _, tt := range tests {
		cmd := exec.Command(thorpBin, append([]string{"simulate"}, tt.args...)...)
		cmd.Env = append(os.Environ(), tt.env)
		var errb strings.Builder
		cmd.Stderr = &errb
		err := cmd.Run()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != exitUsage || !strings.Contains(errb.String(), tt.want) {
			t.Errorf("thorp simulate %s (%s): %v, stderr %q; want exit %d and %q", strings.Join(tt.args, " "), tt.env, err, errb.String(), exitUsage, tt.want)
		}
	}
}
