package engine

import (
	"context"
	"errors"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/spawn"
)

// refusingSpawner is a Spawner that starts nothing: it records each spec
// and fails.
type refusingSpawner struct {
	mu    sync.Mutex
	specs []spawn.Spec
}

var errRefused = errors.New("fork refused by the test")

func (f *refusingSpawner) Spawn(spec spawn.Spec, _ func(spawn.Exit)) (spawn.Process, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.specs = append(f.specs, spec)
	return spawn.Process{}, errRefused
}

func TestSupervisor_SpawnerFailureIsAFailedStart(t *testing.T) {
	f := &refusingSpawner{}
	s := startSupervisorWith(t, Options{Spawner: f, Environ: []string{"PATH=/bin"}}, testComponent(t, "refused", "exit 0", func(c *config.Component) {
		c.MaxRestarts = 2
		c.RestartDelay = 10 * time.Millisecond
		c.Env = map[string]string{"OWN": "1"}
	}))
	waitEvents(t, s, 10*time.Second, "errored", func(evs []Event) bool { return count(evs, "refused", EventErrored) >= 1 })
	if st := statusOf(t, s, "refused"); !strings.Contains(st.Message, errRefused.Error()) {
		t.Fatalf("message %q does not say why the start failed", st.Message)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.specs) == 0 {
		t.Fatal("the supervisor did not use the spawner of its options")
	}
	spec := f.specs[0]
	cc := s.Config().Components[0]
	if !slices.Equal(spec.Argv, cc.Command.Argv) || spec.Dir != cc.Cwd || spec.Env["OWN"] != "1" ||
		!slices.Equal(spec.Environ, []string{"PATH=/bin"}) || !slices.Contains(spec.Extra, "THORP_COMPONENT=refused") ||
		!slices.Contains(spec.Extra, "THORP_INSTANCE=0") || spec.Detached {
		t.Fatalf("spec %+v does not describe the component", spec)
	}
}

// spawnGoroutines counts the goroutines of package spawn's Spawners.
func spawnGoroutines() int {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	return strings.Count(string(buf), "engine/spawn.(*Spawner).")
}

func TestSupervisor_Close_StopsTheSpawner(t *testing.T) {
	before := spawnGoroutines()
	s, err := New(testConfig(t, testComponent(t, "svc", "exec sleep 100", nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	<-s.Started()
	if err := s.Start(ctx, []string{"svc"}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); !errors.Is(err, ErrRunning) {
		t.Fatalf("Close during Run: %v, want ErrRunning", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for spawnGoroutines() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d spawner goroutines still run after Close (%d before New)", spawnGoroutines(), before)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if err := s.Run(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v, want ErrClosed", err)
	}
}

func TestSupervisor_Close_WithoutRun(t *testing.T) {
	s, err := New(testConfig(t, testComponent(t, "svc", "exec sleep 100", nil)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
