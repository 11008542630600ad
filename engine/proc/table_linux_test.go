package proc

import (
	"errors"
	"os"
	"os/exec"
	"slices"
	"testing"
)

const fixtureRoot = "testdata/proc1"

func scanFixture(t *testing.T) *Table {
	t.Helper()
	tab, err := Scan(fixtureRoot)
	if err != nil {
		t.Fatalf("Scan(%s): %v", fixtureRoot, err)
	}
	return tab
}

func pids(ids []Ident) []int {
	out := make([]int, len(ids))
	for i, id := range ids {
		out[i] = id.PID
	}
	return out
}

func TestScan_Fixture(t *testing.T) {
	tab := scanFixture(t)
	// 15 good entries; 500 (no stat: vanished), 501 (garbled), 502 (pid
	// mismatch), self (not a pid) and uptime are skipped.
	if tab.Len() != 15 {
		t.Errorf("Len() = %d, want 15", tab.Len())
	}
	for _, pid := range []int{500, 501, 502, 999} {
		if _, ok := tab.Get(pid); ok {
			t.Errorf("Get(%d) found a process, want none", pid)
		}
	}
	s, ok := tab.Get(202)
	if !ok || s.Comm != "a) b) c" || s.PPID != 201 || s.PGID != 200 {
		t.Errorf("Get(202) = %+v, %v", s, ok)
	}
	if !tab.Alive(Ident{PID: 210, StartTime: 1010}) || tab.Alive(Ident{PID: 210, StartTime: 7}) {
		t.Error("Alive() does not tell a reused pid apart")
	}
}

func TestScan_MissingRoot(t *testing.T) {
	if _, err := Scan("testdata/no-such-dir"); err == nil {
		t.Error("Scan(missing dir): no error")
	}
}

func TestTable_Tree_Fixture(t *testing.T) {
	tab := scanFixture(t)
	tests := []struct {
		name      string
		pid, pgid int
		extra     []Ident
		want      []int
	}{
		{
			// 200..202 and 220 are in group 200 (220 re-parented to thorp);
			// 203 left the group with setsid and 204 is its child: both are
			// descendants by PPID.
			name: "group and descendants", pid: 200, pgid: 200,
			want: []int{200, 201, 202, 203, 204, 220},
		},
		{
			name: "extra orphan and its child", pid: 200, pgid: 200,
			extra: []Ident{{PID: 210, StartTime: 1010}},
			want:  []int{200, 201, 202, 203, 204, 210, 211, 220},
		},
		{
			name: "extra with a reused pid is not ours", pid: 200, pgid: 200,
			extra: []Ident{{PID: 210, StartTime: 5}, {PID: 4242, StartTime: 1}},
			want:  []int{200, 201, 202, 203, 204, 220},
		},
		{
			name: "previous result as extra deduplicates", pid: 200, pgid: 200,
			extra: []Ident{{200, 1000}, {201, 1001}, {203, 1003}, {203, 1003}, {210, 1010}},
			want:  []int{200, 201, 202, 203, 204, 210, 211, 220},
		},
		{
			name: "no group: only pid's descendants", pid: 200, pgid: 0,
			want: []int{200, 201, 202, 203, 204},
		},
		{
			name: "other component with a zombie", pid: 300, pgid: 300,
			want: []int{300, 301, 302},
		},
		{
			name: "main exited, group member left", pid: 4242, pgid: 200,
			want: []int{200, 201, 202, 203, 204, 220},
		},
		{name: "nothing alive", pid: 4242, pgid: 4242, want: []int{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := pids(tab.Tree(tt.pid, tt.pgid, tt.extra))
			if !slices.Equal(got, tt.want) {
				t.Errorf("Tree(%d, %d, %v) = %v, want %v", tt.pid, tt.pgid, tt.extra, got, tt.want)
			}
		})
	}
}

