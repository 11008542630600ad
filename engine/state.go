package engine

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/thorp-dev/thorp/policies"
)

// stateVersion is the format of the state file; a file of another version
// is set aside like a corrupt one.
const stateVersion = 1

// stateSaveEvery is how often the state is saved while events happen.
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

// loadState restores counters and events from path. A missing file is a
// fresh start; an unreadable or corrupt one is moved aside with a warning,
// never a refusal to start.
func (s *Supervisor) loadState(path string) {
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
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
	for name, sc := range st.Components {
		c := s.comps[name]
		if c == nil {
			continue // a component that is no longer declared
		}
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

// keepState saves the state every stateSaveEvery while events happen,
// until ctx ends.
func (s *Supervisor) keepState(ctx context.Context, path string) {
	var saved uint64
	every(s.clock, stateSaveEvery, ctx.Done(), func() {
		if seq := s.events.last(); seq != saved {
			if err := s.saveState(path); err != nil {
				s.log.Warn("cannot save state; counters will not survive a thorp restart", "err", err)
				return
			}
			saved = seq
		}
	})
}
