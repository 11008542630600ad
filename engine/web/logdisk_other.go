//go:build !unix

package web

// statFS is not measured outside Unix.
func statFS(string) (fsSpace, bool) { return fsSpace{}, false }
