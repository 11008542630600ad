package web

import (
	"bufio"
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
)

// The HTTP server streams GET /api/v1/events?follow=1 under the read rules
// (no token needed), delivers an event that happens after the request
// started, within a bound, and ends the stream when it shuts down.
func TestServer_EventsFollow(t *testing.T) {
	sup := startSupervisor(t, "sleeper")
	h := api.NewPublicHandler(sup, api.Info{})
	srv, base := startServer(t, sup, Options{API: h, Token: "tok"})

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	for {
		changed := sup.WaitEvent() // before the look, so no change is missed
		if sup.Status()[0].State == engine.StateRunning {
			break
		}
		select {
		case <-changed:
		case <-ctx.Done():
			t.Fatal("sleeper never ran")
		}
	}
	req, _ := http.NewRequestWithContext(ctx, "GET", base+"/api/v1/events?follow=1&component=sleeper", nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/event-stream") {
		t.Fatalf("follow: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	events := make(chan engine.Event)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(resp.Body)
		for sc.Scan() {
			data, ok := strings.CutPrefix(sc.Text(), "data: ")
			if !ok {
				continue
			}
			var ev engine.Event
			if err := json.Unmarshal([]byte(data), &ev); err != nil {
				t.Errorf("bad event %q: %v", data, err)
				return
			}
			events <- ev
		}
	}()

	// The headers are in: an event from now on must arrive.
	start := time.Now()
	if err := sup.Signal(ctx, []string{"sleeper"}, 0); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-events:
		if ev.Type != engine.EventSignal || ev.Component != "sleeper" {
			t.Errorf("first event %+v, want the signal", ev)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("event took %v", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no event within 5s")
	}

	// A shutdown ends the stream instead of waiting for the client.
	sctx, stop := context.WithTimeout(context.Background(), 5*time.Second)
	defer stop()
	if err := srv.Shutdown(sctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	select {
	case _, ok := <-events:
		for ok {
			_, ok = <-events
		}
	case <-time.After(5 * time.Second):
		t.Fatal("stream still open after Shutdown")
	}
}
