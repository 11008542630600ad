package engine

import (
	"fmt"
	"os"

	"github.com/thorp-dev/thorp/engine/fence"
	"github.com/thorp-dev/thorp/engine/spawn"
)

// startFence starts the fence process (see package fence) with argv and
// returns the writer that registers process groups with it.
func (s *Supervisor) startFence(argv []string) (*fence.Writer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("fence pipe: %w", err)
	}
	defer r.Close()
	spec := spawn.Spec{Argv: argv, Dir: "/", Environ: s.environ, Stdin: r, Detached: true}
	child, err := s.spawner.Spawn(spec, func(e spawn.Exit) {
		s.log.Warn("the fence process exited; if thorp is killed now its components' children may survive",
			"pid", e.PID, "code", e.Code)
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start fence process: %w", err)
	}
	s.log.Debug("fence started", "pid", child.PID)
	return fence.NewWriter(w), nil
}
