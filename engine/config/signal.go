package config

import (
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"golang.org/x/sys/unix"
)

// ParseSignal parses a signal given as "SIGTERM", "TERM", "sigterm" or its
// number "15". It is safe for concurrent use.
func ParseSignal(s string) (Signal, error) {
	t := strings.TrimSpace(s)
	if n, err := strconv.Atoi(t); err == nil {
		if n < 1 || n > 64 {
			return 0, fmt.Errorf("%q is not a signal number (1..64)", s)
		}
		return Signal(n), nil
	}
	name := strings.ToUpper(t)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if n := unix.SignalNum(name); n != 0 {
		return Signal(n), nil
	}
	return 0, fmt.Errorf("%q is not a signal (use a name like \"SIGTERM\", \"INT\" or a number)", s)
}

// String returns the signal's name, such as "SIGTERM", or "signal N" for a
// number without a name.
func (s Signal) String() string {
	if name := unix.SignalName(syscall.Signal(s)); name != "" {
		return name
	}
	return "signal " + strconv.Itoa(int(s))
}

// MarshalText renders the signal's name, so JSON shows "SIGTERM".
func (s Signal) MarshalText() ([]byte, error) {
	return []byte(s.String()), nil
}
