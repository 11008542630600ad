package promlabel

import "testing"

func TestEscape(t *testing.T) {
	for in, want := range map[string]string{
		"api":              "api",
		`a"b`:              `a\"b`,
		`c:\dir`:           `c:\\dir`,
		"two\nlines":       `two\nlines`,
		"\\\"\n":           `\\\"\n`,
		"tab\tand ünicode": "tab\tand ünicode",
	} {
		if got := Escape(in); got != want {
			t.Errorf("Escape(%q) = %q, want %q", in, got, want)
		}
	}
}
