package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/proc"
)

// leakComponent runs the test binary as a child that leaks rate bytes/s;
// wrap puts it under a shell so the leak sits in a grandchild.
func leakComponent(t testing.TB, name string, rate int64, wrap bool, mod func(*config.Component)) config.Component {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := config.DefaultComponent()
	c.Name = name
	c.Command = config.Command{Argv: []string{self}}
	if wrap {
		c.Command = config.Command{Argv: []string{"/bin/sh", "-c", fmt.Sprintf("%q & wait", self)}, Shell: true}
	}
	c.Env = map[string]string{childEnv: "leak", "THORP_LEAK_RATE": strconv.FormatInt(rate, 10)}
	c.Cwd = t.TempDir()
	c.Logs = config.Defaults().Logs
	c.Logs.Dir = filepath.Join(c.Cwd, "logs")
	c.MemoryInterval = 100 * time.Millisecond
	c.MemorySamples = 2
	c.RestartDelay = 0
	c.KillTimeout = 2 * time.Second
	if mod != nil {
		mod(&c)
	}
	return c
}

func TestSupervisor_MemoryRestartOfTree(t *testing.T) {
	// The leak is in a grandchild: only a tree sum sees it.
	s := startSupervisor(t, leakComponent(t, "leaky", 100<<20, true, func(c *config.Component) {
		c.MaxMemoryRestart, c.MaxMemoryRestartText = 60<<20, "60M"
	}))
	evs := waitEvents(t, s, 20*time.Second, "a memory restart and a new run", func(evs []Event) bool {
		return count(evs, "leaky", EventSpawn) >= 2
	})
	var restart *Event
	for i := range evs {
		if evs[i].Type == EventRestart {
			restart = &evs[i]
			break
		}
	}
	// The limit as written in thorp.lua, its binary figure beside.
	if restart == nil || restart.Reason != "memory" || !strings.Contains(restart.Message, " over limit 60M (60 MiB) for 2 samples") {
		t.Fatalf("first restart is not a memory restart:\n%s", dumpEvents(evs))
	}
	st := statusOf(t, s, "leaky")
	if st.RestartsByReason["memory"] < 1 || st.RestartsByReason["crash"] != 0 {
		t.Fatalf("restarts_by_reason = %v", st.RestartsByReason)
	}
	if st.MemoryLimitBytes != 60<<20 {
		t.Fatalf("memory_limit_bytes = %d", st.MemoryLimitBytes)
	}
}

