package rotate

import (
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"
	"unicode/utf8"
)

// fuzzReader hands out data in reads of the sizes the fuzzer picks, so the
// carried partial line and the fast path both get exercised.
type fuzzReader struct {
	data  []byte
	sizes []byte
}

func (r *fuzzReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := len(r.data)
	if len(r.sizes) > 0 {
		n = 1 + int(r.sizes[0])*37
		r.sizes = r.sizes[1:]
	}
	n = min(n, len(r.data), len(p))
	copy(p, r.data[:n])
	r.data = r.data[n:]
	return n, nil
}

// FuzzFrame feeds arbitrary output through File.Copy in every framing mode
// and checks the log: every input line comes out whole and in order (pieces
// of a line longer than max_line end in CutMarker, are at most max_line
// bytes and never split a UTF-8 sequence), nothing is lost or added, a last
// line without a newline is completed, timestamp prefixes parse, and every
// json line is a valid JSON object whose msg is the line (invalid UTF-8 as
// U+FFFD, as encoding/json writes it).
func FuzzFrame(f *testing.F) {
	f.Add([]byte("hello\nworld\n"), byte(0), uint8(0), []byte{})
	f.Add([]byte("no newline at the end"), byte(1), uint8(3), []byte{2})
	f.Add([]byte("\n\n\r\n\x00\x1b[31mred\x1b[0m\n"), byte(2), uint8(0), []byte{0, 0, 0})
	f.Add(bytes.Repeat([]byte("é€😀x"), 100), byte(3), uint8(1), []byte{1, 5})
	f.Add([]byte("\xff\xfe\xe2\x82\n\xf0\x9f\x98\x80\u2028\"\\\t"), byte(2), uint8(0), []byte{})
	f.Add(bytes.Repeat([]byte("a"), 5000), byte(0), uint8(255), []byte{7, 200})
	f.Fuzz(func(t *testing.T, data []byte, mode byte, maxLine uint8, sizes []byte) {
		// The input never holds the marker itself, so a piece ending in it
		// was cut by the framer.
		data = bytes.ReplaceAll(data, []byte("[cut]"), []byte("[cu_]"))
		at := time.Date(2026, 11, 27, 16, 30, 0, 123e6, time.UTC)
		opts := Options{
			Timestamps: mode&1 != 0,
			MaxLine:    minMaxLine + int(maxLine),
			Clock:      func() time.Time { return at },
		}
		if mode&2 != 0 {
			opts.Format = FormatJSON
		}
		path := filepath.Join(t.TempDir(), "out.log")
		lf, err := Open(path, opts)
		if err != nil {
			t.Fatal(err)
		}
		src := Source{Component: "web", Stream: StreamOut, PID: 42}
		if err := lf.Copy(&fuzzReader{data: data, sizes: sizes}, src); err != nil {
			t.Fatal(err)
		}
		if err := lf.Close(); err != nil {
			t.Fatal(err)
		}
		out, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		want := data
		if len(want) > 0 && want[len(want)-1] != '\n' {
			want = append(want[:len(want):len(want)], '\n')
		}
		if opts.Format == FormatJSON {
			// What survives a JSON round trip: invalid bytes become U+FFFD.
			want = []byte(string([]rune(string(want))))
		}
		if len(out) > 0 && out[len(out)-1] != '\n' {
			t.Fatalf("output does not end in a newline: %q", out)
		}
		stamp := at.Format(TimeLayout)
		var got []byte
		for line := range bytes.SplitSeq(out, []byte("\n")) {
			if len(line) == 0 && len(got) == len(want) {
				continue // after the last newline
			}
			var piece []byte
			if opts.Format == FormatJSON {
				var rec struct {
					Time      string `json:"time"`
					Component string `json:"component"`
					Stream    string `json:"stream"`
					PID       int    `json:"pid"`
					Msg       string `json:"msg"`
				}
				if !json.Valid(line) {
					t.Fatalf("invalid JSON line %q", line)
				}
				if err := json.Unmarshal(line, &rec); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				if rec.Time != stamp || rec.Component != src.Component || rec.Stream != src.Stream || rec.PID != src.PID {
					t.Fatalf("line %q: wrong fields %+v", line, rec)
				}
				piece = []byte(rec.Msg)
			} else {
				piece = line
				if opts.Timestamps {
					prefix := stamp + " "
					if !bytes.HasPrefix(piece, []byte(prefix)) {
						t.Fatalf("line %q lacks the prefix %q", line, prefix)
					}
					piece = piece[len(prefix):]
				}
			}
			cut := bytes.HasSuffix(piece, []byte(CutMarker))
			if cut {
				piece = piece[:len(piece)-len(CutMarker)]
			}
			if opts.Format != FormatJSON && len(piece) > opts.MaxLine {
				t.Fatalf("piece of %d bytes, max_line %d: %q", len(piece), opts.MaxLine, line)
			}
			if cut && opts.Format != FormatJSON && len(piece) > 0 && !utf8.RuneStart(data[len(got)+len(piece)]) {
				t.Fatalf("cut inside a UTF-8 sequence: %q", line)
			}
			got = append(got, piece...)
			if !cut {
				got = append(got, '\n')
			}
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("lines changed:\n in: %q\nout: %q\nlog: %q", want, got, out)
		}
	})
}
