package proc

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// maxStatSize bounds what ParseStat reads: a stat line is well under 1 KiB
// (52 numeric fields plus a command name of at most 64 bytes).
const maxStatSize = 4096

// Stat is the part of /proc/PID/stat thorp uses. Field numbers in comments
// follow proc(5).
type Stat struct {
	PID   int    // (1) process id
	Comm  string // (2) command name, without the parentheses; may contain spaces and ')'
	State byte   // (3) R, S, D, Z, T, t, X, I, ...
	PPID  int    // (4) parent pid
	PGID  int    // (5) process group id
	SID   int    // (6) session id

	UTime uint64 // (14) user CPU time of all threads, in clock ticks (see ClockTicks)
	STime uint64 // (15) system CPU time of all threads, in clock ticks

	Threads int // (20) number of threads; 0 for a zombie

	// StartTime (22) is when the process started, in clock ticks since boot.
	// With PID it identifies a process across pid reuse (see Ident).
	StartTime uint64

	RSSPages int64 // (24) resident set size in pages (see PageSize); 0 for zombies
}

// Ident returns the identity of the process s describes.
func (s Stat) Ident() Ident { return Ident{PID: s.PID, StartTime: s.StartTime} }

// Ident identifies a process across samples: a pid alone can be reused by an
// unrelated process after the first one is reaped, but not with the same
// start time.
type Ident struct {
	PID       int
	StartTime uint64 // clock ticks since boot, Stat.StartTime
}

// errStatTooLarge is returned when a stat file is bigger than any real one.
var errStatTooLarge = errors.New("stat line too long")

// ParseStat parses the contents of a /proc/PID/stat file. The command name is
// taken between the first '(' and the last ')', so names containing spaces or
// parentheses ("1234 (a) b) c) S 1 ...") parse correctly. It is safe for
// concurrent use.
func ParseStat(r io.Reader) (Stat, error) {
	var buf [maxStatSize + 1]byte
	n, err := io.ReadFull(r, buf[:])
	switch {
	case err == nil:
		return Stat{}, fmt.Errorf("parse stat: %w", errStatTooLarge)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
	default:
		return Stat{}, fmt.Errorf("parse stat: %w", err)
	}
	return parseStat(buf[:n])
}

// parseStat parses one stat line; it allocates only the command name.
func parseStat(b []byte) (Stat, error) {
	var s Stat
	open := bytes.IndexByte(b, '(')
	closing := bytes.LastIndexByte(b, ')')
	if open < 0 || closing < open {
		return s, errors.New("parse stat: no command name in parentheses")
	}
	pid, ok := parseInt(bytes.TrimSpace(b[:open]))
	if !ok || pid <= 0 {
		return s, fmt.Errorf("parse stat: bad pid %q", bytes.TrimSpace(b[:open]))
	}
	s.PID = int(pid)
	s.Comm = string(b[open+1 : closing])

	rest := b[closing+1:]
	field := 2 // the command name was field 2
	for len(rest) > 0 && field < 24 {
		// Fields are separated by single spaces; tolerate runs of blanks.
		for len(rest) > 0 && (rest[0] == ' ' || rest[0] == '\n') {
			rest = rest[1:]
		}
		if len(rest) == 0 {
			break
		}
		end := bytes.IndexAny(rest, " \n")
		if end < 0 {
			end = len(rest)
		}
		f := rest[:end]
		rest = rest[end:]
		field++
		if err := s.setField(field, f); err != nil {
			return Stat{}, err
		}
	}
	if field < 24 {
		return Stat{}, fmt.Errorf("parse stat: pid %d: %d fields, want at least 24", s.PID, field)
	}
	return s, nil
}

// setField stores field number n (1-based, as in proc(5)) if thorp uses it.
func (s *Stat) setField(n int, f []byte) error {
	ok := true
	var x int64
	switch n {
	case 3:
		ok = len(f) == 1
		if ok {
			s.State = f[0]
		}
	case 4:
		x, ok = parseInt(f)
		s.PPID = int(x)
	case 5:
		x, ok = parseInt(f)
		s.PGID = int(x)
	case 6:
		x, ok = parseInt(f)
		s.SID = int(x)
	case 14:
		s.UTime, ok = parseUint(f)
	case 15:
		s.STime, ok = parseUint(f)
	case 20:
		x, ok = parseInt(f)
		s.Threads = int(x)
	case 22:
		s.StartTime, ok = parseUint(f)
	case 24:
		s.RSSPages, ok = parseInt(f)
	}
	if !ok {
		return fmt.Errorf("parse stat: pid %d: field %d: bad value %q", s.PID, n, f)
	}
	return nil
}

// parseUint parses a non-empty decimal number without allocating.
func parseUint(b []byte) (uint64, bool) {
	if len(b) == 0 || len(b) > 20 {
		return 0, false
	}
	var v uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		nv := v*10 + uint64(c-'0')
		if nv < v {
			return 0, false
		}
		v = nv
	}
	return v, true
}

// parseInt parses an optionally negative decimal number without allocating.
func parseInt(b []byte) (int64, bool) {
	neg := len(b) > 0 && b[0] == '-'
	if neg {
		b = b[1:]
	}
	u, ok := parseUint(b)
	if !ok || u > 1<<63-1 {
		return 0, false
	}
	if neg {
		return -int64(u), true
	}
	return int64(u), true
}
