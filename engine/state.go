package engine

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"time"
	"unicode/utf8"

	"github.com/thorp-dev/thorp/policies"
)

// stateVersion is the format of the state file; a file of another version
// is set aside like a corrupt one.
const stateVersion = 1

// stateSaveEvery is how long after an event the state is saved (with
// the events of that time): at most one save per period.
const stateSaveEvery = 10 * time.Second

// stateEvents is how many recent events the state file keeps.
const stateEvents = 200

// savedState is the state file: what `thorp status` and `describe` should
// still tell after thorp restarts.
type savedState struct {
	Version    int                       `json:"version"`
	SavedAt    time.Time                 `json:"saved_at"`
	Components map[string]savedComponent `json:"components"`
	Events     []Event                   `json:"events"`
}

type savedComponent struct {
	RestartsByReason  map[string]int  `json:"restarts_by_reason"`
	LastExit          *ExitInfo       `json:"last_exit,omitempty"`
	LastRestartReason policies.Reason `json:"last_restart_reason,omitempty"`
}

// Bounds of what a state file may hold. The file is thorp's own, but it sits
// on disk where anything may have written it, so nothing in it is trusted.
const (
	// maxStateFile is the largest state file loaded; a larger one is set
	// aside like a corrupt one (thorp writes well under 100 KiB).
	maxStateFile = 1 << 20
	// maxStateCount is the highest restart count restored.
	maxStateCount = 1_000_000_000
	// maxStateMessage is the longest event message restored, in bytes.
	maxStateMessage = 4096
	// maxStateSignal is the longest signal name restored.
	maxStateSignal = 32
	// maxStateWarnings is how many problems of one file are logged one by
	// one; the rest are counted in a last warning.
	maxStateWarnings = 10
)

// loadState restores counters and events from path. A missing file is a
// fresh start; an unreadable, corrupt or oversized one (more than
// maxStateFile) is moved aside with a warning, never a refusal to start.
// What it restores is validated: restart counts clamped to
// 0..maxStateCount, reasons not in policies.Reasons and components not in
// the config dropped (so they never become metric labels or status lines),
// event messages cut; each change is a warning in thorp's log.
func (s *Supervisor) loadState(path string) {
	b, err := readStateFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return
	}
	var st savedState
	if err == nil {
		err = json.Unmarshal(b, &st)
		if err == nil && st.Version != stateVersion {
			err = fmt.Errorf("unknown state version %d", st.Version)
		}
	}
	if err != nil {
		aside := fmt.Sprintf("%s.corrupt-%s", path, s.clock.Now().Format("20060102T150405"))
		_ = os.Rename(path, aside)
		s.log.Warn("state file unreadable; moved aside, starting with fresh counters", "path", path, "moved_to", aside, "err", err)
		return
	}
	warned := 0
	warn := func(msg string, args ...any) {
		if warned++; warned <= maxStateWarnings {
			s.log.Warn("state file: "+msg, append([]any{"path", path}, args...)...)
		}
	}
	st.clean(func(name string) bool { return s.comps[name] != nil }, warn)
	if warned > maxStateWarnings {
		s.log.Warn("state file: more problems not logged", "path", path, "count", warned-maxStateWarnings)
	}
	for name, sc := range st.Components {
		c := s.comps[name]
		for r, n := range sc.RestartsByReason {
			c.restarts[policies.Reason(r)] += n
		}
		c.lastWhy = sc.LastRestartReason
		if sc.LastExit != nil {
			c.insts[0].lastExit = sc.LastExit
		}
		c.updateSnapshot()
	}
	s.events.restore(st.Events)
}

// readStateFile reads path, refusing a file larger than maxStateFile
// without reading it all.
func readStateFile(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, err
	}
	if len(b) > maxStateFile {
		return nil, fmt.Errorf("larger than %d bytes", maxStateFile)
	}
	return b, nil
}

