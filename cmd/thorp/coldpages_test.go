package main

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// rssFile is this process's resident file-backed memory in KiB.
func rssFile(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

func TestDropStartupPages_LetsGoOfTheExecutablesPages(t *testing.T) {
	before := rssFile(t)
	dropStartupPages()
	after := rssFile(t)
	t.Logf("RssFile %d → %d KiB", before, after)
	if after >= before {
		t.Fatalf("RssFile did not drop: %d → %d KiB", before, after)
	}
	// The process goes on running the code it let go of.
	if got := strings.Repeat("ok", 2); got != "okok" {
		t.Fatal(got)
	}
}
