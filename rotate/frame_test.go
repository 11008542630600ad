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

func TestFittingLines_Table(t *testing.T) {
	tests := []struct {
		b    string
		n    int
		want int
	}{
		{"", 3, 0},
		{"abc\n", 3, 4},
		{"abcd\n", 3, 0},
		{"ab\nabc\na\n", 3, 9},
		{"ab\nabcd\na\n", 3, 3}, // stops at the long line
		{"a\nb\nc\nd\ne\n", 1, 10},
		{"a\nbb\n", 1, 2},
		{"ab\nabc", 3, 3},          // a partial line is not taken
		{"ab\nabcdefgh", 3, 3},     // nor a partial line longer than n
		{"abcdefgh\nab\n", 3, 0},   // a long first line takes nothing
		{"ab\nab\nab\nabcd", 3, 9}, // windows of n+1 bytes, one after the other
	}
	for _, tt := range tests {
		if got := fittingLines([]byte(tt.b), tt.n); got != tt.want {
			t.Errorf("fittingLines(%q, %d) = %d, want %d", tt.b, tt.n, got, tt.want)
		}
	}
}
