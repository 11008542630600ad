package cgroup

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/spawn"
)

// childEnv makes the test binary act as a child process: "leak" grows by
// 16 MiB, touched, for each line on stdin and answers "ok"; "plan" prints
// the plan for this host.
const childEnv = "THORP_CGROUP_TEST_CHILD"

func TestMain(m *testing.M) {
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "leak":
		var held [][]byte
		in := bufio.NewScanner(os.Stdin)
		for in.Scan() {
			b := make([]byte, 16<<20)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			held = append(held, b)
			fmt.Println("ok")
		}
		runtime.KeepAlive(held)
		os.Exit(0)
	case "plan":
		l, err := DetectSelf()
		if err != nil {
			fmt.Println(err)
			os.Exit(1)
		}
		m, p := Open(l)
		fmt.Println(strings.Join(p.Lines(), "\n"))
		fmt.Printf("manager: %v\n", m != nil)
		os.Exit(0)
	}
	os.Exit(3)
}

// openReal opens thorp's cgroups on this host and returns them with the
// plan; it skips the test unless root, and fails when root cannot create
// them.
func openReal(t testing.TB) (*Manager, Plan) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("creating cgroups needs root (CI runs these tests as root)")
	}
	l, err := DetectSelf()
	if err != nil {
		t.Fatal(err)
	}
	m, p := Open(l)
	if m == nil {
		t.Fatalf("root cannot create cgroups here:\n%s", strings.Join(p.Lines(), "\n"))
	}
	t.Cleanup(func() {
		if err := m.Close(); err != nil {
			t.Error(err)
		}
		for _, dir := range []string{m.root2, m.rootMem} {
			if _, err := os.Stat(dir); !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("Close left %s behind (%v)", dir, err)
			}
		}
	})
	return m, p
}

// startIn starts cmd in g: on cgroup2 from its fork, on v1 memory right
// after it.
func startIn(t *testing.T, g *Group, cmd *exec.Cmd) {
	t.Helper()
	dir, err := g.OpenDir()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if dir != nil {
		defer dir.Close()
		cmd.SysProcAttr.UseCgroupFD, cmd.SysProcAttr.CgroupFD = true, int(dir.Fd())
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if err := g.Join(cmd.Process.Pid, dir != nil); err != nil {
		t.Fatal(err)
	}
}

// waitFor polls cond every 10ms until it holds, for at most 10s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// running reports whether pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i > 0 && i+2 < len(s) && s[i+2] != 'Z'
}

