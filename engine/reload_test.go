package engine

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
)

func TestSupervisor_ReloadAppliesOnlyTheDifference(t *testing.T) {
	keep := testComponent(t, "keep", "exec sleep 1000", nil)
	tune := testComponent(t, "tune", "exec sleep 1000", nil)
	change := testComponent(t, "change", "exec sleep 1000", nil)
	gone := testComponent(t, "gone", "exec sleep 1000", func(c *config.Component) { c.DependsOn = []string{"keep"} })
	s := startSupervisor(t, keep, tune, change, gone)
	waitEvents(t, s, 10*time.Second, "all running", func([]Event) bool { return allRunning(s) })
	before := map[string]int{}
	for _, st := range s.Status() {
		before[st.Name] = st.PID
	}

	tune2 := tune
	tune2.MaxMemoryRestart = 500 << 20
	tune2.RestartDelay = 3 * time.Second
	change2 := change
	change2.Env = map[string]string{"NEW": "1"}
	added := testComponent(t, "added", "exec sleep 1000", func(c *config.Component) { c.DependsOn = []string{"change"} })
	rep, err := s.Reload(context.Background(), testConfig(t, keep, tune2, change2, added))
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Added, []string{"added"}) || !slices.Equal(rep.Removed, []string{"gone"}) ||
		!slices.Equal(rep.Restarted, []string{"change"}) || !slices.Equal(rep.Updated, []string{"tune"}) ||
		!slices.Equal(rep.Unchanged, []string{"keep"}) {
		t.Fatalf("report %+v", rep)
	}
	waitEvents(t, s, 10*time.Second, "added running", func([]Event) bool { return allRunning(s) })
	after := map[string]Status{}
	var names []string
	for _, st := range s.Status() {
		after[st.Name] = st
		names = append(names, st.Name)
	}
	if !slices.Equal(names, []string{"keep", "tune", "change", "added"}) {
		t.Fatalf("components after reload: %v", names)
	}
	if after["keep"].PID != before["keep"] || after["tune"].PID != before["tune"] {
		t.Fatalf("unchanged/updated components were restarted: %v -> %+v", before, after)
	}
	if after["change"].PID == before["change"] || after["change"].RestartsByReason["config"] != 1 {
		t.Fatalf("changed component not restarted with reason config: %+v", after["change"])
	}
	if after["tune"].MemoryLimitBytes != 500<<20 {
		t.Fatalf("updated limit not applied in place: %d", after["tune"].MemoryLimitBytes)
	}
	if alive(before["gone"]) {
		t.Fatal("removed component still running")
	}
	if ok, _ := s.LastReload(); !ok {
		t.Fatal("LastReload not ok")
	}
}

func allRunning(s *Supervisor) bool {
	for _, st := range s.Status() {
		if st.State != StateRunning {
			return false
		}
	}
	return true
}

func TestSupervisor_ReloadChangesInstances(t *testing.T) {
	pool := testComponent(t, "pool", "exec sleep 1000", func(c *config.Component) { c.Instances = 3 })
	s := startSupervisor(t, pool)
	waitEvents(t, s, 10*time.Second, "three running", func([]Event) bool {
		n := 0
		for _, in := range s.Status()[0].Instances {
			if in.State == StateRunning {
				n++
			}
		}
		return n == 3
	})
	pids := map[int]bool{}
	for _, in := range s.Status()[0].Instances {
		pids[in.PID] = true
	}
	if len(pids) != 3 {
		t.Fatalf("instances share a pid: %+v", s.Status()[0].Instances)
	}
	one := pool
	one.Instances = 1
	if _, err := s.Reload(context.Background(), testConfig(t, one)); err != nil {
		t.Fatal(err)
	}
	waitEvents(t, s, 10*time.Second, "one instance left", func([]Event) bool {
		st := s.Status()[0]
		return st.State == StateRunning && len(st.Instances) == 1
	})
	for p := range pids {
		if alive(p) && p != s.Status()[0].PID {
			t.Fatalf("instance pid %d survived the shrink", p)
		}
	}
}

