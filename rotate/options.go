package rotate

import (
	"errors"
	"fmt"
	"time"
)

// Rotation schedules accepted in Options.Rotate, besides a Go duration.
const (
	RotateDaily  = "daily"
	RotateHourly = "hourly"
	RotateNone   = "none"
)

// Formats accepted in Options.Format.
const (
	FormatText = "text"
	FormatJSON = "json"
)

// Overflow modes accepted in Options.Overflow.
const (
	OverflowBlock = "block"
	OverflowDrop  = "drop"
)

// MinInterval is the shortest rotation interval Options.Rotate accepts as a
// duration: a shorter one would fill the directory with backups faster
// than retain_files or retain_days can make sense of them.
const MinInterval = time.Minute

// DefaultMaxLine is the line length used when Options.MaxLine is 0.
const DefaultMaxLine = 64 << 10

// minMaxLine keeps a configured max_line sane: pieces shorter than this
// would only add markers.
const minMaxLine = 64

// CutMarker ends every piece of a line longer than max_line except the last.
const CutMarker = " [cut]"

// TimeLayout is the layout of the timestamp prefix and of the json "time"
// field: RFC 3339 with milliseconds.
const TimeLayout = "2006-01-02T15:04:05.000Z07:00"

// Options configure a File. The zero value writes plain lines with no
// rotation, no timestamps and back-pressure on overflow.
type Options struct {
	// MaxSize rotates before a write would make the file larger than this
	// many bytes (whole lines only); 0 = no size rotation.
	MaxSize int64
	// Rotate is "daily" (local midnight), "hourly", "none" (or "") or a Go
	// duration of at least MinInterval such as "6h"; see CheckRotate.
	Rotate string
	// RetainDays removes rotated files older than this many days; 0 = keep.
	RetainDays int
	// RetainFiles keeps at most this many rotated files; 0 = no limit.
	RetainFiles int
	// Compress gzips rotated files.
	Compress bool
	// Timestamps prefixes each text line with the time in TimeLayout.
	Timestamps bool
	// Format is "text" (or "") or "json".
	Format string
	// MaxLine cuts longer lines into pieces ending in CutMarker; 0 = DefaultMaxLine.
	MaxLine int
	// Overflow is "block" (or "") or "drop".
	Overflow string
	// DropBound is how many bytes Copy may hold for a slow writer in "drop"
	// mode before it drops; 0 = 1 MiB.
	DropBound int
	// Clock returns the current time; nil = time.Now.
	Clock func() time.Time
	// partialWait replaces PartialLineWait when not 0 (tests).
	partialWait time.Duration
	// Warn receives rate-limited warnings (at most one a minute per File);
	// nil = discard. It is called without locks held and may write to
	// another File, or to this one.
	Warn func(msg string)
}

// CheckRotate returns nil when s is a rotation schedule Options.Rotate
// accepts: "daily", "hourly", "none", "" or a duration of at least
// MinInterval. It is the one rule for it: thorp's config validation uses it
// too. It is safe for concurrent use.
func CheckRotate(s string) error {
	_, err := parseSchedule(s)
	return err
}

// Validate reports the first invalid option, or nil.
func (o Options) Validate() error {
	var errs []error
	if o.MaxSize < 0 {
		errs = append(errs, fmt.Errorf("max_size: %d is negative", o.MaxSize))
	}
	if _, err := parseSchedule(o.Rotate); err != nil {
		errs = append(errs, err)
	}
	if o.RetainDays < 0 {
		errs = append(errs, fmt.Errorf("retain_days: %d is negative", o.RetainDays))
	}
	if o.RetainFiles < 0 {
		errs = append(errs, fmt.Errorf("retain_files: %d is negative", o.RetainFiles))
	}
	switch o.Format {
	case "", FormatText, FormatJSON:
	default:
		errs = append(errs, fmt.Errorf("log_format: %q is not text or json", o.Format))
	}
	if o.MaxLine < 0 {
		errs = append(errs, fmt.Errorf("max_line: %d is negative", o.MaxLine))
	}
	switch o.Overflow {
	case "", OverflowBlock, OverflowDrop:
	default:
		errs = append(errs, fmt.Errorf("overflow: %q is not block or drop", o.Overflow))
	}
	return errors.Join(errs...)
}

func (o Options) now() time.Time {
	if o.Clock != nil {
		return o.Clock()
	}
	return time.Now()
}

func (o Options) maxLine() int {
	switch {
	case o.MaxLine == 0:
		return DefaultMaxLine
	case o.MaxLine < minMaxLine:
		return minMaxLine
	}
	return o.MaxLine
}

func (o Options) partialLineWait() time.Duration {
	if o.partialWait > 0 {
		return o.partialWait
	}
	return PartialLineWait
}

func (o Options) dropBound() int {
	if o.DropBound <= 0 {
		return 1 << 20
	}
	return o.DropBound
}

// schedule is a parsed Options.Rotate.
type schedule struct {
	kind  string // RotateDaily, RotateHourly, RotateNone or "every"
	every time.Duration
}

func parseSchedule(s string) (schedule, error) {
	switch s {
	case "", RotateNone:
		return schedule{kind: RotateNone}, nil
	case RotateDaily, RotateHourly:
		return schedule{kind: s}, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		return schedule{}, fmt.Errorf("rotate: %q is not daily, hourly, none or a duration", s)
	}
	if d < MinInterval {
		return schedule{}, fmt.Errorf("rotate: %q is shorter than %s", s, MinInterval)
	}
	return schedule{kind: "every", every: d}, nil
}

// next returns the first rotation boundary strictly after now, in now's
// location; the zero time when the schedule has none.
func (s schedule) next(now time.Time) time.Time {
	y, m, d := now.Date()
	switch s.kind {
	case RotateDaily:
		return time.Date(y, m, d+1, 0, 0, 0, 0, now.Location())
	case RotateHourly:
		t := time.Date(y, m, d, now.Hour()+1, 0, 0, 0, now.Location())
		if !t.After(now) { // a DST fold repeats the hour
			t = t.Add(time.Hour)
		}
		return t
	case "every":
		return now.Add(s.every)
	}
	return time.Time{}
}