func TestTable_Tree_LargeTree(t *testing.T) {
	// A chain and a fan wider than treeLinearMax exercise the set path.
	var procs []Stat
	procs = append(procs, Stat{PID: 1, PPID: 0, PGID: 1, StartTime: 1})
	for pid := 2; pid <= 100; pid++ {
		procs = append(procs, Stat{PID: pid, PPID: pid / 2, PGID: 1, StartTime: uint64(pid)})
	}
	tab := newTable(procs)
	got := tab.Tree(1, 1, []Ident{{PID: 50, StartTime: 50}})
	if len(got) != 100 {
		t.Fatalf("Tree() has %d processes, want 100", len(got))
	}
	if !slices.IsSortedFunc(got, func(a, b Ident) int { return a.PID - b.PID }) {
		t.Error("Tree() is not sorted by pid")
	}
	// 2 and its heap descendants: 2, 4-5, 8-11, 16-23, 32-47, 64-95.
	if got := tab.Tree(2, 0, nil); len(got) != 63 {
		t.Errorf("Tree(2) has %d processes, want 63", len(got))
	}
}

func TestTable_Usage_Fixture(t *testing.T) {
	tab := scanFixture(t)
	ps := PageSize()
	tree := tab.Tree(200, 200, nil)
	// A stale identity (pid reused) counts for nothing.
	tree = append(tree, Ident{PID: 210, StartTime: 5})

	rss := tab.Usage(fixtureRoot, tree, false)
	want := Usage{
		RSS:        (2560 + 512 + 256 + 128 + 64 + 32) * ps,
		CPUSeconds: float64(150+50+10+5+1+1+3+2) / ClockTicks,
		Procs:      6,
	}
	if rss != want {
		t.Errorf("Usage(rss) = %+v, want %+v", rss, want)
	}
	if rss.Memory(false) != want.RSS {
		t.Errorf("Memory(false) = %d, want %d", rss.Memory(false), want.RSS)
	}

	pss := tab.Usage(fixtureRoot, tree, true)
	// 200 and 201 have smaps_rollup; the others fall back to their RSS.
	want.PSS = 340*1024 + 1000*1024 + (256+128+64+32)*ps
	if pss != want {
		t.Errorf("Usage(pss) = %+v, want %+v", pss, want)
	}
	if pss.Memory(true) != want.PSS {
		t.Errorf("Memory(true) = %d, want %d", pss.Memory(true), want.PSS)
	}
}

func TestTable_CPUTicks_Fixture(t *testing.T) {
	tab := scanFixture(t)
	tree := tab.Tree(300, 300, nil)
	dst := map[Ident]uint64{{PID: 1, StartTime: 1}: 99} // stale content is cleared
	got := tab.CPUTicks(append(tree, Ident{PID: 301, StartTime: 1}), dst)
	want := map[Ident]uint64{{300, 2000}: 40, {301, 2001}: 3, {302, 2002}: 4}
	if len(got) != len(want) {
		t.Fatalf("CPUTicks() = %v, want %v", got, want)
	}
	for id, v := range want {
		if got[id] != v {
			t.Errorf("CPUTicks()[%v] = %d, want %d", id, got[id], v)
		}
	}
}

func TestReadStat_Fixture(t *testing.T) {
	s, err := ReadStat(fixtureRoot, 200)
	if err != nil || s.Comm != "node server" {
		t.Errorf("ReadStat(200) = %+v, %v", s, err)
	}
	if _, err := ReadStat(fixtureRoot, 500); !errors.Is(err, ErrGone) {
		t.Errorf("ReadStat(500) error = %v, want ErrGone", err)
	}
	if _, err := ReadStat(fixtureRoot, 501); err == nil || errors.Is(err, ErrGone) {
		t.Errorf("ReadStat(501) error = %v, want a parse error", err)
	}
}

func TestTable_Children_Real(t *testing.T) {
	cmd := exec.Command("sleep", "30")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	tab, err := Scan("/proc")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(tab.Children(os.Getpid()), cmd.Process.Pid) {
		t.Fatalf("children of %d %v lack %d", os.Getpid(), tab.Children(os.Getpid()), cmd.Process.Pid)
	}
}
