package api

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/thorp-dev/thorp/engine"
)

// FollowOptions choose what Client.Follow streams.
type FollowOptions struct {
	// Component limits the stream to one component's events ("" for all).
	Component string
	// Replay first sends the stored events after Since; without it the
	// stream starts with the next event.
	Replay bool
	// Since is the sequence number to replay after (0: every stored event).
	Since uint64
}

// EventStream is a followed GET /api/v1/events?follow=1. Its events arrive
// on Events, which is closed when the stream ends: thorp shut down (or
// died), the context passed to Follow ended, or Close was called. Close
// is safe for concurrent use and twice; the other methods may be called
// from any goroutine.
type EventStream struct {
	body    io.ReadCloser
	events  chan engine.Event
	closing chan struct{}
	once    sync.Once
	done    chan struct{}
	err     error // set before done closes
}

// Follow opens the event stream. It returns once thorp has answered, so
// every event after that moment will be delivered. A thorp that is not
// running is ErrNotRunning.
func (c *Client) Follow(ctx context.Context, opts FollowOptions) (*EventStream, error) {
	q := url.Values{"follow": {"1"}}
	if opts.Component != "" {
		q.Set("component", opts.Component)
	}
	if opts.Replay {
		q.Set("since", fmt.Sprint(opts.Since))
	}
	resp, err := c.send(ctx, http.MethodGet, "/api/v1/events", q)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		return nil, responseError(resp.StatusCode, body)
	}
	s := &EventStream{body: resp.Body, events: make(chan engine.Event), closing: make(chan struct{}), done: make(chan struct{})}
	go s.read()
	return s, nil
}

// Events returns the channel the events arrive on, oldest first; it is
// closed when the stream ends.
func (s *EventStream) Events() <-chan engine.Event { return s.events }

// Err waits until the stream has ended and returns why: nil when thorp
// ended it (a shutdown) or Close was called, the read error otherwise (a
// thorp that died mid-stream).
func (s *EventStream) Err() error {
	<-s.done
	return s.err
}

// Close ends the stream and waits until its reader has stopped.
func (s *EventStream) Close() {
	s.once.Do(func() {
		close(s.closing)
		s.body.Close()
	})
	<-s.done
}

// read parses the server-sent events until the body ends.
func (s *EventStream) read() {
	defer close(s.events) // last, so Err does not block once Events is closed
	defer close(s.done)
	defer s.body.Close()
	br := bufio.NewReader(s.body)
	var data strings.Builder
	for {
		line, err := br.ReadString('\n')
		if err != nil {
			select {
			case <-s.closing:
			default:
				if !errors.Is(err, io.EOF) {
					s.err = fmt.Errorf("event stream: %w", err)
				}
			}
			return
		}
		line = strings.TrimRight(line, "\r\n")
		switch {
		case line == "":
			if data.Len() == 0 {
				continue
			}
			var ev engine.Event
			if err := json.Unmarshal([]byte(data.String()), &ev); err != nil {
				s.err = fmt.Errorf("event stream: %w", err)
				return
			}
			data.Reset()
			select {
			case s.events <- ev:
			case <-s.closing:
				return
			}
		case strings.HasPrefix(line, "data:"):
			if data.Len() > 0 {
				data.WriteByte('\n')
			}
			data.WriteString(strings.TrimPrefix(strings.TrimPrefix(line, "data:"), " "))
		}
		// id:, retry: and ": comment" lines carry nothing a client needs:
		// the event's JSON has its sequence number.
	}
}
