package rotate

import (
	"encoding/json"
	"testing"
)

func TestAppendJSONString_MatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"b\s`, "tab\tnl\ncr\r", "\x00\x1f\x7f", "héllo ✓", "bad\xff\xfeutf8", "\u2028\u2029", "<&>"} {
		got := appendJSONString(nil, []byte(s))
		var back string
		if err := json.Unmarshal(got, &back); err != nil {
			t.Errorf("%q: %s is not JSON: %v", s, got, err)
			continue
		}
		want, _ := json.Marshal(s)
		var wantBack string
		json.Unmarshal(want, &wantBack)
		if back != wantBack {
			t.Errorf("%q: round trip %q, want %q", s, back, wantBack)
		}
	}
}

func TestCutPoint_RuneBoundary(t *testing.T) {
	b := []byte("aaé✓z") // a a [c3 a9] [e2 9c 93] z
	tests := []struct{ n, want int }{{2, 2}, {3, 2}, {4, 4}, {5, 4}, {6, 4}, {7, 7}}
	for _, tt := range tests {
		if got := CutPoint(b, tt.n); got != tt.want {
			t.Errorf("CutPoint(%d) = %d, want %d", tt.n, got, tt.want)
		}
	}
}

func TestLinesFit_Table(t *testing.T) {
	tests := []struct {
		b    string
		n    int
		want bool
	}{
		{"", 3, true},
		{"abc\n", 3, true},
		{"abcd\n", 3, false},
		{"ab\nabc\na\n", 3, true},
		{"ab\nabcd\na\n", 3, false},
		{"a\nb\nc\nd\ne\n", 1, true},
		{"a\nbb\n", 1, false},
	}
	for _, tt := range tests {
		if got := linesFit([]byte(tt.b), tt.n); got != tt.want {
			t.Errorf("linesFit(%q, %d) = %v, want %v", tt.b, tt.n, got, tt.want)
		}
	}
}
