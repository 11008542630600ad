package rotate

import (
	"fmt"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"
)

// heldGzipper returns the gzipper t keeps between turns (nil: none).
func heldGzipper(t *gzipTurn) *gzipper {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.gz
}

// TestGzipTurn_KeepsGzipperWhileBackupsWait checks that compressions
// following one another reuse one gzipper whatever the collections in
// between (a flood of log lines causes many), and that it is let go once
// no backup waits.
func TestGzipTurn_KeepsGzipperWhileBackupsWait(t *testing.T) {
	var turn gzipTurn
	first := turn.take()
	turn.give(true) // the caller has another backup
	runtime.GC()
	runtime.GC()
	runtime.GC()
	if gz := turn.take(); gz != first {
		t.Fatal("a new gzipper after collections while backups waited")
	}
	// Another goroutine waits for the turn: ending this one with nothing
	// more to do keeps the gzipper for it.
	got := make(chan *gzipper)
	go func() { // owner: this test, which receives from got
		gz := turn.take()
		turn.give(false)
		got <- gz
	}()
	waitFor(t, 10*time.Second, "a second compression waiting", func() bool { return turn.waiting.Load() == 1 })
	turn.give(false)
	if gz := <-got; gz != first {
		t.Error("the waiting compression got a new gzipper")
	}
	if heldGzipper(&turn) != nil {
		t.Error("a gzipper kept with no backup waiting")
	}
}

// TestFile_CompressedRotationsLeaveNoGzipper rotates a compressed log a
// few times: once every backup is compressed, thorp holds no gzipper.
func TestFile_CompressedRotationsLeaveNoGzipper(t *testing.T) {
	path := filepath.Join(t.TempDir(), "z.log")
	f := openT(t, path, Options{Compress: true})
	for i := range 4 {
		fmt.Fprintf(f, "%s %d\n", strings.Repeat("x", 100<<10), i)
		if err := f.Rotate(); err != nil {
			t.Fatal(err)
		}
	}
	if backups := waitCompressed(t, path); len(backups) != 4 {
		t.Fatalf("backups %v, want 4", backups)
	}
	f.Close() // waits for the compression under way
	if heldGzipper(&gzipTurns) != nil {
		t.Error("a gzipper kept after every backup was compressed")
	}
}