func TestGroup_KillReachesSetsidDoubleForkEscaper(t *testing.T) {
	m, _ := openReal(t)
	g, err := m.NewGroup("escaper", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	pidFile := filepath.Join(t.TempDir(), "kid")
	// The grandchild leaves the session and ignores SIGTERM; its parent
	// exits at once: no process tree leads to it.
	cmd := exec.Command("/bin/sh", "-c", `setsid /bin/sh -c 'trap "" TERM; echo $$ > "$0"; while :; do sleep 1; done' "$0" & exit 0`, pidFile)
	startIn(t, g, cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatal(err)
	}
	var kid int
	waitFor(t, "the grandchild's pid", func() bool {
		b, _ := os.ReadFile(pidFile)
		kid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		return kid > 0
	})
	t.Cleanup(func() { _ = syscall.Kill(kid, syscall.SIGKILL) })
	pids, err := g.Procs(nil)
	if err != nil || !slices.Contains(pids, kid) {
		t.Fatalf("cgroup.procs = %v (%v), want the escaper %d in it", pids, err, kid)
	}
	if err := g.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if !running(kid) {
		t.Fatal("the escaper died of SIGTERM; it should ignore it")
	}
	if err := g.Kill(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the cgroup to empty", g.Empty)
	if running(kid) {
		t.Fatalf("escaper %d survived the kill", kid)
	}
	if err := g.Remove(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(g.Dir()); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Remove left %s (%v)", g.Dir(), err)
	}
}

// anonOf is pid's anonymous and shared-memory RSS (RssAnon + RssShmem)
// in bytes.
func anonOf(t *testing.T, pid int) int64 {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, line := range strings.Split(string(b), "\n") {
		k, v, _ := strings.Cut(line, ":")
		if k == "RssAnon" || k == "RssShmem" {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			n += kb << 10
		}
	}
	return n
}

func TestGroup_MemoryTracksLeaker(t *testing.T) {
	m, _ := openReal(t)
	if !m.Plan().Memory.Cgroup {
		t.Fatalf("root has no memory cgroup here: %s", m.Plan().Memory)
	}
	g, err := m.NewGroup("leaker", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Remove() })
	grow, pid := startLeaker(t, m, g)
	if v1 := g.V1Dir(); v1 != "" {
		b, _ := os.ReadFile(filepath.Join(v1, "cgroup.procs"))
		if got := strings.TrimSpace(string(b)); got != strconv.Itoa(pid) {
			t.Fatalf("v1 memory cgroup.procs = %q right after the spawn, want %d", got, pid)
		}
	}
	const mib = 1 << 20
	var first, firstAnon int64
	for step := 1; step <= 6; step++ {
		grow()
		mem, ok, err := g.Memory()
		if err != nil || !ok {
			t.Fatalf("Memory() = %+v, %v, %v", mem, ok, err)
		}
		anon := anonOf(t, pid)
		t.Logf("after %d MiB: cgroup %.1f MiB (usage %.1f, inactive_file %.1f), anonymous RSS %.1f MiB",
			16*step, float64(mem.Bytes)/mib, float64(mem.Usage)/mib, float64(mem.InactiveFile)/mib, float64(anon)/mib)
		if step == 1 {
			first, firstAnon = mem.Bytes, anon
		}
		// The binary's file pages count in its RSS but are charged to
		// whoever read them first (the test process, running the same
		// binary): the cgroup's memory is the anonymous RSS plus kernel
		// memory (page tables, stacks), within a few MiB.
		if d := mem.Bytes - anon; d > 4*mib || d < -mib {
			t.Errorf("cgroup memory %d is not within [-1, +4] MiB of the anonymous RSS %d", mem.Bytes, anon)
		}
		if grown, anonGrown := mem.Bytes-first, anon-firstAnon; abs(grown-anonGrown) > 2*mib {
			t.Errorf("cgroup memory grew by %.1f MiB since the first step, the anonymous RSS by %.1f MiB", float64(grown)/mib, float64(anonGrown)/mib)
		}
	}
	if mem, _, _ := g.Memory(); mem.Bytes-first < 70*mib {
		t.Errorf("cgroup memory grew by %.1f MiB over 80 MiB of growth", float64(mem.Bytes-first)/mib)
	}
	// On v1, Memory and UsageV1 (alarms) read one kept memory.usage_in_bytes.
	if g.mem != "" && !g.memoryV2 {
		if _, _, err := g.UsageV1(); err != nil {
			t.Fatal(err)
		}
		if n := g.files.fds[fileMemoryCurrent]; n != 0 {
			t.Errorf("a second descriptor (%d) kept for v1 memory usage", n-1)
		}
	}
}

func abs(n int64) int64 { return max(n, -n) }

func TestGroup_CPU(t *testing.T) {
	m, _ := openReal(t)
	if !m.Plan().CPU.Cgroup {
		t.Skipf("no cpu.stat here: %s", m.Plan().CPU)
	}
	g, err := m.NewGroup("spinner", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Remove() })
	cmd := exec.Command("/bin/sh", "-c", `i=0; while [ $i -lt 200000 ]; do i=$((i+1)); done`)
	startIn(t, g, cmd)
	var ru syscall.Rusage
	if _, err := syscall.Wait4(cmd.Process.Pid, nil, 0, &ru); err != nil {
		t.Fatal(err)
	}
	used := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	cpu, ok, err := g.CPU()
	if err != nil || !ok {
		t.Fatal(ok, err)
	}
	t.Logf("cpu.stat %v, rusage %v", cpu, used)
	if cpu < used*8/10 || cpu > used*12/10+10*time.Millisecond {
		t.Errorf("cpu.stat says %v, the process used %v", cpu, used)
	}
}

func TestOpen_FallsBackWithoutAWritableSubtree(t *testing.T) {
	// A layout whose cgroups cannot be created: every part uses the
	// process tree, and says why.
	dir := t.TempDir()
	l := Layout{Unified: filepath.Join(dir, "missing"), UnifiedMount: dir}
	m, p := Open(l)
	if m != nil {
		t.Fatalf("a Manager on %s", l.Unified)
	}
	if p.Tracking.Cgroup || p.Kill.Cgroup || p.Memory.Cgroup || p.CPU.Cgroup || !strings.Contains(p.Tracking.Why, "missing") {
		t.Fatalf("plan:\n%s", strings.Join(p.Lines(), "\n"))
	}
}

func TestOpen_FallsBackForAnUnprivilegedUser(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run the child as nobody")
	}
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Skip("no setpriv")
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// nobody must be able to run the test binary: a copy it can read.
	bin := filepath.Join(t.TempDir(), "cgroup.test")
	if err := copyFile(exe, bin); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Dir(bin), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", bin)
	cmd.Env = append(os.Environ(), childEnv+"=plan")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	s := string(out)
	if !strings.Contains(s, "tracking: process tree") || !strings.Contains(s, "permission denied") || !strings.Contains(s, "manager: false") {
		t.Fatalf("as nobody:\n%s", s)
	}
}

