package rotate

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"github.com/klauspost/compress/gzip"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// followPoll is how often Follow looks for new lines and rotations.
const followPoll = 200 * time.Millisecond

// backupTime returns the rotation time in a backup's name (lumberjack's
// local-time layout) for the log at path.
func backupTime(path, backup string) (time.Time, bool) {
	base := filepath.Base(path)
	ext := filepath.Ext(base)
	prefix := base[:len(base)-len(ext)] + "-"
	name := filepath.Base(backup)
	if !strings.HasPrefix(name, prefix) {
		return time.Time{}, false
	}
	rest := strings.TrimSuffix(name[len(prefix):], ".gz")
	if !strings.HasSuffix(rest, ext) {
		return time.Time{}, false
	}
	t, err := time.ParseInLocation(backupLayout, rest[:len(rest)-len(ext)], time.Local)
	return t, err == nil
}

// Backups returns the rotated files of the log at path (lumberjack names,
// plain or .gz), newest first. Safe for concurrent use.
func Backups(path string) ([]string, error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	ext := filepath.Ext(base)
	prefix := base[:len(base)-len(ext)] + "-"
	type backup struct {
		name string
		t    time.Time
	}
	var found []backup
	// The directory is read a batch of names at a time: it usually holds
	// every component's logs, and each log's compressor lists it when the
	// log is opened, so listing it whole would make a start with many
	// components allocate (and keep at once) quadratic memory.
	d, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("list backups of %s: %w", path, err)
	}
	defer d.Close()
	for {
		names, err := d.Readdirnames(256)
		for _, name := range names {
			if !strings.HasPrefix(name, prefix) {
				continue
			}
			t, ok := backupTime(path, name)
			if !ok {
				continue
			}
			full := filepath.Join(dir, name)
			if st, err := os.Lstat(full); err != nil || st.IsDir() {
				continue // gone meanwhile, or not a backup
			}
			found = append(found, backup{full, t})
		}
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list backups of %s: %w", path, err)
		}
	}
	// While a backup is being compressed, its .gz (whole: it is renamed
	// into place) and the original exist for a moment: list it once.
	gz := map[string]bool{}
	for _, b := range found {
		if strings.HasSuffix(b.name, ".gz") {
			gz[strings.TrimSuffix(b.name, ".gz")] = true
		}
	}
	found = slices.DeleteFunc(found, func(b backup) bool { return gz[b.name] })
	slices.SortFunc(found, func(a, b backup) int { return b.t.Compare(a.t) })
	names := make([]string, len(found))
	for i, b := range found {
		names[i] = b.name
	}
	return names, nil
}

// Tail returns the last n lines of the log at path, oldest first. When the
// current file has fewer, it continues into the rotated files, newest first
// (plain or gzipped). A missing current file counts as empty. Safe for
// concurrent use.
func Tail(path string, n int) ([]string, error) {
	if n <= 0 {
		return nil, nil
	}
	lines, err := tailFile(path, n, false)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	if len(lines) >= n {
		return lines, nil
	}
	backups, err := Backups(path)
	if err != nil {
		if len(lines) > 0 || errors.Is(err, os.ErrNotExist) {
			return lines, nil
		}
		return nil, err
	}
	for _, b := range backups {
		more, err := tailFile(b, n-len(lines), strings.HasSuffix(b, ".gz"))
		if err != nil {
			continue // pruned or being compressed meanwhile
		}
		lines = append(more, lines...)
		if len(lines) >= n {
			break
		}
	}
	return lines, nil
}

// tailFile returns the last n lines of one file.
func tailFile(name string, n int, gz bool) ([]string, error) {
	fh, err := os.Open(name)
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", name, err)
	}
	defer fh.Close()
	if gz {
		zr, err := gzip.NewReader(fh)
		if err != nil {
			return nil, fmt.Errorf("tail %s: %w", name, err)
		}
		return lastLines(zr, n, name)
	}
	// Read backwards in blocks until n newlines are seen.
	st, err := fh.Stat()
	if err != nil {
		return nil, fmt.Errorf("tail %s: %w", name, err)
	}
	const block = 64 << 10
	end := st.Size()
	start := end
	for start > 0 {
		start = max(0, start-block)
		buf := make([]byte, end-start)
		if _, err := fh.ReadAt(buf, start); err != nil && !errors.Is(err, io.EOF) {
			return nil, fmt.Errorf("tail %s: %w", name, err)
		}
		if bytes.Count(buf, []byte{'\n'}) > n {
			break
		}
		if start == 0 {
			break
		}
	}
	if _, err := fh.Seek(start, io.SeekStart); err != nil {
		return nil, fmt.Errorf("tail %s: %w", name, err)
	}
	lines, err := lastLines(fh, n+1, name)
	if err != nil {
		return nil, err
	}
	if start > 0 && len(lines) > 0 {
		lines = lines[1:] // may begin mid-line
	}
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return lines, nil
}

// lastLines keeps the last n lines of r in a ring.
func lastLines(r io.Reader, n int, name string) ([]string, error) {
	ring := make([]string, 0, min(n, 4096))
	next := 0
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		if len(ring) < n {
			ring = append(ring, sc.Text())
			continue
		}
		ring[next] = sc.Text()
		next = (next + 1) % n
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("tail %s: %w", name, err)
	}
	return append(ring[next:], ring[:next]...), nil
}

