package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
)

// maxKVFileSize bounds how much of a "Key: value kB" file (smaps_rollup,
// status) is read; the real ones are under 2 KiB.
const maxKVFileSize = 64 << 10

// ParseSmapsRollup parses the contents of /proc/PID/smaps_rollup (Linux 4.14+)
// and returns the process's proportional set size and resident set size in
// bytes. It is an error if the Pss or Rss line is missing. It is safe for
// concurrent use.
func ParseSmapsRollup(r io.Reader) (pssBytes, rssBytes int64, err error) {
	b, err := readBounded(r, maxKVFileSize)
	if err != nil {
		return 0, 0, fmt.Errorf("parse smaps_rollup: %w", err)
	}
	return parseSmapsRollup(b)
}

func parseSmapsRollup(b []byte) (pssBytes, rssBytes int64, err error) {
	pss, okP, err := kbField(b, "Pss:")
	if err != nil {
		return 0, 0, fmt.Errorf("parse smaps_rollup: %w", err)
	}
	rss, okR, err := kbField(b, "Rss:")
	if err != nil {
		return 0, 0, fmt.Errorf("parse smaps_rollup: %w", err)
	}
	if !okP || !okR {
		return 0, 0, errors.New("parse smaps_rollup: no Pss or Rss line")
	}
	return pss, rss, nil
}

// ParseStatusVmRSS parses the contents of /proc/PID/status and returns VmRSS
// in bytes. Kernel threads and zombies have no VmRSS line: that is an error.
// It is safe for concurrent use.
func ParseStatusVmRSS(r io.Reader) (int64, error) {
	b, err := readBounded(r, maxKVFileSize)
	if err != nil {
		return 0, fmt.Errorf("parse status: %w", err)
	}
	v, ok, err := kbField(b, "VmRSS:")
	if err != nil {
		return 0, fmt.Errorf("parse status: %w", err)
	}
	if !ok {
		return 0, errors.New("parse status: no VmRSS line")
	}
	return v, nil
}

// ReadVmRSS returns the VmRSS of process pid (0 = the calling process) in
// bytes, read from /proc/PID/status; an error when the process is gone or
// has no VmRSS (a zombie). It is safe for concurrent use.
func ReadVmRSS(pid int) (int64, error) {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	n, err := ParseStatusVmRSS(f)
	if err != nil {
		return 0, fmt.Errorf("%s: %w", path, err)
	}
	return n, nil
}

// kbField finds the line starting with key (which includes the colon) and
// returns its value, given in kB, as bytes.
func kbField(b []byte, key string) (v int64, found bool, err error) {
	for len(b) > 0 {
		line := b
		if i := bytes.IndexByte(b, '\n'); i >= 0 {
			line, b = b[:i], b[i+1:]
		} else {
			b = nil
		}
		if !bytes.HasPrefix(line, []byte(key)) {
			continue
		}
		f := bytes.TrimSpace(line[len(key):])
		unit := int64(1)
		if num, ok := bytes.CutSuffix(f, []byte("kB")); ok {
			f, unit = bytes.TrimSpace(num), 1024
		}
		n, ok := parseInt(f)
		if !ok || n < 0 {
			return 0, true, fmt.Errorf("%s bad value %q", key, line[len(key):])
		}
		return n * unit, true, nil
	}
	return 0, false, nil
}

// readBounded reads all of r, failing if it holds more than limit bytes.
func readBounded(r io.Reader, limit int64) ([]byte, error) {
	b, err := io.ReadAll(io.LimitReader(r, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("more than %d bytes", limit)
	}
	return b, nil
}
