package cgroup

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"strconv"
	"sync"
)

// Memory is one reading of a cgroup's memory.
type Memory struct {
	// Bytes is what thorp counts: Usage minus InactiveFile.
	Bytes int64
	// Usage is memory.current (v2) or memory.usage_in_bytes (v1): every
	// page charged to the cgroup, anonymous, file cache and kernel memory.
	Usage int64
	// InactiveFile is inactive_file (v2) or total_inactive_file (v1) of
	// memory.stat: file cache the kernel reclaims first, without writing
	// anything back or swapping.
	InactiveFile int64
}

// memoryFrom combines a usage file and a memory.stat.
func memoryFrom(usage, stat []byte, inactiveKey string) (Memory, error) {
	u, err := strconv.ParseInt(string(bytes.TrimSpace(usage)), 10, 64)
	if err != nil {
		return Memory{}, fmt.Errorf("memory usage %q: %w", bytes.TrimSpace(usage), err)
	}
	inactive, ok := statValue(stat, inactiveKey)
	if !ok {
		return Memory{}, fmt.Errorf("memory.stat has no %s", inactiveKey)
	}
	m := Memory{Usage: u, InactiveFile: int64(inactive)}
	m.Bytes = max(m.Usage-m.InactiveFile, 0)
	return m, nil
}

// statValue finds "key value" in a flat-keyed cgroup file (memory.stat,
// cpu.stat).
func statValue(b []byte, key string) (uint64, bool) {
	for len(b) > 0 {
		var line []byte
		line, b, _ = bytes.Cut(b, []byte{'\n'})
		k, v, ok := bytes.Cut(line, []byte{' '})
		if ok && string(k) == key {
			return parseUint(bytes.TrimSpace(v))
		}
	}
	return 0, false
}

// parseUint parses a decimal number without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

// parsePIDs reads a cgroup.procs: one pid a line. The calling process's
// own pid is left out: on v1, where threads move one by one, thorp's spawn
// thread passes through a component's cgroup for each fork, and nothing
// must ever signal thorp for a component.
func parsePIDs(b []byte, into []int) []int {
	into = into[:0]
	self := selfPID()
	for len(b) > 0 {
		line, rest, _ := bytes.Cut(b, []byte{'\n'})
		b = rest
		if n, ok := parseUint(bytes.TrimSpace(line)); ok && n > 0 && n <= math.MaxInt32 && int(n) != self {
			into = append(into, int(n))
		}
	}
	return into
}

// selfPID is the calling process's pid, asked of the kernel once: parsePIDs
// runs for every cgroup.procs read, once per component and sample.
var selfPID = sync.OnceValue(os.Getpid)
