package config

import (
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestParseSize(t *testing.T) {
	tests := []struct {
		in      string
		want    Size
		wantErr string
	}{
		{in: "0", want: 0},
		{in: "512", want: 512},
		{in: "512B", want: 512},
		{in: "10K", want: 10 << 10},
		{in: "10k", want: 10 << 10},
		{in: "10M", want: 10 << 20},
		{in: "2G", want: 2 << 30},
		{in: "150MB", want: 150_000_000},
		{in: "150mb", want: 150_000_000},
		{in: "150Mb", want: 150_000_000},
		{in: "1KB", want: 1000},
		{in: "1GB", want: 1_000_000_000},
		{in: "64KiB", want: 64 << 10},
		{in: "1.5GiB", want: 3 << 29},
		{in: "1.5 GiB", want: 3 << 29},
		{in: " 10Mi ", want: 10 << 20},
		{in: "0.5K", want: 512},
		{in: "12XB", wantErr: `"12XB" is not a size (use a number of bytes or units like "150MB", "10M", "1.5GiB")`},
		{in: "", wantErr: `"" is not a size (use a number of bytes or units like "150MB", "10M", "1.5GiB")`},
		{in: "MB", wantErr: `"MB" is not a size (use a number of bytes or units like "150MB", "10M", "1.5GiB")`},
		{in: "1.2.3MB", wantErr: `"1.2.3MB" is not a size (use a number of bytes or units like "150MB", "10M", "1.5GiB")`},
		{in: "-5MB", wantErr: `"-5MB" is negative; a size must be 0 or more`},
		{in: "99999999999T", wantErr: `"99999999999T" is too large a size`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSize(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseSize(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSize(%q) = %d, %v; want %d", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSize_String(t *testing.T) {
	tests := []struct {
		in   Size
		want string
	}{
		{0, "0 B"},
		{512, "512 B"},
		{1024, "1 KiB"},
		{1536, "1.5 KiB"},
		{10 << 20, "10 MiB"},
		{150_000_000, "143.1 MiB"},
		{3 << 29, "1.5 GiB"},
		{2 << 40, "2 TiB"},
	}
	for _, tt := range tests {
		if got := tt.in.String(); got != tt.want {
			t.Errorf("Size(%d).String() = %q, want %q", int64(tt.in), got, tt.want)
		}
	}
}

func TestParseSignal(t *testing.T) {
	tests := []struct {
		in      string
		want    Signal
		wantErr string
	}{
		{in: "SIGTERM", want: Signal(syscall.SIGTERM)},
		{in: "TERM", want: Signal(syscall.SIGTERM)},
		{in: "sigterm", want: Signal(syscall.SIGTERM)},
		{in: "int", want: Signal(syscall.SIGINT)},
		{in: "15", want: Signal(syscall.SIGTERM)},
		{in: "SIGUSR2", want: Signal(syscall.SIGUSR2)},
		{in: "SIGFOO", wantErr: `"SIGFOO" is not a signal (use a name like "SIGTERM", "INT" or a number)`},
		{in: "0", wantErr: `"0" is not a signal number (1..64)`},
		{in: "65", wantErr: `"65" is not a signal number (1..64)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseSignal(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseSignal(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseSignal(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestSignal_String(t *testing.T) {
	if got := Signal(syscall.SIGTERM).String(); got != "SIGTERM" {
		t.Errorf("String() = %q, want SIGTERM", got)
	}
	if got := Signal(syscall.SIGKILL).String(); got != "SIGKILL" {
		t.Errorf("String() = %q, want SIGKILL", got)
	}
}

func TestParseDuration(t *testing.T) {
	tests := []struct {
		in      string
		want    time.Duration
		wantErr string
	}{
		{in: "4s", want: 4 * time.Second},
		{in: "500ms", want: 500 * time.Millisecond},
		{in: "30m", want: 30 * time.Minute},
		{in: "1h30m", want: 90 * time.Minute},
		{in: "0s", want: 0},
		{in: "0", want: 0},
		{in: "30", want: 30 * time.Second},
		{in: "0.5", want: 500 * time.Millisecond},
		{in: "-4s", wantErr: `"-4s" is negative; a duration must be 0 or more`},
		{in: "-1", wantErr: `"-1" is negative; a duration must be 0 or more`},
		{in: "4 seconds", wantErr: `"4 seconds" is not a duration (use Go syntax like "4s", "500ms", "30m", or a number of seconds)`},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := ParseDuration(tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("ParseDuration(%q) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("ParseDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
			}
		})
	}
}

// TestConvert_Values covers the values Lua hands over (numbers are float64).
func TestConvert_Values(t *testing.T) {
	tests := []struct {
		name    string
		typ     reflect.Type
		in      any
		want    any
		wantErr string
	}{
		{name: "duration seconds", typ: durationType, in: 4.0, want: 4 * time.Second},
		{name: "duration fraction", typ: durationType, in: 0.5, want: 500 * time.Millisecond},
		{name: "duration negative", typ: durationType, in: -2.0, wantErr: "-2 is negative; a duration must be 0 or more"},
		{name: "duration bool", typ: durationType, in: true, wantErr: `expected a duration like "4s" or a number of seconds, got true`},
		{name: "size number", typ: sizeType, in: 1024.0, want: Size(1024)},
		{name: "size bool", typ: sizeType, in: false, wantErr: `expected a size like "150MB" or a number of bytes, got false`},
		{name: "int whole", typ: reflect.TypeFor[int](), in: 8080.0, want: 8080},
		{name: "int fraction", typ: reflect.TypeFor[int](), in: 8080.5, wantErr: "expected a whole number, got 8080.5"},
		{name: "int string", typ: reflect.TypeFor[int](), in: "10", wantErr: `expected a whole number, got "10"`},
		{name: "string number", typ: reflect.TypeFor[string](), in: 5.0, wantErr: "expected a string, got 5"},
		{name: "bool string", typ: reflect.TypeFor[bool](), in: "yes", wantErr: `expected true or false, got "yes"`},
		{name: "list empty table", typ: reflect.TypeFor[[]int](), in: map[string]any{}, want: []int{}},
		{name: "list item", typ: reflect.TypeFor[[]int](), in: []any{1.0, "x"}, wantErr: `item 2: expected a whole number, got "x"`},
		{name: "string list single", typ: reflect.TypeFor[[]string](), in: "db", want: []string{"db"}},
		{name: "env lenient", typ: reflect.TypeFor[map[string]string](), in: map[string]any{"A": 1.0, "B": true, "C": "x"}, want: map[string]string{"A": "1", "B": "true", "C": "x"}},
		{name: "env table value", typ: reflect.TypeFor[map[string]string](), in: map[string]any{"A": map[string]any{"x": 1.0}}, wantErr: "A: expected a string, got a table"},
		{name: "command list", typ: commandType, in: []any{"node", "a.js"}, want: Command{Argv: []string{"node", "a.js"}}},
		{name: "command string", typ: commandType, in: "echo hi", want: Command{Argv: []string{"/bin/sh", "-c", "echo hi"}, Shell: true}},
		{name: "command empty", typ: commandType, in: map[string]any{}, wantErr: `is empty; give a list like { "node", "app.js" } or a shell command string`},
		{name: "command empty program", typ: commandType, in: []any{"", "x"}, wantErr: "item 1 (the program) is empty"},
		{name: "command number item", typ: commandType, in: []any{"node", 3.0}, wantErr: "item 2: expected a string, got 3"},
		{name: "signal number", typ: signalType, in: 9.0, want: Signal(syscall.SIGKILL)},
		{name: "struct from string", typ: reflect.TypeFor[LogSettings](), in: "x", wantErr: `expected a table, got "x"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := convert(tt.typ, tt.in)
			if tt.wantErr != "" {
				if err == nil || err.Error() != tt.wantErr {
					t.Fatalf("convert(%v) error = %v, want %q", tt.in, err, tt.wantErr)
				}
				return
			}
			if err != nil || !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("convert(%v) = %#v, %v; want %#v", tt.in, got, err, tt.want)
			}
		})
	}
}

func TestParseMemTotal(t *testing.T) {
	got, err := parseMemTotal(strings.NewReader("MemTotal:       16303584 kB\nMemFree:         1234 kB\n"))
	if err != nil || got != Size(16303584*1024) {
		t.Fatalf("parseMemTotal = %d, %v", got, err)
	}
	if _, err := parseMemTotal(strings.NewReader("MemFree: 1 kB\n")); err == nil {
		t.Fatal("parseMemTotal without MemTotal: want error")
	}
}
