package engine

import (
	"fmt"
	"os"

	"github.com/thorp-dev/thorp/engine/fence"
)

// startFence starts the fence process (see package fence) with argv and
// returns the writer that registers process groups with it.
func (s *Supervisor) startFence(argv []string) (*fence.Writer, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("fence pipe: %w", err)
	}
	defer r.Close()
	devnull, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return nil, err
	}
	defer devnull.Close()
	spec := spawnSpec{
		path:     argv[0],
		argv:     argv,
		dir:      "/",
		env:      s.environ,
		files:    []uintptr{r.Fd(), devnull.Fd(), devnull.Fd()},
		detached: true,
	}
	pid, err := s.reaper.spawn(spec, func(st exitStatus) {
		s.log.Warn("the fence process exited; if thorp is killed now its components' children may survive",
			"pid", st.pid, "code", st.code)
	})
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("start fence process: %w", err)
	}
	s.log.Debug("fence started", "pid", pid)
	return fence.NewWriter(w), nil
}
