package daemon

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func TestTakeLock_OneHolder(t *testing.T) {
	control := filepath.Join(t.TempDir(), ".thorp", "thorp.sock")
	if _, held := LockHolder(control); held {
		t.Fatal("held before anyone took it")
	}
	l, err := TakeLock(control)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(LockPath(control))
	if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(os.Getpid()) {
		t.Fatalf("lock file: %q, %v", b, err)
	}
	// flock locks belong to the open file: a second open in this process
	// conflicts as a second thorp would.
	_, err = TakeLock(control)
	var le *LockedError
	if !errors.As(err, &le) || le.PID != os.Getpid() || !strings.Contains(err.Error(), "pid "+strconv.Itoa(os.Getpid())) {
		t.Fatalf("second TakeLock: %v", err)
	}
	if pid, held := LockHolder(control); !held || pid != os.Getpid() {
		t.Fatalf("LockHolder = %d, %v", pid, held)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l2, err := TakeLock(control)
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	l2.Close()
}

func TestTakeLock_RefusesSymlink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "precious")
	if err := os.WriteFile(target, []byte("keep"), 0o600); err != nil {
		t.Fatal(err)
	}
	control := filepath.Join(dir, "thorp.sock")
	if err := os.Symlink(target, LockPath(control)); err != nil {
		t.Fatal(err)
	}
	if _, err := TakeLock(control); err == nil {
		t.Fatal("TakeLock through a symlink succeeded")
	}
	if b, _ := os.ReadFile(target); string(b) != "keep" {
		t.Fatalf("target changed: %q", b)
	}
}
