package rotate

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// warnings collects Warn calls.
type warnings struct {
	mu   sync.Mutex
	msgs []string
}

func (w *warnings) Warn(msg string) {
	w.mu.Lock()
	w.msgs = append(w.msgs, msg)
	w.mu.Unlock()
}

func (w *warnings) Len() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.msgs)
}

func TestFile_Write_RemovedDirRecreated(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "logs")
	path := filepath.Join(dir, "api-out.log")
	f := openT(t, path, Options{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { // a component that keeps logging
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			default:
			}
			fmt.Fprintf(f, "line %d\n", i)
			time.Sleep(5 * time.Millisecond)
		}
	}()
	waitFor(t, 5*time.Second, "first lines", func() bool { return f.Stats().Lines > 5 })
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	removedAt := f.Stats().Lines
	waitFor(t, 10*time.Second, "a recreated file with later lines", func() bool {
		b, err := os.ReadFile(path)
		return err == nil && strings.Count(string(b), "\n") >= 3
	})
	close(stop)
	wg.Wait()
	b := readLog(t, path)
	var first int
	fmt.Sscanf(string(b), "line %d", &first)
	if int64(first) < removedAt {
		t.Errorf("recreated file starts at line %d, removed after %d", first, removedAt)
	}
}

// mountTmpfs mounts a small tmpfs on dir. It skips only on a developer's
// machine where the tests do not run as root; as root (CI), a mount that
// fails fails the test.
func mountTmpfs(t *testing.T, dir string, size string) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to mount a small tmpfs: skipped on a non-root developer machine; CI runs it as root")
	}
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size="+size, "tmpfs", dir).CombinedOutput(); err != nil {
		t.Fatalf("mount a tmpfs as root: %v: %s", err, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", dir).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dir, err, out)
		}
	})
}

func TestFile_Write_DiskFullDropsAndResumes(t *testing.T) {
	dir := t.TempDir()
	mountTmpfs(t, dir, "64k")
	path := filepath.Join(dir, "api-out.log")
	var w warnings
	clk := &fakeClock{}
	now := time.Now()
	clk.Set(now)
	f := openT(t, path, Options{Clock: clk.Now, Warn: w.Warn})
	line := []byte(strings.Repeat("x", 99) + "\n")
	for range 2000 { // 200 KB into 64 KB
		f.Write(line)
	}
	s := f.Stats()
	if s.DroppedBytes == 0 || s.WriteErrors == 0 {
		t.Fatalf("no drops on a full disk: %+v", s)
	}
	if s.Bytes+s.DroppedBytes != 2000*100 {
		t.Errorf("written %d + dropped %d != %d", s.Bytes, s.DroppedBytes, 2000*100)
	}
	if w.Len() != 1 {
		t.Errorf("%d warnings, want 1: %q", w.Len(), w.msgs)
	}
	b := readLog(t, path)
	if len(b)%100 != 0 || int64(len(b)) != s.Bytes {
		t.Errorf("file has %d bytes (stats %d): a partial line was left", len(b), s.Bytes)
	}
	// Still full a second later: one more failed try, no new warning.
	clk.Set(now.Add(2 * time.Second))
	f.Write(line)
	if w.Len() != 1 {
		t.Errorf("warned again within a minute: %q", w.msgs)
	}
	// Free space (thorp flush); writing resumes after the retry interval.
	if err := os.Truncate(path, 0); err != nil {
		t.Fatal(err)
	}
	clk.Set(now.Add(4 * time.Second))
	f.Write([]byte("back\n"))
	if got := string(readLog(t, path)); got != "back\n" {
		t.Errorf("after freeing space the file has %q", got)
	}
	clk.Set(now.Add(2 * time.Minute))
	f.Write([]byte("more\n"))
	if got := string(readLog(t, path)); got != "back\nmore\n" {
		t.Errorf("file %q", got)
	}
}

func TestFile_Write_ReadOnlyFSResumes(t *testing.T) {
	dir := t.TempDir()
	mountTmpfs(t, dir, "1m")
	path := filepath.Join(dir, "ro.log")
	clk := &fakeClock{}
	now := time.Now()
	clk.Set(now)
	f := openT(t, path, Options{Clock: clk.Now})
	io.WriteString(f, "one\n")
	f.mu.Lock()
	f.closeLocked() // a file open for writing keeps the remount busy
	f.mu.Unlock()
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT|syscall.MS_RDONLY, ""); err != nil {
		t.Fatalf("remount read-only as root: %v", err)
	}
	io.WriteString(f, "two\n")
	if f.Stats().DroppedBytes == 0 {
		t.Errorf("nothing dropped on a read-only fs: %+v", f.Stats())
	}
	if err := syscall.Mount("", dir, "", syscall.MS_REMOUNT, ""); err != nil {
		t.Fatal(err)
	}
	clk.Set(now.Add(2 * time.Second))
	io.WriteString(f, "three\n")
	lines, _ := allLines(t, path)
	if got := strings.Join(lines, ","); !strings.HasSuffix(got, "three") || !strings.HasPrefix(got, "one") {
		t.Errorf("lines %q", lines)
	}
}