// Follow calls fn with each whole line appended to the log at path from
// byte offset from (negative: from the current end) until ctx is done, and
// then returns nil. It follows rotation (the path renamed away and
// recreated: the rest of the old file is read first), truncation (reading
// restarts at 0) and a file that does not exist yet. It polls every 200ms.
// fn runs in Follow's goroutine.
func Follow(ctx context.Context, path string, from int64, fn func(line string)) error {
	fo := &follower{path: path, fn: fn}
	defer fo.close()
	if err := fo.open(from); err != nil {
		return err
	}
	t := time.NewTicker(followPoll)
	defer t.Stop()
	for {
		if err := fo.poll(); err != nil {
			return err
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

type follower struct {
	path    string
	fn      func(string)
	fh      *os.File
	ino     uint64
	off     int64
	partial []byte
	buf     []byte
	// sig is up to sigLen bytes ending at off, to notice a truncated file
	// that grew back past off between two polls.
	sig []byte
}

const sigLen = 64

func (fo *follower) close() {
	if fo.fh != nil {
		_ = fo.fh.Close()
		fo.fh = nil
	}
}

// open opens the path at offset from; a missing file is not an error.
func (fo *follower) open(from int64) error {
	fh, err := os.Open(fo.path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("follow %s: %w", fo.path, err)
	}
	st, err := fh.Stat()
	if err != nil {
		fh.Close()
		return fmt.Errorf("follow %s: %w", fo.path, err)
	}
	if from < 0 || from > st.Size() {
		from = st.Size()
	}
	fo.fh, fo.ino, fo.off, fo.partial = fh, inode(st), from, fo.partial[:0]
	fo.sig = fo.sig[:0]
	if from > 0 {
		fo.sig = make([]byte, min(from, sigLen))
		if _, err := fh.ReadAt(fo.sig, from-int64(len(fo.sig))); err != nil {
			fo.sig = fo.sig[:0]
		}
	}
	return nil
}

func (fo *follower) poll() error {
	if fo.fh == nil {
		return fo.open(0)
	}
	if fo.truncated() {
		fo.off, fo.partial, fo.sig = 0, fo.partial[:0], fo.sig[:0]
	}
	if err := fo.drain(); err != nil {
		return err
	}
	st, err := os.Stat(fo.path)
	if err != nil || inode(st) == fo.ino {
		return nil // same file, or not recreated yet
	}
	// Rotated: the old file is complete (drained above); go on in the new one.
	if len(fo.partial) > 0 {
		fo.fn(string(fo.partial))
	}
	fo.close()
	if err := fo.open(0); err != nil {
		return err
	}
	return fo.drain()
}

// truncated reports whether the file shrank below off, or was rewritten so
// that the bytes before off changed.
func (fo *follower) truncated() bool {
	st, err := fo.fh.Stat()
	if err != nil {
		return false
	}
	if st.Size() < fo.off {
		return true
	}
	if len(fo.sig) == 0 {
		return false
	}
	var b [sigLen]byte
	n, _ := fo.fh.ReadAt(b[:len(fo.sig)], fo.off-int64(len(fo.sig)))
	return !bytes.Equal(b[:n], fo.sig)
}

// drain reads from off to the end and calls fn for each whole line.
func (fo *follower) drain() error {
	if fo.buf == nil {
		fo.buf = make([]byte, 64<<10)
	}
	for {
		n, err := fo.fh.ReadAt(fo.buf, fo.off)
		fo.off += int64(n)
		b := fo.buf[:n]
		if n >= sigLen {
			fo.sig = append(fo.sig[:0], b[n-sigLen:]...)
		} else if n > 0 {
			fo.sig = append(fo.sig, b...)
			if len(fo.sig) > sigLen {
				fo.sig = fo.sig[:copy(fo.sig, fo.sig[len(fo.sig)-sigLen:])]
			}
		}
		for len(b) > 0 {
			i := bytes.IndexByte(b, '\n')
			if i < 0 {
				fo.partial = append(fo.partial, b...)
				break
			}
			if len(fo.partial) > 0 {
				fo.fn(string(append(fo.partial, b[:i]...)))
				fo.partial = fo.partial[:0]
			} else {
				fo.fn(string(b[:i]))
			}
			b = b[i+1:]
		}
		if errors.Is(err, io.EOF) || n == 0 {
			return nil
		}
		if err != nil {
			return fmt.Errorf("follow %s: %w", fo.path, err)
		}
	}
}

// ParseTime returns the time of a log line: its timestamp prefix (text),
// its "time" field (json) or, for a line of Go's log/slog text handler
// (thorp's own log), its leading time=… attribute. ok is false when the
// line has none of them.
func ParseTime(line string) (t time.Time, ok bool) {
	if rest, found := strings.CutPrefix(line, "time="); found {
		stamp, _, _ := strings.Cut(rest, " ")
		t, err := time.Parse(time.RFC3339Nano, stamp)
		return t, err == nil
	}
	if strings.HasPrefix(line, "{") {
		var v struct {
			Time string `json:"time"`
		}
		if json.Unmarshal([]byte(line), &v) != nil || v.Time == "" {
			return time.Time{}, false
		}
		t, err := time.Parse(time.RFC3339Nano, v.Time)
		return t, err == nil
	}
	stamp, _, found := strings.Cut(line, " ")
	if !found || len(stamp) < len("2006-01-02T15:04:05Z") || stamp[4] != '-' {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, stamp)
	return t, err == nil
}
