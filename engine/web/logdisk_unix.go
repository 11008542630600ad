//go:build unix

package web

import "golang.org/x/sys/unix"

// statFS returns the space of dir's filesystem; false when statfs fails.
func statFS(dir string) (fsSpace, bool) {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); err != nil {
		return fsSpace{}, false
	}
	bsize := uint64(st.Bsize)
	return fsSpace{avail: uint64(st.Bavail) * bsize, size: uint64(st.Blocks) * bsize}, true
}
