package web

import (
	"bytes"
	"github.com/thorp-dev/thorp/engine/promlabel"
	"path/filepath"
	"slices"
)

// The filesystems that hold the components' logs, so that an alert can
// fire before a full disk drops log lines (examples/observability).
var (
	famLogFSAvail = family{"thorp_log_filesystem_avail_bytes", "gauge", "Bytes available to unprivileged users on the filesystem of a directory holding logs, by dir."}
	famLogFSSize  = family{"thorp_log_filesystem_size_bytes", "gauge", "Size of the filesystem of a directory holding logs, by dir."}
)

// fsSpace is what statfs says of one filesystem.
type fsSpace struct {
	avail, size uint64
}

// logDirs returns the directories of every log file in comps, sorted,
// without duplicates.
func logDirs(comps []scrapeComponent) []string {
	var dirs []string
	for i := range comps {
		for _, ls := range comps[i].st.Logs {
			if ls.Path == "" {
				continue
			}
			// Most logs share a directory: skip the one just added.
			if dir := filepath.Dir(ls.Path); len(dirs) == 0 || dirs[len(dirs)-1] != dir {
				dirs = append(dirs, dir)
			}
		}
	}
	slices.Sort(dirs)
	return slices.Compact(dirs)
}

// writeLogFilesystems writes the thorp_log_filesystem_* families: one
// series per directory that holds a log, from one statfs each. A directory
// that cannot be read (removed since) has no series; no family is written
// when no component logs to a file.
func writeLogFilesystems(out *bytes.Buffer, comps []scrapeComponent) {
	dirs := logDirs(comps)
	space := make([]fsSpace, len(dirs))
	known := make([]bool, len(dirs))
	found := false
	for i, dir := range dirs {
		space[i], known[i] = statFS(dir)
		found = found || known[i]
	}
	if !found {
		return
	}
	for _, f := range []struct {
		fam   family
		value func(fsSpace) uint64
	}{
		{famLogFSAvail, func(s fsSpace) uint64 { return s.avail }},
		{famLogFSSize, func(s fsSpace) uint64 { return s.size }},
	} {
		writeMetadata(out, f.fam)
		for i, dir := range dirs {
			if known[i] {
				out.WriteString(f.fam.name + `{dir="` + promlabel.Escape(dir) + `"} `)
				writeUint(out, f.value(space[i]))
			}
		}
	}
}
