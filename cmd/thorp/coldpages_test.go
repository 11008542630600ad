package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"
)

// rssFile is this process's resident file-backed memory in KiB.
func rssFile(t *testing.T) int {
	t.Helper()
	return rssFileOf(t, "self")
}

// rssFileOf is the resident file-backed memory of process pid ("self"
// or a number) in KiB.
func rssFileOf(t *testing.T, pid string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/" + pid + "/status")
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

// startDropper runs a pageDropper with quiet whose drops are counted on
// the returned channel, until the test ends.
func startDropper(t *testing.T, quiet time.Duration) (*pageDropper, chan struct{}) {
	t.Helper()
	drops := make(chan struct{}, 10)
	p := newPageDropper(quiet, func() { drops <- struct{}{} })
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { // owner: the cleanup below
		defer close(done)
		p.run(ctx)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
	})
	return p, drops
}

func TestPageDropper_DropsOnceQuietAfterABurstOfPokes(t *testing.T) {
	const quiet = 50 * time.Millisecond
	p, drops := startDropper(t, quiet)
	start := time.Now()
	for range 5 {
		p.Poke()
	}
	select {
	case <-drops:
	case <-time.After(10 * time.Second):
		t.Fatal("no drop within 10s of the pokes")
	}
	if d := time.Since(start); d < quiet {
		t.Fatalf("dropped %s after the pokes, before %s of quiet", d, quiet)
	}
	// The burst was one activity: no second drop follows it.
	select {
	case <-drops:
		t.Fatal("a second drop after one burst of pokes")
	case <-time.After(10 * quiet):
	}
	// A later poke is another activity.
	p.Poke()
	select {
	case <-drops:
	case <-time.After(10 * time.Second):
		t.Fatal("no drop within 10s of the second poke")
	}
}

func TestPageDropper_IdleWithoutPokesNeverDrops(t *testing.T) {
	const quiet = 20 * time.Millisecond
	_, drops := startDropper(t, quiet)
	select {
	case <-drops:
		t.Fatal("dropped without a poke")
	case <-time.After(20 * quiet):
	}
}

// thorp run lets go of what a thorp command made resident once it has
// been quiet for quietBeforeDrop: its RssFile falls by over a MiB after
// a few thorp status (each answered on the control socket).
func TestRun_DropsPagesOnceQuietAfterACommand(t *testing.T) {
	var cfg strings.Builder
	cfg.WriteString("settings { http = \"\" }\n")
	for i := range 5 {
		fmt.Fprintf(&cfg, "component \"idle-%d\" { command = { \"sleep\", \"100000\" } }\n", i)
	}
	path := writeConfig(t, cfg.String())
	r := startThorp(t, path)
	pid := strconv.Itoa(r.cmd.Process.Pid)
	waitFor(t, 30*time.Second, "5 components running", func() bool {
		st := status(t, path)
		n := 0
		for _, c := range st.Components {
			if c.State == "running" {
				n++
			}
		}
		return n == 5
	})
	for range 3 {
		if _, errOut, code := thorpCmd(t, "status", "-c", path); code != 0 {
			t.Fatalf("status: %s", errOut)
		}
	}
	after := rssFileOf(t, pid)
	// Read from /proc only from here on: nothing pokes thorp.
	lowest := after
	deadline := time.Now().Add(quietBeforeDrop + 20*time.Second)
	for lowest > after-1024 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
		lowest = min(lowest, rssFileOf(t, pid))
	}
	t.Logf("thorp's RssFile after thorp status %d KiB, lowest since %d KiB", after, lowest)
	if lowest > after-1024 {
		t.Fatalf("thorp's RssFile did not fall by 1 MiB within %s of the last command: %d → %d KiB",
			quietBeforeDrop+20*time.Second, after, lowest)
	}
}
