package main

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"
)

// termSafe returns s fit to print on a terminal: C0 and C1 control
// characters, DEL, other non-printable runes (such as bidirectional
// overrides) and invalid UTF-8 are written as Go escapes (\x1b, \u009b,
// \u202e, \xff); printable UTF-8 stays as it is. Every name, message,
// reason, exit detail and path the CLI prints for people goes through it,
// so a component name, an event message or a state file cannot move the
// cursor, recolour or retitle the operator's terminal. JSON output needs
// no such care (encoding/json escapes controls). It is safe for
// concurrent use.
func termSafe(s string) string {
	i := 0
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || !strconv.IsPrint(r) {
			break
		}
		i += size
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:i])
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1, r < utf8.RuneSelf && !strconv.IsPrint(r):
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case !strconv.IsPrint(r) && r <= 0xffff:
			fmt.Fprintf(&b, `\u%04x`, r)
		case !strconv.IsPrint(r):
			fmt.Fprintf(&b, `\U%08x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// termSafeErr is termSafe of err's message.
func termSafeErr(err error) string { return termSafe(err.Error()) }
