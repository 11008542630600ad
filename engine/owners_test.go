package engine

import (
	"context"
	"errors"
	"io"
	"regexp"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/policies"
)

// engineGoroutines returns the stacks of goroutines running engine code
// (package engine and those below it), other than the caller and the
// tests themselves.
func engineGoroutines() []string {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	var out []string
	for i, g := range strings.Split(string(buf), "\n\n") {
		switch {
		case i == 0: // the caller
		case !strings.Contains(g, "thorp-dev/thorp/engine"):
		case strings.Contains(g, "testing.tRunner"), strings.Contains(g, "testing.(*M).Run"), strings.Contains(g, "testing.(*B).run1"): // tests and benchmarks themselves
		default:
			out = append(out, g)
		}
	}
	return out
}

// checkNoEngineGoroutines fails t when goroutines running engine code are
// left over after a Supervisor's Run and Close returned: every one must
// have an owner that ended it. Their exits are waited for, at most 5s.
func checkNoEngineGoroutines(t testing.TB) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		left := engineGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Errorf("%d engine goroutines outlived the supervisor:\n%s", len(left), strings.Join(left, "\n\n"))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// A restart waiter on an instance that a reload then drops is answered:
// the restart reports that instance did not start, and nothing is left
// waiting. Before the inbox, that waiter was never answered and the
// restart hung (its aggregator goroutine leaked).
func TestSupervisor_WaiterOnTrimmedInstanceIsAnswered(t *testing.T) {
	dep := testComponent(t, "dep", "exec sleep 1000", nil)
	app := testComponent(t, "app", "exec sleep 1000", func(c *config.Component) {
		c.Instances = 2
		c.DependsOn = []string{"dep"}
	})
	s := startSupervisor(t, dep, app)
	waitEvents(t, s, 10*time.Second, "all running", func([]Event) bool { return allRunning(s) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := s.Stop(ctx, []string{"dep"}, true); err != nil {
		t.Fatal(err)
	}

	// Both instances of app restart and then wait for dep.
	seq := s.events.last()
	restarted := make(chan error, 1)
	go func() { restarted <- s.Restart(ctx, []string{"app"}, policies.ReasonManual, true) }()
	waitEvents(t, s, 10*time.Second, "both instances waiting for dep", func([]Event) bool {
		waiting := map[int]bool{}
		for _, e := range s.Events(seq, "app", time.Time{}) {
			if e.Type == EventBackoff && strings.Contains(e.Message, "waiting for") {
				waiting[e.Instance] = true
			}
		}
		return len(waiting) == 2
	})

	// A reload drops instance 1 while it waits.
	one := app
	one.Instances = 1
	reloaded := make(chan error, 1)
	go func() {
		_, err := s.Reload(ctx, testConfig(t, dep, one))
		reloaded <- err
	}()
	waitEvents(t, s, 10*time.Second, "app down to one instance", func([]Event) bool {
		return len(statusOf(t, s, "app").Instances) == 1
	})
	select {
	case err := <-restarted:
		t.Fatalf("restart returned before instance 0 ran: %v", err)
	default:
	}

	// dep runs again: instance 0 starts, and the restart is answered.
	if err := s.Start(ctx, []string{"dep"}, true); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-restarted:
		if !errors.Is(err, ErrDidNotStart) || !strings.Contains(err.Error(), "instance 1") {
			t.Fatalf("restart: %v, want instance 1 did not start", err)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("the restart waiter of the dropped instance was never answered")
	}
	if err := <-reloaded; err != nil {
		t.Fatalf("reload: %v", err)
	}
	if st := statusOf(t, s, "app"); st.State != StateRunning {
		t.Fatalf("app %s after the reload", st.State)
	}
}

// blockingLua is a Lua runtime whose calls never answer: each blocks
// until its context ends and then takes a while to clean up, as a real
// call may (plugins gives a cancelled call a grace period).
type blockingLua struct {
	active atomic.Int32 // calls that have not returned
	calls  atomic.Int32
}

func (b *blockingLua) Where() string  { return "thorp.lua:1" }
func (b *blockingLua) Source() string { return "" }

func (b *blockingLua) Call(ctx context.Context, _ map[string]any, _ time.Duration) (any, error) {
	b.calls.Add(1)
	b.active.Add(1)
	defer b.active.Add(-1)
	<-ctx.Done()
	time.Sleep(100 * time.Millisecond)
	return nil, ctx.Err()
}

// The goroutines watching a process (its readiness probe, its health
// checks, its memory_policy calls) end before the process is released:
// when a stop returns, none of them is still running.
func TestSupervisor_ReleaseEndsWhatWatchesTheProcess(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*config.Component, config.Func)
	}{
		{"readiness probe", func(c *config.Component, fn config.Func) {
			c.ReadyFunc = fn
			c.ListenTimeout = time.Minute
		}},
		{"health check", func(c *config.Component, fn config.Func) {
			c.Health = &config.Health{Func: fn, Interval: 10 * time.Millisecond, Timeout: time.Minute, Failures: 3}
		}},
		{"memory policy", func(c *config.Component, fn config.Func) {
			c.MemoryPolicy = fn
			c.MaxMemoryRestart = 1 << 30
			c.MemoryInterval = 100 * time.Millisecond
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lua := &blockingLua{}
			s := startSupervisor(t, testComponent(t, "watched", "exec sleep 1000", func(c *config.Component) { tt.mod(c, lua) }))
			deadline := time.Now().Add(10 * time.Second)
			for lua.active.Load() == 0 {
				if time.Now().After(deadline) {
					t.Fatal("no Lua call started")
				}
				time.Sleep(5 * time.Millisecond)
			}
			if err := s.Stop(context.Background(), []string{"watched"}, true); err != nil {
				t.Fatal(err)
			}
			if n := lua.active.Load(); n != 0 {
				t.Fatalf("%d Lua calls still running after the process was released", n)
			}
		})
	}
}

func TestLineMatcher_SeesLinesAndPassesTheStreamThrough(t *testing.T) {
	long := strings.Repeat("x", maxProbeLine+1)
	tests := []struct {
		name, in string
		match    bool
	}{
		{"split over reads", "starting\nlistening on :80\nmore\n", true},
		{"crlf", "listening on :80\r\n", true},
		{"last line without newline", "a\nlistening on :80", true},
		{"anywhere in the line", "x listening on :80\n", true},
		{"no such line", "starting\nlistening on :x\n", false},
		{"over-long line is skipped", long + "listening on :80\n", false},
		{"after an over-long line", long + "\nlistening on :80\n", true},
	}
	re := regexp.MustCompile("listening on :[0-9]+$")
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			matched := 0
			m := &lineMatcher{r: iotest.HalfReader(strings.NewReader(tt.in)), re: re, onMatch: func() { matched++ }}
			out, err := io.ReadAll(iotest.OneByteReader(m))
			if err != nil {
				t.Fatal(err)
			}
			if string(out) != tt.in {
				t.Fatalf("the stream changed: %q", out)
			}
			if want := map[bool]int{true: 1, false: 0}[tt.match]; matched != want {
				t.Fatalf("matched %d times, want %d", matched, want)
			}
		})
	}
}