func TestSupervisor_MemoryAndGrowthReported(t *testing.T) {
	s := startSupervisor(t, leakComponent(t, "grower", 20<<20, false, func(c *config.Component) {
		c.MaxMemoryRestart = 1 << 30
	}))
	deadline := time.Now().Add(20 * time.Second)
	for {
		st := statusOf(t, s, "grower")
		if st.MemoryBytes > 10<<20 && st.MemoryGrowthBytesPerHour > 0 && st.CPUSeconds > 0 {
			// 20 MiB/s is 70 GiB/h; the estimate must be in that range. The
			// child is this test binary: under -race its shadow memory
			// grows with the heap, so RSS can grow up to 3 times faster.
			// (policies tests the estimator's precision on exact series.)
			perHour := float64(20<<20) * 3600
			if st.MemoryGrowthBytesPerHour < perHour/2 || st.MemoryGrowthBytesPerHour > perHour*4 {
				t.Fatalf("growth %.0f B/h, want about %.0f", st.MemoryGrowthBytesPerHour, perHour)
			}
			if st.MemoryTimeToLimitSeconds <= 0 {
				t.Fatalf("no time to limit: %+v", st)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("memory never reported: %+v", st)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// fakeLua is a memory_policy function answering with a fixed result.
type fakeLua struct {
	mu    sync.Mutex
	res   any
	err   error
	calls int
	// over counts the calls whose sample was over its limit.
	over int
}

// overLimit returns how many calls had a sample over its limit.
func (f *fakeLua) overLimit() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.over
}

func (f *fakeLua) Where() string  { return "thorp.lua:7" }
func (f *fakeLua) Source() string { return "" }

func (f *fakeLua) Call(_ context.Context, arg map[string]any, _ time.Duration) (any, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if m, l := arg["memory"].(int64), arg["limit"].(int64); l > 0 && m > l {
		f.over++
	}
	for _, key := range []string{"rss", "cpu", "growth_per_hour"} {
		if _, ok := arg[key]; !ok {
			return nil, errors.New("no " + key + " in the sample")
		}
	}
	return f.res, f.err
}

func TestSupervisor_LuaMemoryPolicy(t *testing.T) {
	t.Run("alert instead of restart", func(t *testing.T) {
		lua := &fakeLua{res: "alert"}
		s := startSupervisor(t, leakComponent(t, "a", 50<<20, false, func(c *config.Component) {
			c.MaxMemoryRestart = 10 << 20
			c.MemoryPolicy = lua
		}))
		waitEvents(t, s, 20*time.Second, "alert", func(evs []Event) bool { return count(evs, "a", EventAlert) >= 1 })
		if n := count(s.Events(0, "", time.Time{}), "a", EventRestart); n != 0 {
			t.Fatalf("%d restarts, want none: the policy said alert", n)
		}
	})
	t.Run("nil keeps it running past the limit", func(t *testing.T) {
		lua := &fakeLua{res: nil}
		s := startSupervisor(t, leakComponent(t, "n", 50<<20, false, func(c *config.Component) {
			c.MaxMemoryRestart = 10 << 20
			c.MemoryPolicy = lua
		}))
		deadline := time.Now().Add(20 * time.Second)
		for lua.overLimit() < 5 {
			if time.Now().After(deadline) {
				t.Fatalf("the policy saw %d samples over the limit in 20s, want 5", lua.overLimit())
			}
			time.Sleep(50 * time.Millisecond)
		}
		if n := count(s.Events(0, "", time.Time{}), "n", EventRestart); n != 0 {
			t.Fatalf("%d restarts, want none: the policy (quiet_hours deferring) said nil", n)
		}
	})
	t.Run("bad answer falls back to the threshold", func(t *testing.T) {
		lua := &fakeLua{res: 42.0}
		s := startSupervisor(t, leakComponent(t, "b", 50<<20, false, func(c *config.Component) {
			c.MaxMemoryRestart = 40 << 20
			c.MemoryPolicy = lua
		}))
		evs := waitEvents(t, s, 20*time.Second, "memory restart", func(evs []Event) bool { return count(evs, "b", EventRestart) >= 1 })
		if n := count(evs, "b", EventWarning); n != 1 {
			t.Fatalf("%d warnings, want exactly one:\n%s", n, dumpEvents(evs))
		}
		for _, e := range evs {
			if e.Type == EventWarning && !strings.Contains(e.Message, "42") {
				t.Fatalf("warning does not name the value: %q", e.Message)
			}
		}
	})
}

func TestSupervisor_StopReachesDescendantsThatLeftTheGroup(t *testing.T) {
	s := startSupervisor(t, testComponent(t, "escaper", "setsid sleep 1000 & echo $! > kid; wait", func(c *config.Component) {
		c.MemoryInterval = 100 * time.Millisecond
		c.MaxMemoryRestart = 1 << 30 // sampled every memory_interval
	}))
	kidFile := filepath.Join(s.cfg.Components[0].Cwd, "kid")
	var kid int
	deadline := time.Now().Add(10 * time.Second)
	for kid == 0 && time.Now().Before(deadline) {
		b, _ := os.ReadFile(kidFile)
		kid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		time.Sleep(10 * time.Millisecond)
	}
	// Wait until the sampler has seen both processes of the tree: from then
	// on the one that left the group is tracked.
	for statusOf(t, s, "escaper").Instances[0].Procs < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the sampler never saw the whole tree")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := s.Stop(context.Background(), []string{"escaper"}, true); err != nil {
		t.Fatal(err)
	}
	if alive(kid) {
		t.Fatalf("process %d that left the group with setsid survived the stop", kid)
	}
}

// spikeComponent runs the test binary as a child that holds bytes more
// memory from SIGUSR1 until SIGUSR2, with the default memory_interval
// and memory_samples.
func spikeComponent(t testing.TB, name string, bytes int, limit config.Size) config.Component {
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := config.DefaultComponent()
	c.Name = name
	c.Command = config.Command{Argv: []string{self}}
	c.Env = map[string]string{childEnv: "spike", "THORP_SPIKE_BYTES": strconv.Itoa(bytes)}
	c.Cwd = t.TempDir()
	c.Logs = config.Defaults().Logs
	c.Logs.Dir = filepath.Join(c.Cwd, "logs")
	c.MaxMemoryRestart = limit
	return c
}

func TestSupervisor_MemoryConfirmingSampleSoonSpikeRestartsNothing(t *testing.T) {
	// On a clock the test moves, with the default memory_interval (1s)
	// and memory_samples (2): a sample over the limit is confirmed
	// 200 ms later, not a whole interval; a spike gone by then restarts
	// nothing; memory that stays over is stopped at the confirming sample.
	const limit = 100 << 20
	def := config.DefaultComponent()
	if def.MemoryInterval != time.Second || def.MemorySamples != 2 {
		t.Fatalf("defaults changed: memory_interval %s, memory_samples %d", def.MemoryInterval, def.MemorySamples)
	}
	clk := newFakeClock(time.Date(2026, 3, 10, 12, 0, 0, 0, time.UTC))
	s := startSupervisorWith(t, Options{Clock: clk}, spikeComponent(t, "spiky", limit+40<<20, limit))
	waitEvents(t, s, 10*time.Second, "running", func(evs []Event) bool { return count(evs, "spiky", EventRunning) >= 1 })
	pid := statusOf(t, s, "spiky").PID
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(time.Millisecond) {
		if _, err := os.Stat(filepath.Join(s.cfg.Components[0].Cwd, "listening")); err == nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the child never handled its signals")
		}
	}

	// nextSample is when the sampler's timer fires next (the only timer
	// armed while the component just runs), once it has been re-armed.
	nextSample := func() time.Time {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			if at, ok := clk.nextFire(); ok && clk.armed() == 1 {
				return at
			}
			if time.Now().After(deadline) {
				t.Fatalf("the sampler's timer was not armed (%d timers)", clk.armed())
			}
			time.Sleep(time.Millisecond)
		}
	}
	// sample moves the clock to the next sample and waits for its memory
	// to show; it returns the sample's time.
	sample := func(what string, shows func(memory int64) bool) time.Time {
		t.Helper()
		clk.Advance(nextSample().Sub(clk.Now()))
		at := clk.Now()
		deadline := time.Now().Add(10 * time.Second)
		for !shows(statusOf(t, s, "spiky").MemoryBytes) {
			if time.Now().After(deadline) {
				t.Fatalf("no sample showed %s (memory %d)", what, statusOf(t, s, "spiky").MemoryBytes)
			}
			time.Sleep(time.Millisecond)
		}
		return at
	}
	hold := func(sig syscall.Signal, over bool) {
		t.Helper()
		if err := syscall.Kill(pid, sig); err != nil {
			t.Fatal(err)
		}
		// Until the child has touched (or let go of) the whole spike, well
		// past the limit either way.
		settled := func(rss int64) bool { return over && rss > limit+30<<20 || !over && rss > 0 && rss < limit-30<<20 }
		deadline := time.Now().Add(10 * time.Second)
		for rss, _ := proc.ReadVmRSS(pid); !settled(rss); rss, _ = proc.ReadVmRSS(pid) {
			if time.Now().After(deadline) {
				t.Fatalf("the child's RSS stayed at %d", rss)
			}
			time.Sleep(time.Millisecond)
		}
	}
	under := func(m int64) bool { return m > 0 && m < limit }
	overLimit := func(m int64) bool { return m > limit }
	stops := func() int { return count(s.Events(0, "spiky", time.Time{}), "spiky", EventStopping) }

	sample("the process under the limit", under)
	// A spike: one sample over, the next under.
	hold(syscall.SIGUSR1, true)
	over := sample("the spike", overLimit)
	if d := nextSample().Sub(over); d > maxConfirmDelay {
		t.Fatalf("the confirming sample is due %s after the one over the limit, want at most %s", d, maxConfirmDelay)
	}
	hold(syscall.SIGUSR2, false)
	sample("the spike gone", under)
	if n := stops(); n != 0 || statusOf(t, s, "spiky").PID != pid {
		t.Fatalf("a spike over the limit for one sample stopped the process (%d stopping events)", n)
	}
	// Memory that stays over: stopped at the confirming sample.
	hold(syscall.SIGUSR1, true)
	over = sample("memory over the limit again", overLimit)
	confirm := nextSample()
	if d := confirm.Sub(over); d > maxConfirmDelay {
		t.Fatalf("the confirming sample is due %s after the one over the limit, want at most %s", d, maxConfirmDelay)
	}
	clk.Advance(confirm.Sub(clk.Now()))
	evs := waitEvents(t, s, 10*time.Second, "a memory stop", func(evs []Event) bool { return count(evs, "spiky", EventStopping) >= 1 })
	for _, e := range evs {
		if e.Component == "spiky" && e.Type == EventStopping {
			if e.PID != pid || e.Reason != "memory" || e.Time.Sub(over) > maxConfirmDelay {
				t.Fatalf("stopping event %+v: want pid %d stopped for memory at most %s after the first sample over the limit (%s)",
					e, pid, maxConfirmDelay, over)
			}
		}
	}
}
