package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// line is line i of `workload lines`.
func line(i int) string { return fmt.Sprintf("%09d %s\n", i, strings.Repeat("x", 89)) }

func TestMissingLines_CountsMissingDamagedAndDuplicated(t *testing.T) {
	dir := t.TempDir()
	var a, b strings.Builder
	for i := range 5 {
		a.WriteString(line(i))
	}
	a.WriteString(line(2))                                       // a duplicate counts once
	b.WriteString(line(5)[:50] + "\n")                           // damaged: cut short
	b.WriteString("000000006 " + strings.Repeat("y", 89) + "\n") // damaged: wrong filler
	b.WriteString(line(7))
	b.WriteString(line(9)[:99]) // no newline at the end: still whole
	if err := os.WriteFile(filepath.Join(dir, "w-out.log"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "w-out.log.1"), []byte(a.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := missingLines(filepath.Join(dir, "w-out*"), 10, 100)
	if err != nil {
		t.Fatal(err)
	}
	if got != 3 { // 5, 6 and 8
		t.Errorf("missingLines = %d, want 3 (5 and 6 damaged, 8 absent)", got)
	}
	if !endsWithAny(filepath.Join(dir, "w-out*"), []byte(line(2))) {
		t.Error("endsWithAny did not find line 2 (the duplicate) ending w-out.log.1")
	}
	if endsWithAny(filepath.Join(dir, "w-out*"), []byte(line(9))) {
		t.Error("endsWithAny found line 9 whole, but it lacks its newline")
	}
}

func TestRow_Ratio(t *testing.T) {
	r := row{prec: 1}
	r.set(0, 2)
	r.set(1, 8)
	r.set(2, 0)
	if got := r.ratio(1); got != "0.25" {
		t.Errorf("ratio(1) = %q, want 0.25", got)
	}
	if got := r.ratio(2); got != "∞" {
		t.Errorf("ratio(2) = %q, want ∞", got)
	}
	r.set(0, 0)
	if got := r.ratio(2); got != "= (both 0)" {
		t.Errorf("ratio(2) both 0 = %q", got)
	}
	r.notes[2] = "n/a"
	r.has[2] = false
	if got, cell := r.ratio(2), r.cell(2); got != "—" || cell != "n/a" {
		t.Errorf("without a value: ratio %q cell %q", got, cell)
	}
}

// TestKillTree_KillsWhatIgnoresTheStop: a supervisor-like process whose
// child ignores SIGTERM; killTree's stop does nothing, so after grace every
// process listed before it ran is SIGKILLed, the child too although it
// left the tree's root (re-parented when its parent died).
func TestKillTree_KillsWhatIgnoresTheStop(t *testing.T) {
	cmd := exec.Command("sh", "-c", `trap "" TERM; sh -c 'trap "" TERM; while :; do sleep 1; done' & wait`)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() { // on a failure before killTree ran: nothing left behind
		select {
		case <-exited: // reaped: its pid may be another's by now
		default:
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
	})
	root := procOf(cmd.Process.Pid)
	var kids []procInfo
	if err := waitUntil(t.Context(), 10*time.Second, "the child shell", func() bool {
		kids = descendants(root.pid)
		return len(kids) > 0
	}); err != nil {
		t.Fatal(err)
	}
	stopped := false
	start := time.Now()
	killTree(300*time.Millisecond, func() { stopped = true }, root)
	if !stopped {
		t.Error("killTree did not run stop")
	}
	if waited := time.Since(start); waited < 300*time.Millisecond {
		t.Errorf("killTree killed after %s, before its grace", waited)
	}
	select {
	case <-exited:
	case <-time.After(10 * time.Second):
		t.Fatal("the root still runs 10 s after killTree")
	}
	if err := waitUntil(t.Context(), 10*time.Second, "the children to die", func() bool { return !anyAlive(kids) }); err != nil {
		t.Fatal(err)
	}
}
