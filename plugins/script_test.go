package plugins_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/plugins"
)

// scriptFixture evaluates testdata/script.lua and returns the script with
// its functions by name.
func scriptFixture(t *testing.T) (*plugins.Script, map[string]config.Func) {
	t.Helper()
	raw, s, ps := evaluate(t, "testdata/script.lua", plugins.Options{})
	if len(ps) != 0 || s == nil {
		t.Fatalf("problems: %q", problemStrings(ps))
	}
	fns := map[string]config.Func{"memory_policy": raw.Components[0].Values["memory_policy"].(config.Func)}
	for _, h := range raw.Hooks {
		fns[h.Event] = h.Func
	}
	return s, fns
}

func TestScript_Call_MemoryPolicy(t *testing.T) {
	_, fns := scriptFixture(t)
	tests := []struct {
		rss  any
		want any
	}{
		{int64(200), "restart"},
		{50, nil},
		{float64(151), "restart"},
	}
	for _, tt := range tests {
		got, err := fns["memory_policy"].Call(t.Context(), map[string]any{"rss": tt.rss, "limit": 150}, time.Second)
		if err != nil {
			t.Fatalf("rss %v: %v", tt.rss, err)
		}
		if got != tt.want {
			t.Errorf("rss %v: got %#v, want %#v", tt.rss, got, tt.want)
		}
	}
}

func TestScript_Call_Conversion(t *testing.T) {
	_, fns := scriptFixture(t)
	arg := map[string]any{
		"component": "api", "n": 21, "tags": []string{"a", "b"},
		"deep": map[string]any{"x": map[string]any{"y": true}},
	}
	got, err := fns["ready"].Call(t.Context(), arg, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"name": "api", "n": float64(42), "ok": true, "tags": []any{"a", "b"},
		"deep": map[string]any{"x": map[string]any{"y": true}},
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("got %#v, want %#v", got, want)
	}

	if _, err := fns["ready"].Call(t.Context(), map[string]any{"bad": make(chan int)}, time.Second); err == nil ||
		!strings.Contains(err.Error(), "cannot pass a chan int to lua") {
		t.Errorf("bad argument: err = %v", err)
	}
	if _, err := fns["exit"].Call(t.Context(), nil, time.Second); err == nil ||
		!strings.Contains(err.Error(), "function at script.lua:22: bad return value: a function cannot be returned") {
		t.Errorf("function result: err = %v", err)
	}
}

func TestScript_Call_Timeout(t *testing.T) {
	_, fns := scriptFixture(t)
	start := time.Now()
	_, err := fns["health"].Call(t.Context(), nil, 100*time.Millisecond)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
	want := "function at script.lua:9 did not return within 100ms (stopped at script.lua:10)"
	if !strings.HasPrefix(err.Error(), want) {
		t.Errorf("err = %q, want it to start with %q", err, want)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("took %v", d)
	}
	// The state is still usable after an interrupted call.
	got, err := fns["memory_policy"].Call(t.Context(), map[string]any{"rss": 2, "limit": 1}, time.Second)
	if err != nil || got != "restart" {
		t.Errorf("after timeout: got %v, %v", got, err)
	}
}

func TestScript_Call_CancelledContext(t *testing.T) {
	_, fns := scriptFixture(t)
	ctx, cancel := context.WithCancel(t.Context())
	go func() {
		time.Sleep(50 * time.Millisecond) // only to let the call start; the result does not depend on it
		cancel()
	}()
	_, err := fns["health"].Call(ctx, nil, 10*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
}

func TestScript_Call_LuaError(t *testing.T) {
	_, fns := scriptFixture(t)
	_, err := fns["crash"].Call(t.Context(), map[string]any{"component": "api"}, time.Second)
	want := "function at script.lua:13 failed: script.lua:15: cannot handle api"
	if err == nil || err.Error() != want {
		t.Errorf("err = %v, want %q", err, want)
	}
	_, err = fns["crash"].Call(t.Context(), nil, time.Second)
	if err == nil || !strings.Contains(err.Error(), "script.lua:15:") {
		t.Errorf("err = %v, want the error's line", err)
	}
}

func TestScript_Call_Concurrent(t *testing.T) {
	_, fns := scriptFixture(t)
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Go(func() {
			for i := range 50 {
				rss := g*100 + i
				got, err := fns["memory_policy"].Call(context.Background(), map[string]any{"rss": rss, "limit": 800}, 5*time.Second)
				if err != nil {
					t.Error(err)
					return
				}
				var want any
				if rss > 800 {
					want = "restart"
				}
				if got != want {
					t.Errorf("rss %d: got %v, want %v", rss, got, want)
					return
				}
				if i%10 == 0 {
					_, _ = fns["ready"].Call(context.Background(), map[string]any{"component": fmt.Sprint(g), "n": i}, 5*time.Second)
				}
			}
		})
	}
	wg.Wait()
}

func TestScript_Close_Twice(t *testing.T) {
	s, fns := scriptFixture(t)
	s.Close()
	s.Close()
	if _, err := fns["memory_policy"].Call(t.Context(), nil, time.Second); !errors.Is(err, plugins.ErrClosed) {
		t.Errorf("call after close: err = %v, want ErrClosed", err)
	}
}

func TestScript_Close_InterruptsCall(t *testing.T) {
	s, fns := scriptFixture(t)
	errc := make(chan error, 1)
	go func() {
		_, err := fns["health"].Call(context.Background(), nil, time.Minute)
		errc <- err
	}()
	// Wait until the busy call holds the hooks' owner: a second hook then queues and times out.
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, err := fns["ready"].Call(context.Background(), map[string]any{"n": 1}, 20*time.Millisecond)
		if err != nil {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("busy call never started")
		}
	}
	start := time.Now()
	s.Close()
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Close took %v with a busy call", d)
	}
	if err := <-errc; !errors.Is(err, plugins.ErrClosed) {
		t.Errorf("busy call: err = %v, want ErrClosed", err)
	}
}
