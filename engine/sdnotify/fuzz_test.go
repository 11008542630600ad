package sdnotify

import (
	"strings"
	"testing"
)

// FuzzParseMessage checks the notify-socket parser on arbitrary datagrams:
// it never panics; every key is a non-empty line's text before its first
// '=' (a line without one is a key with an empty value, as
// TestParseMessage_Fields documents), holds no '=' or newline, and maps to
// the value of that key's last line; no value holds a newline;
// READY/STOPPING/WATCHDOG/STATUS read the same fields.
func FuzzParseMessage(f *testing.F) {
	f.Add([]byte("READY=1"))
	f.Add([]byte("READY=1\nSTATUS=listening on :8080\nMAINPID=4242\n"))
	f.Add([]byte("WATCHDOG=1"))
	f.Add([]byte("STOPPING=1\n\n\nSTATUS=a=b=c"))
	f.Add([]byte("STATUS=first\nSTATUS=second"))
	f.Add([]byte("=\n==\nNOEQUALS\n\x00=\xff"))
	f.Add([]byte("RELOADING=1\nMONOTONIC_USEC=123456789"))
	f.Fuzz(func(t *testing.T, b []byte) {
		fields := ParseMessage(b)
		want := map[string]string{}
		for _, line := range strings.Split(string(b), "\n") {
			if line == "" {
				continue
			}
			k, v, _ := strings.Cut(line, "=")
			want[k] = v
		}
		if len(fields) != len(want) {
			t.Fatalf("%q: %d fields, want %d: %q", b, len(fields), len(want), fields)
		}
		for k, v := range fields {
			if strings.ContainsAny(k, "=\n") || strings.Contains(v, "\n") {
				t.Fatalf("%q: field %q=%q holds a separator", b, k, v)
			}
			if w, ok := want[k]; !ok || w != v {
				t.Fatalf("%q: field %q=%q, want %q (present %v)", b, k, v, w, ok)
			}
		}
		m := Message{Fields: fields}
		if m.Ready() != (fields["READY"] == "1") || m.Stopping() != (fields["STOPPING"] == "1") || m.Watchdog() != (fields["WATCHDOG"] == "1") {
			t.Fatalf("%q: flags disagree with fields %q", b, fields)
		}
		_, hasStatus := want["STATUS"]
		if s, ok := m.Status(); ok != hasStatus || s != fields["STATUS"] {
			t.Fatalf("%q: Status() = %q, %v", b, s, ok)
		}
	})
}
