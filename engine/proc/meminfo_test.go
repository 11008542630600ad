package proc

import (
	"os"
	"os/exec"
	"strings"
	"testing"
)

func TestParseSmapsRollup_Fixture(t *testing.T) {
	f, err := os.Open("testdata/smaps_rollup")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	pss, rss, err := ParseSmapsRollup(f)
	if err != nil {
		t.Fatal(err)
	}
	if pss != 340*1024 || rss != 1744*1024 {
		t.Errorf("ParseSmapsRollup() = pss %d, rss %d; want %d, %d", pss, rss, 340*1024, 1744*1024)
	}
}

func TestParseSmapsRollup_Errors(t *testing.T) {
	tests := []struct{ name, in, wantErr string }{
		{"empty", "", "no Pss or Rss"},
		{"only Pss_Anon", "Rss: 10 kB\nPss_Anon: 5 kB\n", "no Pss or Rss"},
		{"bad number", "Rss: 10 kB\nPss: ten kB\n", "Pss: bad value"},
		{"negative", "Rss: -10 kB\nPss: 1 kB\n", "Rss: bad value"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, _, err := ParseSmapsRollup(strings.NewReader(tt.in))
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("ParseSmapsRollup() error = %v, want %q", err, tt.wantErr)
			}
		})
	}
}

func TestParseSmapsRollup_RealSelf(t *testing.T) {
	f, err := os.Open("/proc/self/smaps_rollup")
	if err != nil {
		t.Skip("no smaps_rollup:", err)
	}
	defer f.Close()
	pss, rss, err := ParseSmapsRollup(f)
	if err != nil {
		t.Fatal(err)
	}
	if pss <= 0 || rss < pss {
		t.Errorf("ParseSmapsRollup(self) = pss %d, rss %d; want 0 < pss <= rss", pss, rss)
	}
}

func TestParseStatusVmRSS_Fixture(t *testing.T) {
	f, err := os.Open("testdata/status")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got, err := ParseStatusVmRSS(f)
	if err != nil {
		t.Fatal(err)
	}
	if got != 1692*1024 {
		t.Errorf("ParseStatusVmRSS() = %d, want %d", got, 1692*1024)
	}
}

func TestParseStatusVmRSS_KernelThread(t *testing.T) {
	// Kernel threads have no Vm* lines.
	_, err := ParseStatusVmRSS(strings.NewReader("Name:\tkthreadd\nState:\tS (sleeping)\nPid:\t2\n"))
	if err == nil || !strings.Contains(err.Error(), "no VmRSS") {
		t.Errorf("ParseStatusVmRSS() error = %v, want no VmRSS", err)
	}
}

func TestParseStatusVmRSS_TooLarge(t *testing.T) {
	_, err := ParseStatusVmRSS(strings.NewReader(strings.Repeat("x", maxKVFileSize+1)))
	if err == nil {
		t.Error("ParseStatusVmRSS() of a huge input: no error")
	}
}

func TestReadVmRSS_SelfAndGone(t *testing.T) {
	self, err := ReadVmRSS(0)
	if err != nil || self < 1<<20 {
		t.Fatalf("ReadVmRSS(0) = %d, %v: want this test's own resident memory", self, err)
	}
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	if n, err := ReadVmRSS(cmd.Process.Pid); err == nil {
		t.Fatalf("ReadVmRSS of the reaped pid %d = %d, want an error", cmd.Process.Pid, n)
	}
}
