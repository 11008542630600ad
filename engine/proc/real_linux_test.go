package proc

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"slices"
	"syscall"
	"testing"
	"time"
)

// waitFor polls cond every 10ms until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

func scanReal(t *testing.T) *Table {
	t.Helper()
	tab, err := Scan("/proc")
	if err != nil {
		t.Fatalf("Scan(/proc): %v", err)
	}
	return tab
}

func TestScan_RealFindsSelf(t *testing.T) {
	tab := scanReal(t)
	s, ok := tab.Get(os.Getpid())
	if !ok {
		t.Fatalf("Scan(/proc) has no entry for the test process %d (%d processes)", os.Getpid(), tab.Len())
	}
	if s.PPID != os.Getppid() || s.PGID != syscall.Getpgrp() || s.StartTime == 0 || s.RSSPages <= 0 || s.Comm == "" {
		t.Errorf("Get(self) = %+v; want ppid %d, pgid %d", s, os.Getppid(), syscall.Getpgrp())
	}
	if _, ok := tab.Get(1); !ok {
		t.Error("Scan(/proc) has no pid 1")
	}
}

func TestReadStat_RealReapedProcessIsGone(t *testing.T) {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadStat("/proc", cmd.Process.Pid); !errors.Is(err, ErrGone) {
		t.Errorf("ReadStat(reaped pid) error = %v, want ErrGone", err)
	}
}

// startShTree runs sh -c script in a process group of its own and returns
// sh's pid; when t ends it kills the tree and waits for sh.
func startShTree(t *testing.T, script string) int {
	t.Helper()
	cmd := exec.Command("sh", "-c", script)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sh := cmd.Process.Pid
	waited := make(chan error, 1)
	go func() { waited <- cmd.Wait() }()
	t.Cleanup(func() {
		// Kill sh's children first so sh itself reaps them and exits: this
		// machine's pid 1 may not reap orphans, which would leave zombies.
		if tab, err := Scan("/proc"); err == nil {
			for _, id := range tab.Tree(sh, sh, nil) {
				if id.PID != sh && tab.Alive(id) {
					_ = syscall.Kill(id.PID, syscall.SIGKILL)
				}
			}
		}
		select {
		case <-waited:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-sh, syscall.SIGKILL)
			<-waited
		}
	})
	return sh
}

// TestTable_Tree_RealProcessGroup runs sh with two sleeps in its process group
// and a third that left it with setsid (a new session and group, still sh's
// child), and checks the tree finds all of them.
func TestTable_Tree_RealProcessGroup(t *testing.T) {
	sh := startShTree(t, "sleep 30 & sleep 30 & setsid sleep 30 & wait")
	pgid := sh

	var tab *Table
	var tree []Ident
	waitFor(t, "three sleeps under sh", func() bool {
		tab = scanReal(t)
		tree = tab.Tree(sh, pgid, nil)
		sleeps, outside := 0, 0
		for _, id := range tree {
			s, _ := tab.Get(id.PID)
			if s.Comm == "sleep" {
				sleeps++
				if s.PGID != pgid {
					outside++
				}
			}
		}
		return len(tree) == 4 && sleeps == 3 && outside == 1
	})

	for _, id := range tree {
		s, _ := tab.Get(id.PID)
		switch {
		case id.PID == sh:
			if s.PGID != pgid || s.Comm != "sh" && s.Comm != "dash" && s.Comm != "bash" {
				t.Errorf("main process = %+v", s)
			}
		case s.PGID == pgid:
			if s.PPID != sh {
				t.Errorf("group sleep %+v: ppid %d, want %d", s, s.PPID, sh)
			}
		default: // the setsid one: its own session and group, still sh's child
			if s.SID != s.PID || s.PGID != s.PID || s.PPID != sh {
				t.Errorf("setsid sleep = %+v, want sid = pgid = pid and ppid %d", s, sh)
			}
		}
	}

	// Were sh gone, the setsid sleep would be found only as an extra, by its
	// identity; a wrong start time (a reused pid) is not it.
	var left Ident
	for _, id := range tree {
		if s, _ := tab.Get(id.PID); s.PGID != pgid {
			left = id
		}
	}
	if got := tab.Tree(-1, 0, []Ident{left}); !slices.Equal(got, []Ident{left}) {
		t.Errorf("Tree(extra %v) = %v", left, got)
	}
	if got := tab.Tree(-1, 0, []Ident{{PID: left.PID, StartTime: left.StartTime + 1}}); got != nil {
		t.Errorf("Tree(extra with a wrong start time) = %v, want nil", got)
	}

	u := tab.Usage("/proc", tree, false)
	if u.Procs != 4 || u.RSS <= 0 || u.CPUSeconds < 0 {
		t.Errorf("Usage(rss) = %+v, want 4 processes and RSS > 0", u)
	}
	p := tab.Usage("/proc", tree, true)
	if p.PSS <= 0 || p.PSS > p.RSS {
		t.Errorf("Usage(pss) = %+v, want 0 < PSS <= RSS", p)
	}

	if !GroupAlive(pgid) {
		t.Error("GroupAlive() = false while the group runs")
	}
}

func TestGroupAlive_Real(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	reaped := false
	t.Cleanup(func() {
		if !reaped {
			_ = syscall.Kill(-pgid, syscall.SIGKILL)
			_ = cmd.Wait()
		}
	})
	if !GroupAlive(pgid) {
		t.Fatal("GroupAlive() = false for a running group")
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	// Dead but not reaped: a zombie still makes the group alive (documented).
	waitFor(t, "the sleep to become a zombie", func() bool {
		s, err := ReadStat("/proc", pgid)
		return err == nil && s.State == 'Z'
	})
	if !GroupAlive(pgid) {
		t.Error("GroupAlive() = false with an unreaped zombie, want true")
	}
	_ = cmd.Wait()
	reaped = true
	if GroupAlive(pgid) {
		t.Error("GroupAlive() = true after kill and reap")
	}
}

func TestGroupAlive_SpecialIDs(t *testing.T) {
	for _, pgid := range []int{-5, 0, 1} {
		if GroupAlive(pgid) {
			t.Errorf("GroupAlive(%d) = true, want false", pgid)
		}
	}
}

// TestClockTicks_MatchesAuxv checks ClockTicks against AT_CLKTCK, the value
// sysconf(_SC_CLK_TCK) returns.
func TestClockTicks_MatchesAuxv(t *testing.T) {
	b, err := os.ReadFile("/proc/self/auxv")
	if err != nil {
		t.Skip("no auxv:", err)
	}
	const atClkTck = 17
	for ; len(b) >= 16; b = b[16:] {
		if binary.NativeEndian.Uint64(b) == atClkTck {
			if got := binary.NativeEndian.Uint64(b[8:]); got != ClockTicks {
				t.Errorf("AT_CLKTCK = %d, ClockTicks = %d", got, ClockTicks)
			}
			return
		}
	}
	t.Skip("no AT_CLKTCK in auxv")
}

func TestPageSize(t *testing.T) {
	if PageSize() != int64(os.Getpagesize()) || PageSize() <= 0 {
		t.Errorf("PageSize() = %d", PageSize())
	}
}
