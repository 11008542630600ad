package proc

import "syscall"

// GroupAlive reports whether any process of process group pgid still exists,
// using kill(-pgid, 0), which sends nothing. EPERM (the group exists but
// belongs to someone else) counts as alive. Zombies count as alive until they
// are reaped: thorp, as subreaper, must reap the group's processes before
// this turns false. pgid <= 1 always gives false (kill treats 0 and -1
// specially). It is safe for concurrent use.
func GroupAlive(pgid int) bool {
	if pgid <= 1 {
		return false
	}
	err := syscall.Kill(-pgid, 0)
	return err == nil || err == syscall.EPERM
}