func copyFile(from, to string) error {
	b, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, b, 0o755)
}

func TestAlarms_FireWhenUsageCrossesThreshold(t *testing.T) {
	m, _ := openReal(t)
	g, err := m.NewGroup("alarmed", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = g.Remove() })
	if g.V1Dir() == "" {
		if _, err := (&Alarms{}).Arm(g, 1, 1); !errors.Is(err, ErrNoAlarm) {
			t.Fatalf("Arm without a v1 memory cgroup: %v, want ErrNoAlarm", err)
		}
		t.Skip("no v1 memory cgroup here: no usage thresholds")
	}
	a, err := NewAlarms()
	if err != nil {
		t.Fatal(err)
	}
	batches := make(chan []uint64, 8)
	waited := make(chan error, 1)
	go func() { // owner: the test, which waits for waited
		for {
			ids, err := a.Wait(nil)
			if err != nil {
				waited <- err
				return
			}
			batches <- ids
		}
	}()
	grow, _ := startLeaker(t, m, g)
	const mib = 1 << 20
	u0, ok, err := g.UsageV1()
	if err != nil || !ok {
		t.Fatalf("UsageV1() = %d, %v, %v", u0, ok, err)
	}
	// The leaker grows 16 MiB a step: 8 crosses at the second, 7 at the
	// third, 9 never (closed before).
	far, err := a.Arm(g, u0+40*mib, 7)
	if err != nil {
		t.Fatal(err)
	}
	defer far.Close()
	near, err := a.Arm(g, u0+20*mib, 8)
	if err != nil {
		t.Fatal(err)
	}
	defer near.Close()
	closed, err := a.Arm(g, u0+24*mib, 9)
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	next := func(what string) []uint64 {
		t.Helper()
		select {
		case ids := <-batches:
			return ids
		case err := <-waited:
			t.Fatalf("Wait: %v before %s", err, what)
		case <-time.After(10 * time.Second):
			t.Fatalf("no alarm within 10s for %s", what)
		}
		return nil
	}
	usage := func() int64 {
		u, _, err := g.UsageV1()
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	grow()
	grow()
	if ids := next("20 MiB crossed"); !slices.Equal(ids, []uint64{8}) {
		t.Fatalf("after 32 MiB of growth the alarms %v fired, want [8] (20 MiB) alone", ids)
	}
	if u := usage(); u < u0+20*mib {
		t.Fatalf("alarm 8 fired at usage %d, below its threshold %d", u, u0+20*mib)
	}
	grow()
	if ids := next("40 MiB crossed"); !slices.Equal(ids, []uint64{7}) {
		t.Fatalf("after 48 MiB of growth the alarms %v fired, want [7] (40 MiB)", ids)
	}
	if u := usage(); u < u0+40*mib {
		t.Fatalf("alarm 7 fired at usage %d, below its threshold %d", u, u0+40*mib)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-waited; !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Wait after Close: %v, want os.ErrClosed", err)
	}
	if _, err := a.Arm(g, u0, 10); !errors.Is(err, os.ErrClosed) {
		t.Fatalf("Arm after Close: %v, want os.ErrClosed", err)
	}
}

// startLeaker starts the "leak" child in g as thorp starts a component
// (in the cgroup from its fork on both hierarchies) and returns a
// function that makes it grow by 16 MiB, touched, and waits until it has,
// and its pid.
func startLeaker(t *testing.T, m *Manager, g *Group) (grow func(), pid int) {
	t.Helper()
	sp := spawn.New()
	t.Cleanup(func() { _ = sp.Close() })
	stdinR, stdin, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { stdin.Close() })
	dir, err := g.OpenDir()
	if err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	child, err := sp.Spawn(spawn.Spec{Argv: []string{os.Args[0]}, Environ: os.Environ(), Extra: []string{childEnv + "=leak"},
		Stdin: stdinR, Cgroup: dir, V1Cgroup: g.V1Dir(), V1Home: m.V1Home()}, func(spawn.Exit) { close(exited) })
	stdinR.Close()
	if dir != nil {
		dir.Close()
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = g.Kill()
		<-exited
		child.Stdout.Close()
		child.Stderr.Close()
	})
	out := bufio.NewReader(child.Stdout)
	return func() {
		t.Helper()
		if _, err := io.WriteString(stdin, "grow\n"); err != nil {
			t.Fatal(err)
		}
		if line, err := out.ReadString('\n'); err != nil || line != "ok\n" {
			t.Fatalf("leaker answered %q, %v", line, err)
		}
	}, child.PID
}
