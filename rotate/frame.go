package rotate

import (
	"bytes"
	"strconv"
	"time"
	"unicode/utf8"
)

// framer turns raw lines into framed ones (timestamp prefix or a JSON
// object, cut markers) appended to out. It is not safe for concurrent use.
type framer struct {
	opts    *Options
	maxLine int
	json    bool
	stamp   []byte // the time of the current chunk, formatted, when stampOK
	stampOK bool
	jsonMid []byte // `","component":…,"instance":…,"msg":"` for the source
	out     []byte
	// flush is called when out grows past flushAt; it must leave out empty
	// (or replace it with an empty buffer).
	flush   func()
	flushAt int
}

func newFramer(src Source, flushAt int, flush func()) *framer {
	return &framer{jsonMid: appendJSONMid(nil, src), flush: flush, flushAt: flushAt}
}

// appendJSONMid appends what follows the time in src's JSON lines:
// `","component":…,"instance":…,"msg":"`.
func appendJSONMid(mid []byte, src Source) []byte {
	mid = append(mid, `","component":`...)
	mid = appendJSONString(mid, []byte(src.Component))
	mid = append(mid, `,"stream":`...)
	mid = appendJSONString(mid, []byte(src.Stream))
	mid = append(mid, `,"instance":`...)
	mid = strconv.AppendInt(mid, int64(src.Instance), 10)
	mid = append(mid, `,"pid":`...)
	mid = strconv.AppendInt(mid, int64(src.PID), 10)
	return append(mid, `,"msg":"`...)
}

// AppendJSONLine appends line (without its newline) as the JSON object a
// log file in FormatJSON holds for src at t, newline included.
func AppendJSONLine(dst []byte, t time.Time, src Source, line []byte) []byte {
	dst = append(dst, `{"time":"`...)
	dst = t.AppendFormat(dst, TimeLayout)
	dst = appendJSONMid(dst, src)
	dst = appendJSONBody(dst, line)
	return append(dst, "\"}\n"...)
}

// begin starts a chunk read at one moment, with the File's current options.
func (fr *framer) begin(opts *Options) {
	fr.opts = opts
	fr.maxLine = opts.maxLine()
	fr.json = opts.Format == FormatJSON
	fr.stampOK = false
}

// plain reports whether framing leaves lines as they are (text, no time).
func (fr *framer) plain() bool { return !fr.json && !fr.opts.Timestamps }

// now returns the chunk's time, formatted, followed by a space (the text
// prefix); the time alone is now()[:len-1].
func (fr *framer) now() []byte {
	if !fr.stampOK {
		fr.stamp = append(fr.opts.now().AppendFormat(fr.stamp[:0], TimeLayout), ' ')
		fr.stampOK = true
	}
	return fr.stamp
}

// stampedLines frames the whole lines at the front of b as text lines
// with the time in front (Options.Timestamps), two appends a line, and
// returns the rest of b: from the first line longer than maxLine, or the
// partial line at its end.
func (fr *framer) stampedLines(b []byte) []byte {
	prefix := fr.now()
	for {
		i := bytes.IndexByte(b, '\n')
		if i < 0 || i > fr.maxLine {
			return b
		}
		fr.out = append(fr.out, prefix...)
		fr.out = append(fr.out, b[:i+1]...)
		b = b[i+1:]
		if len(fr.out) >= fr.flushAt {
			fr.flush()
		}
	}
}

// line appends b (without its newline) as one or more framed lines, cut
// into pieces of at most maxLine bytes on rune boundaries.
func (fr *framer) line(b []byte) {
	for len(b) > fr.maxLine {
		k := CutPoint(b, fr.maxLine)
		fr.piece(b[:k], true)
		b = b[k:]
	}
	fr.piece(b, false)
}

func (fr *framer) piece(b []byte, cut bool) {
	if fr.json {
		fr.out = append(fr.out, `{"time":"`...)
		stamp := fr.now()
		fr.out = append(fr.out, stamp[:len(stamp)-1]...)
		fr.out = append(fr.out, fr.jsonMid...)
		fr.out = appendJSONBody(fr.out, b)
		if cut {
			fr.out = appendJSONBody(fr.out, []byte(CutMarker))
		}
		fr.out = append(fr.out, "\"}\n"...)
	} else {
		if fr.opts.Timestamps {
			fr.out = append(fr.out, fr.now()...)
		}
		fr.out = append(fr.out, b...)
		if cut {
			fr.out = append(fr.out, CutMarker...)
		}
		fr.out = append(fr.out, '\n')
	}
	if len(fr.out) >= fr.flushAt {
		fr.flush()
	}
}

// CutPoint returns where to cut b (longer than n) so that the piece is at
// most n bytes and does not end inside a UTF-8 sequence.
func CutPoint(b []byte, n int) int {
	for k := n; k > n-utf8.UTFMax && k > 0; k-- {
		if utf8.RuneStart(b[k]) {
			return k
		}
	}
	return n
}

// fittingLines returns the length of the run of whole lines at the front
// of b that are each at most n bytes without their newline: each window of
// n+1 bytes from a line's start must hold its newline.
func fittingLines(b []byte, n int) int {
	k := 0
	for len(b)-k > n+1 {
		i := bytes.LastIndexByte(b[k:k+n+1], '\n')
		if i < 0 {
			return k
		}
		k += i + 1
	}
	return k + bytes.LastIndexByte(b[k:], '\n') + 1
}

const hexDigits = "0123456789abcdef"

func appendJSONString(dst, s []byte) []byte {
	dst = append(dst, '"')
	dst = appendJSONBody(dst, s)
	return append(dst, '"')
}

// appendJSONBody appends s escaped for a JSON string; invalid UTF-8 becomes
// U+FFFD as encoding/json does.
func appendJSONBody(dst, s []byte) []byte {
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	return append(dst, s[start:]...)
}
