//go:build !linux

package web

import "fmt"

// selfRSS is not measured outside Linux.
func selfRSS() int64 { return 0 }

func explainListenError(addr string, err error) error {
	return fmt.Errorf("listen on %s: %w", addr, err)
}
