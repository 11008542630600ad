package simulate

import (
	"fmt"
	"os"

	"github.com/thorp-dev/thorp/engine/proc"
)

// processRSS returns the resident set size of process pid (0 = this one).
func processRSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = fmt.Sprintf("/proc/%d/status", pid)
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, fmt.Errorf("read rss: %w", err)
	}
	defer f.Close()
	n, err := proc.ParseStatusVmRSS(f)
	if err != nil {
		return 0, fmt.Errorf("read rss from %s: %w", path, err)
	}
	return n, nil
}
