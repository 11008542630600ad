package api

import (
	"context"
	"errors"
	"net"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

// nextEvent waits up to d for an event of type typ on s.
func nextEvent(t *testing.T, s *EventStream, typ string, d time.Duration) engine.Event {
	t.Helper()
	timer := time.NewTimer(d)
	defer timer.Stop()
	for {
		select {
		case ev, ok := <-s.Events():
			if !ok {
				t.Fatalf("stream ended before a %q event: %v", typ, s.Err())
			}
			if ev.Type == typ {
				return ev
			}
		case <-timer.C:
			t.Fatalf("no %q event within %v", typ, d)
		}
	}
}

func TestClient_Follow_DeliversLaterEvents(t *testing.T) {
	sock, sup := startAPI(t, true)
	c := NewClient(sock)
	ctx := context.Background()
	if _, err := c.Act(ctx, "start", []string{"svc"}, true); err != nil {
		t.Fatal(err)
	}
	s, err := c.Follow(ctx, FollowOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The stream starts after the newest event: the spawn of the start
	// above is not replayed; the stop after Follow returned is delivered.
	before := sup.Events(0, "", time.Time{})
	go func() { _, _ = c.Act(ctx, "stop", []string{"svc"}, false) }()
	ev := nextEvent(t, s, engine.EventStopping, 5*time.Second)
	if ev.Component != "svc" || ev.Seq <= before[len(before)-1].Seq {
		t.Errorf("event %+v, want svc after seq %d", ev, before[len(before)-1].Seq)
	}
	nextEvent(t, s, engine.EventStopped, 5*time.Second)
}

func TestClient_Follow_ReplaysAndFilters(t *testing.T) {
	sock, _ := startAPI(t, true)
	c := NewClient(sock)
	ctx := context.Background()
	s, err := c.Follow(ctx, FollowOptions{Replay: true, Since: 0, Component: "svc"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// The spawn at start is stored; a replay from 0 sends it first.
	if ev := nextEvent(t, s, engine.EventSpawn, 5*time.Second); ev.Component != "svc" || ev.Seq == 0 {
		t.Errorf("replayed %+v", ev)
	}
	s2, err := c.Follow(ctx, FollowOptions{Component: "other"})
	if err != nil {
		t.Fatal(err)
	}
	defer s2.Close()
	if _, err := c.Act(ctx, "restart", []string{"svc"}, true); err != nil {
		t.Fatal(err)
	}
	nextEvent(t, s, engine.EventRestart, 5*time.Second)
	select {
	case ev := <-s2.Events():
		t.Errorf("a stream for component other got %+v", ev)
	default:
	}
	s2.Close()
	s2.Close()
	if _, ok := <-s2.Events(); ok {
		t.Error("Events still open after Close")
	}
	if err := s2.Err(); err != nil {
		t.Errorf("Err after Close: %v", err)
	}
}

// A server that shuts down the way the daemon does (request contexts
// cancelled, then Shutdown) ends the stream cleanly; one that is cut
// (Close) ends it with an error. Neither hangs.
func TestClient_Follow_EndsWhenServerStops(t *testing.T) {
	_, sup := startAPI(t, true)
	for _, graceful := range []bool{true, false} {
		sock := filepath.Join(t.TempDir(), "s.sock")
		ln, err := ListenControl(sock)
		if err != nil {
			t.Fatal(err)
		}
		base, cancel := context.WithCancel(context.Background())
		srv := NewServer(NewHandler(sup, Info{}, true))
		srv.BaseContext = func(net.Listener) context.Context { return base }
		served := make(chan struct{})
		go func() { defer close(served); _ = srv.Serve(ln) }()
		s, err := NewClient(sock).Follow(context.Background(), FollowOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if graceful {
			cancel()
			ctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
			if err := srv.Shutdown(ctx); err != nil {
				t.Errorf("Shutdown with a stream open: %v", err)
			}
			stop()
		} else {
			srv.Close()
			cancel()
		}
		timer := time.NewTimer(10 * time.Second)
	drain:
		for {
			select {
			case _, ok := <-s.Events():
				if !ok {
					break drain
				}
			case <-timer.C:
				t.Fatalf("graceful=%v: stream did not end after the server stopped", graceful)
			}
		}
		timer.Stop()
		if err := s.Err(); graceful && err != nil {
			t.Errorf("graceful end: Err %v, want nil", err)
		}
		s.Close()
		<-served
	}
}

func TestClient_Follow_NotRunning(t *testing.T) {
	c := NewClient(filepath.Join(t.TempDir(), "none.sock"))
	if _, err := c.Follow(context.Background(), FollowOptions{}); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Follow without thorp: %v, want ErrNotRunning", err)
	}
}

func TestClient_EventsOfATag(t *testing.T) {
	sock, _ := startAPI(t, true)
	c := NewClient(sock)
	ctx := context.Background()
	// wait: the first event (svc's spawn) may come just after the start.
	evs, err := c.Events(ctx, 0, "@web", "5s")
	if err != nil {
		t.Fatal(err)
	}
	if len(evs) == 0 {
		t.Fatal("no events for @web within 5s, whose svc has started")
	}
	for _, ev := range evs {
		if ev.Component != "svc" {
			t.Errorf("event of %q in @web's events", ev.Component)
		}
	}
	if _, err := c.Events(ctx, 0, "@nope", ""); err == nil || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("events of an unknown tag: %v", err)
	}
	// A name is taken as given: a component a reload may add is followed.
	if evs, err := c.Events(ctx, 0, "later", ""); err != nil || len(evs) != 0 {
		t.Fatalf("events of a component not there yet: %v, %v", evs, err)
	}
}
