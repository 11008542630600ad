package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

const durationHint = `use Go syntax like "4s", "500ms", "30m", or a number of seconds`

// ParseDuration parses a duration written as a Go duration string ("4s",
// "500ms", "1h30m") or as a plain number of seconds ("30", "0.5"). Negative
// durations are an error. It is safe for concurrent use.
func ParseDuration(s string) (time.Duration, error) {
	t := strings.TrimSpace(s)
	if f, err := strconv.ParseFloat(t, 64); err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
		return secondsToDuration(f, s)
	}
	d, err := time.ParseDuration(t)
	if err != nil {
		return 0, fmt.Errorf("%q is not a duration (%s)", s, durationHint)
	}
	if d < 0 {
		return 0, fmt.Errorf("%q is negative; a duration must be 0 or more", s)
	}
	return d, nil
}

// secondsToDuration converts a number of seconds; orig is quoted in errors.
func secondsToDuration(f float64, orig any) (time.Duration, error) {
	if f < 0 {
		return 0, fmt.Errorf("%s is negative; a duration must be 0 or more", describe(orig))
	}
	if f*float64(time.Second) > math.MaxInt64 {
		return 0, fmt.Errorf("%s is too long a duration", describe(orig))
	}
	return time.Duration(math.Round(f * float64(time.Second))), nil
}