// TestSupervisor_FailedReloadChangesNothing: a reload whose last step that
// can fail (a log file that cannot be opened) fails must leave everything
// as it was: the changed component keeps its process and config, the added
// one does not exist, the socket prepared for it is closed again, the log
// file opened for it is closed and forgotten, and the next reload compares
// against the config that still runs.
func TestSupervisor_FailedReloadChangesNothing(t *testing.T) {
	a := testComponent(t, "a", "exec sleep 1000", nil)
	s := startSupervisor(t, a)
	waitEvents(t, s, 10*time.Second, "a running", func([]Event) bool { return allRunning(s) })
	pid := statusOf(t, s, "a").PID

	dir := t.TempDir()
	blocker := filepath.Join(dir, "not-a-dir")
	if err := os.WriteFile(blocker, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	a2 := a
	a2.Env = map[string]string{"NEW": "1"} // a restart
	a2.Sockets = map[string]string{"http": fmt.Sprintf("tcp://127.0.0.1:%d", port)}
	a2.LogFile = filepath.Join(dir, "a-new.log") // opens fine
	b := testComponent(t, "b", "exec sleep 1000", func(c *config.Component) {
		c.LogFile = filepath.Join(blocker, "b.log") // cannot be opened
	})
	_, err := s.Reload(context.Background(), testConfig(t, a2, b))
	if err == nil || !strings.Contains(err.Error(), "nothing changed") || !strings.Contains(err.Error(), "b.log") {
		t.Fatalf("reload with a log that cannot be opened: %v, want an error naming it and saying nothing changed", err)
	}
	if ok, _ := s.LastReload(); ok {
		t.Error("the failed reload counts as a success")
	}
	st := s.Status()
	if len(st) != 1 || st[0].Name != "a" || st[0].PID != pid || st[0].State != StateRunning || !alive(pid) {
		t.Fatalf("after the failed reload: %+v, want a alone with pid %d", st, pid)
	}
	if c := s.Config().Component("a"); c.Env["NEW"] != "" || len(c.Sockets) != 0 {
		t.Fatalf("the running config changed: %+v", c)
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the socket prepared for the failed reload is still bound: %v", err)
	}
	l.Close()
	s.logs.mu.Lock()
	_, open := s.logs.files[a2.LogFile]
	s.logs.mu.Unlock()
	if open {
		t.Error("the log file opened for the failed reload is still open")
	}

	// Fixed, the same change applies, and counts against what still runs.
	b.LogFile = ""
	rep, err := s.Reload(context.Background(), testConfig(t, a2, b))
	if err != nil || !slices.Equal(rep.Restarted, []string{"a"}) || !slices.Equal(rep.Added, []string{"b"}) {
		t.Fatalf("reload after the fix: %+v %v, want a restarted and b added", rep, err)
	}
	waitEvents(t, s, 10*time.Second, "both running", func([]Event) bool { return allRunning(s) && len(s.Status()) == 2 })
	if statusOf(t, s, "a").PID == pid {
		t.Error("a kept its process after a reload that changed it")
	}
	if c, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err != nil {
		t.Errorf("a's new socket is not bound: %v", err)
	} else {
		c.Close()
	}
}

// TestSupervisor_ReloadPassesHeldSocketsOn: an address a running component
// holds passes to the component of the new config that names it, without
// being bound again (which would fail while the old holder's process
// still has it): a moves to a new port and the added b takes a's old one;
// the removed c's port goes to the added d.
func TestSupervisor_ReloadPassesHeldSocketsOn(t *testing.T) {
	addr := func() string { return fmt.Sprintf("tcp://127.0.0.1:%d", freePort(t)) }
	p1, p2, p3 := addr(), addr(), addr()
	sock := func(a string) func(*config.Component) {
		return func(c *config.Component) { c.Sockets = map[string]string{"http": a} }
	}
	a := testComponent(t, "a", "exec sleep 1000", sock(p1))
	c := testComponent(t, "c", "exec sleep 1000", sock(p3))
	s := startSupervisor(t, a, c)
	waitEvents(t, s, 10*time.Second, "running", func([]Event) bool { return allRunning(s) })

	a2 := a
	sock(p2)(&a2)
	b := testComponent(t, "b", "exec sleep 1000", sock(p1))
	d := testComponent(t, "d", "exec sleep 1000", sock(p3))
	rep, err := s.Reload(context.Background(), testConfig(t, a2, b, d))
	if err != nil || !slices.Equal(rep.Restarted, []string{"a"}) || !slices.Equal(rep.Added, []string{"b", "d"}) ||
		!slices.Equal(rep.Removed, []string{"c"}) {
		t.Fatalf("reload: %+v %v", rep, err)
	}
	waitEvents(t, s, 10*time.Second, "running", func([]Event) bool { return allRunning(s) && len(s.Status()) == 3 })
	for _, p := range []string{p1, p2, p3} {
		conn, err := net.Dial("tcp", strings.TrimPrefix(p, "tcp://"))
		if err != nil {
			t.Fatalf("%s is not held after the reload: %v", p, err)
		}
		conn.Close()
	}
}

// TestSupervisor_PreparedReloadAbort: a prepared reload holds the sockets
// of the new config until Abort releases them; nothing else changed, and
// the next reload proceeds.
func TestSupervisor_PreparedReloadAbort(t *testing.T) {
	a := testComponent(t, "a", "exec sleep 1000", nil)
	s := startSupervisor(t, a)
	waitEvents(t, s, 10*time.Second, "a running", func([]Event) bool { return allRunning(s) })
	pid := statusOf(t, s, "a").PID
	port := freePort(t)
	a2 := a
	a2.Sockets = map[string]string{"http": fmt.Sprintf("tcp://127.0.0.1:%d", port)}
	p, err := s.PrepareReload(testConfig(t, a2))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port)); err == nil {
		t.Fatal("the prepared socket is not bound")
	}
	p.Abort()
	p.Abort() // a second Abort does nothing
	if _, err := p.Commit(context.Background()); err == nil {
		t.Fatal("Commit after Abort was accepted")
	}
	l, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
	if err != nil {
		t.Fatalf("the aborted reload's socket is still bound: %v", err)
	}
	l.Close()
	if st := statusOf(t, s, "a"); st.PID != pid || len(s.Config().Component("a").Sockets) != 0 {
		t.Fatalf("the aborted reload changed a: %+v", st)
	}
	if rep, err := s.Reload(context.Background(), testConfig(t, a2)); err != nil || !slices.Equal(rep.Restarted, []string{"a"}) {
		t.Fatalf("reload after the abort: %+v %v", rep, err)
	}
}
