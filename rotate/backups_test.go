package rotate

import (
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"
)

// TestBackups_LargeDirectory checks Backups in a directory of many other
// logs (read in batches): every backup of the log, plain or .gz, newest
// first; other logs' backups, other files and a directory named like a
// backup left out.
func TestBackups_LargeDirectory(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "app.log")
	touch := func(name string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	touch("app.log")
	for i := range 700 {
		touch("other-" + string(rune('a'+i%26)) + time.Duration(i).String() + ".log")
	}
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	var want []string
	for i := range 5 {
		name := "app-" + base.Add(time.Duration(i)*time.Minute).Format(backupLayout) + ".log"
		if i%2 == 0 {
			name += ".gz"
		}
		touch(name)
		want = append(want, filepath.Join(dir, name))
	}
	slices.Reverse(want)
	if err := os.Mkdir(filepath.Join(dir, "app-"+base.Add(time.Hour).Format(backupLayout)+".log"), 0o755); err != nil {
		t.Fatal(err)
	}
	got, err := Backups(path)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("Backups = %v\nwant %v", got, want)
	}
	if _, err := Backups(filepath.Join(dir, "missing", "app.log")); err == nil {
		t.Fatal("no error for a missing directory")
	}
}