// clean makes st safe to restore: components known reports whether a
// component is in the config; warn receives one message per change.
func (st *savedState) clean(known func(name string) bool, warn func(msg string, args ...any)) {
	for name, sc := range st.Components {
		if !known(name) {
			warn("dropped a component that is not in the config", "component", name)
			delete(st.Components, name)
			continue
		}
		for r, n := range sc.RestartsByReason {
			switch {
			case !slices.Contains(policies.Reasons, policies.Reason(r)):
				warn("dropped an unknown restart reason", "component", name, "reason", r)
				delete(sc.RestartsByReason, r)
			case n < 0 || n > maxStateCount:
				c := min(max(n, 0), maxStateCount)
				warn("clamped a restart count", "component", name, "reason", r, "count", n, "now", c)
				sc.RestartsByReason[r] = c
			}
		}
		if r := sc.LastRestartReason; r != "" && !slices.Contains(policies.Reasons, r) {
			warn("dropped an unknown last restart reason", "component", name, "reason", string(r))
			sc.LastRestartReason = ""
		}
		if e := sc.LastExit; e != nil && len(e.Signal) > maxStateSignal {
			warn("cut a last exit signal", "component", name)
			e.Signal = cutString(e.Signal, maxStateSignal)
		}
		st.Components[name] = sc
	}
	if len(st.Events) > stateEvents {
		warn("dropped events beyond the kept number", "count", len(st.Events)-stateEvents)
		st.Events = st.Events[len(st.Events)-stateEvents:]
	}
	evs := st.Events[:0]
	for _, ev := range st.Events {
		switch {
		case ev.Component != "" && !known(ev.Component):
			warn("dropped an event of a component that is not in the config", "component", ev.Component)
			continue
		case ev.Reason != "" && !slices.Contains(policies.Reasons, ev.Reason):
			warn("dropped an event with an unknown reason", "component", ev.Component, "reason", string(ev.Reason))
			continue
		}
		if len(ev.Message) > maxStateMessage {
			warn("cut an event message", "component", ev.Component, "bytes", len(ev.Message))
			ev.Message = cutString(ev.Message, maxStateMessage)
		}
		if len(ev.Signal) > maxStateSignal {
			warn("cut an event signal", "component", ev.Component)
			ev.Signal = cutString(ev.Signal, maxStateSignal)
		}
		evs = append(evs, ev)
	}
	st.Events = evs
}

// cutString cuts s to at most n bytes without splitting a UTF-8 sequence.
func cutString(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// saveState writes the state atomically: a temporary file, fsync, rename.
func (s *Supervisor) saveState(path string) error {
	st := savedState{Version: stateVersion, SavedAt: s.clock.Now(), Components: map[string]savedComponent{}}
	for _, cs := range s.Status() {
		st.Components[cs.Name] = savedComponent{RestartsByReason: cs.RestartsByReason, LastExit: cs.LastExit,
			LastRestartReason: cs.LastRestartReason}
	}
	evs := s.events.since(0, "", time.Time{})
	if len(evs) > stateEvents {
		evs = evs[len(evs)-stateEvents:]
	}
	st.Events = evs
	b, err := json.MarshalIndent(st, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("state directory: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".state-*.json")
	if err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fmt.Errorf("save state: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// keepState saves the state stateSaveEvery after an event, with every
// event of that time, until ctx ends. While nothing happens it waits for
// the next event without a timer, so an idle thorp is not woken for it.
func (s *Supervisor) keepState(ctx context.Context, path string) {
	var saved uint64
	t := s.clock.NewTimer(stateSaveEvery)
	defer t.Stop()
	t.Stop()
	for {
		changed := s.events.wait() // before last(): no event is missed
		if s.events.last() == saved {
			select {
			case <-ctx.Done():
				return
			case <-changed:
			}
		}
		t.Reset(stateSaveEvery)
		select {
		case <-ctx.Done():
			return
		case <-t.C():
		}
		seq := s.events.last()
		if err := s.saveState(path); err != nil {
			s.log.Warn("cannot save state; counters will not survive a thorp restart", "err", err)
			continue
		}
		saved = seq
	}
}
