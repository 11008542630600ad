package proc

import (
	"os"
	"strings"
	"testing"
)

// statLine builds a 52-field stat line around the given head ("pid (comm) state ppid pgid sid").
func statLine(head string, utime, stime, start, rss string) string {
	return head + " 0 -1 4194560 100 0 0 0 " + utime + " " + stime +
		" 0 0 20 0 1 0 " + start + " 10000000 " + rss +
		" 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"
}

func TestParseStat_Lines(t *testing.T) {
	tests := []struct {
		name    string
		line    string
		want    Stat
		wantErr string
	}{
		{
			name: "plain",
			line: statLine("1234 (node) S 1 1234 1234", "150", "50", "98765", "2560"),
			want: Stat{PID: 1234, Comm: "node", State: 'S', PPID: 1, PGID: 1234, SID: 1234, UTime: 150, STime: 50, Threads: 1, StartTime: 98765, RSSPages: 2560},
		},
		{
			name: "comm with spaces and parentheses",
			line: statLine("1234 (a) b) c) S 1 2 3", "1", "2", "3", "4"),
			want: Stat{PID: 1234, Comm: "a) b) c", State: 'S', PPID: 1, PGID: 2, SID: 3, UTime: 1, STime: 2, Threads: 1, StartTime: 3, RSSPages: 4},
		},
		{
			name: "comm that looks like fields",
			line: statLine("7 (x) R 1 1 1 0 -1 (y) Z 5 5 5) T 9 8 7", "0", "0", "11", "0"),
			want: Stat{PID: 7, Comm: "x) R 1 1 1 0 -1 (y) Z 5 5 5", State: 'T', PPID: 9, PGID: 8, SID: 7, Threads: 1, StartTime: 11},
		},
		{
			name: "empty comm",
			line: statLine("5 () Z 1 5 5", "3", "4", "9", "0"),
			want: Stat{PID: 5, Comm: "", State: 'Z', PPID: 1, PGID: 5, SID: 5, UTime: 3, STime: 4, Threads: 1, StartTime: 9},
		},
		{
			name: "kernel thread",
			line: statLine("3 (kworker/0:0-events) I 2 0 0", "0", "9", "3", "0"),
			want: Stat{PID: 3, Comm: "kworker/0:0-events", State: 'I', PPID: 2, Threads: 1, StartTime: 3, STime: 9},
		},
		{
			name: "no trailing newline, exactly 24 fields",
			line: "9 (short) S 1 9 9 0 -1 0 0 0 0 0 7 8 0 0 20 0 1 0 42 100 12",
			want: Stat{PID: 9, Comm: "short", State: 'S', PPID: 1, PGID: 9, SID: 9, UTime: 7, STime: 8, Threads: 1, StartTime: 42, RSSPages: 12},
		},
		{name: "empty", line: "", wantErr: "no command name"},
		{name: "no parentheses", line: "1234 node S 1 2 3", wantErr: "no command name"},
		{name: "bad pid", line: statLine("x1 (a) S 1 1 1", "0", "0", "0", "0"), wantErr: "bad pid"},
		{name: "too few fields", line: "9 (short) S 1 9 9 0 -1 0 0 0 0 0 7 8", wantErr: "want at least 24"},
		{name: "bad state", line: statLine("9 (a) SS 1 1 1", "0", "0", "0", "0"), wantErr: "bad value"},
		{name: "bad utime", line: statLine("9 (a) S 1 1 1", "-1", "0", "0", "0"), wantErr: "field 14"},
		{name: "bad rss", line: statLine("9 (a) S 1 1 1", "0", "0", "0", "1x"), wantErr: "field 24"},
		{name: "too long", line: strings.Repeat("1", maxStatSize+1), wantErr: "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseStat(strings.NewReader(tt.line))
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("ParseStat() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseStat() error = %v", err)
			}
			if got != tt.want {
				t.Errorf("ParseStat() =\n %+v, want\n %+v", got, tt.want)
			}
		})
	}
}

func TestParseStat_FixtureOddComm(t *testing.T) {
	f, err := os.Open("testdata/proc1/202/stat")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	s, err := ParseStat(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{PID: 202, Comm: "a) b) c", State: 'S', PPID: 201, PGID: 200, SID: 200, UTime: 1, STime: 1, Threads: 1, StartTime: 1002, RSSPages: 256}
	if s != want {
		t.Errorf("ParseStat() = %+v, want %+v", s, want)
	}
}

func TestParseStat_RealSelf(t *testing.T) {
	f, err := os.Open("/proc/self/stat")
	if err != nil {
		t.Skip("no /proc:", err)
	}
	defer f.Close()
	s, err := ParseStat(f)
	if err != nil {
		t.Fatal(err)
	}
	if s.PID != os.Getpid() || s.PPID != os.Getppid() || s.StartTime == 0 || s.RSSPages <= 0 {
		t.Errorf("ParseStat(/proc/self/stat) = %+v; pid %d ppid %d", s, os.Getpid(), os.Getppid())
	}
}
