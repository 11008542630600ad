package simulate

import (
	"fmt"

	"github.com/thorp-dev/thorp/engine/proc"
)

// processRSS returns the resident set size of process pid (0 = this one).
func processRSS(pid int) (int64, error) {
	n, err := proc.ReadVmRSS(pid)
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	return n, nil
}
