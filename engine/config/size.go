package config

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Size units. One letter (K, M, G, T) and the IEC names (KiB, MiB, …) are
// powers of 1024; the SI names (KB, MB, …) are powers of 1000.
const (
	KiB Size = 1 << 10
	MiB Size = 1 << 20
	GiB Size = 1 << 30
	TiB Size = 1 << 40
)

// sizeUnits maps an upper-cased unit to its multiplier.
var sizeUnits = map[string]float64{
	"":    1,
	"B":   1,
	"K":   1 << 10,
	"M":   1 << 20,
	"G":   1 << 30,
	"T":   1 << 40,
	"KI":  1 << 10,
	"MI":  1 << 20,
	"GI":  1 << 30,
	"TI":  1 << 40,
	"KIB": 1 << 10,
	"MIB": 1 << 20,
	"GIB": 1 << 30,
	"TIB": 1 << 40,
	"KB":  1e3,
	"MB":  1e6,
	"GB":  1e9,
	"TB":  1e12,
}

const sizeHint = `use a number of bytes or units like "150MB", "10M", "1.5GiB"`

// ParseSize parses a size such as "150MB", "10M", "1.5GiB", "512" or "64 KiB".
//
// A bare number is bytes ("B" may be written). One-letter units (K, M, G, T),
// their "i" forms (Ki, Mi, …) and KiB/MiB/GiB/TiB are powers of 1024;
// KB/MB/GB/TB are powers of 1000. Unit letters are case-insensitive: "mb" and
// "Mb" mean MB (1000²), never megabits, because an operator writing a memory
// limit means bytes. Fractions are allowed and rounded to a whole byte; a
// space may separate the number from the unit. Negative sizes are an error.
// ParseSize is safe for concurrent use.
func ParseSize(s string) (Size, error) {
	t := strings.TrimSpace(s)
	if strings.HasPrefix(t, "-") {
		return 0, fmt.Errorf("%q is negative; a size must be 0 or more", s)
	}
	i := 0
	for i < len(t) && (t[i] >= '0' && t[i] <= '9' || t[i] == '.') {
		i++
	}
	num, unit := t[:i], strings.ToUpper(strings.TrimSpace(t[i:]))
	mult, ok := sizeUnits[unit]
	if num == "" || !ok {
		return 0, fmt.Errorf("%q is not a size (%s)", s, sizeHint)
	}
	f, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, fmt.Errorf("%q is not a size (%s)", s, sizeHint)
	}
	v := math.Round(f * mult)
	if v >= math.MaxInt64 {
		return 0, fmt.Errorf("%q is too large a size", s)
	}
	return Size(v), nil
}

// String renders s compactly in binary units: "512 B", "10 MiB", "143.1 MiB".
// Whole multiples print without a fraction, others with one decimal.
func (s Size) String() string {
	if s < 0 {
		return "-" + (-s).String()
	}
	units := []struct {
		n    Size
		name string
	}{{TiB, "TiB"}, {GiB, "GiB"}, {MiB, "MiB"}, {KiB, "KiB"}}
	for _, u := range units {
		if s >= u.n {
			if s%u.n == 0 {
				return fmt.Sprintf("%d %s", s/u.n, u.name)
			}
			return fmt.Sprintf("%.1f %s", float64(s)/float64(u.n), u.name)
		}
	}
	return fmt.Sprintf("%d B", int64(s))
}

// SI spells s in the SI unit it is a whole multiple of, as a thorp.lua
// would ("10MB" for 10,000,000), or returns "" when s is not positive,
// String renders it exactly already ("10 MiB", "512 B"), or it is a whole
// multiple of no SI unit. Pass it to Written for a size whose text was not
// kept.
func (s Size) SI() string {
	if s <= 0 || !strings.Contains(s.String(), ".") {
		return ""
	}
	for _, u := range []struct {
		n    Size
		name string
	}{{1e12, "TB"}, {1e9, "GB"}, {1e6, "MB"}, {1e3, "KB"}} {
		if s >= u.n && s%u.n == 0 {
			return fmt.Sprintf("%d%s", s/u.n, u.name)
		}
	}
	return ""
}

// Written renders s as the user wrote it, text, with the binary figure
// beside when it reads differently: "150MB (143.1 MiB)", "10 MiB". Without
// text it is s.String().
func (s Size) Written(text string) string {
	text = strings.TrimSpace(text)
	if text == "" {
		return s.String()
	}
	bin := s.String()
	if strings.EqualFold(strings.ReplaceAll(text, " ", ""), strings.ReplaceAll(bin, " ", "")) {
		return text
	}
	return text + " (" + bin + ")"
}
