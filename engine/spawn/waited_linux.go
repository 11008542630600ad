package spawn

import "os/exec"

// StartWaited starts cmd, an os/exec command that its caller waits for
// with cmd.Wait although it runs in a process group of its own
// (SysProcAttr.Setpgid), where a Spawner's reaper would take its exit for
// an orphan's. It forks under the registry's lock and marks the child as
// waited for elsewhere before any reap can see it. Call forget once
// cmd.Wait has returned. Safe for concurrent use.
func StartWaited(cmd *exec.Cmd) (forget func(), err error) {
	children.mu.Lock()
	defer children.mu.Unlock()
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	pid := cmd.Process.Pid
	children.waited[pid] = true
	return func() {
		children.mu.Lock()
		defer children.mu.Unlock()
		delete(children.waited, pid)
	}, nil
}
