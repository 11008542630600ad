package rotate

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"gopkg.in/natefinch/lumberjack.v2"
)

const (
	// retryInterval is how long a File drops lines after a write error
	// before it tries to reopen the file.
	retryInterval = time.Second
	// checkInterval is how often a write checks that the path still names
	// the open file (the directory may have been removed or the file
	// renamed by someone else).
	checkInterval = time.Second
	// warnInterval rate-limits Warn per File.
	warnInterval = time.Minute
	// hugeMB is lumberjack's MaxSize: large enough that it never rotates by
	// itself; File rotates exactly at Options.MaxSize instead.
	hugeMB = 1 << 30
	// backupLayout is lumberjack's timestamp in rotated file names.
	backupLayout = "2006-01-02T15-04-05.000"
)

// Stats are a File's counters since Open.
type Stats struct {
	// Bytes written to disk.
	Bytes int64
	// Lines written to disk (each piece of a cut line counts).
	Lines int64
	// Rotations done (size, time and manual).
	Rotations int64
	// DroppedBytes could not be written (write errors, overflow = "drop",
	// writes after Close).
	DroppedBytes int64
	// WriteErrors counts failed writes and rotations.
	WriteErrors int64
}

// File is one log file on disk, written in whole lines, rotated by size and
// time. Open one File per path for the life of the process. A File is safe
// for concurrent use: Copy, Write, Rotate, Truncate, Tick, SetOptions, Stats
// and Close may be called from any goroutine.
type File struct {
	path string
	opts atomic.Pointer[Options] // read without mu by Copy; written under mu

	mu         sync.Mutex
	lj         *lumberjack.Logger
	sched      schedule
	nextRotate time.Time
	timer      *time.Timer
	closed     bool
	size       int64 // bytes in the current file, valid when sizeKnown
	sizeKnown  bool
	ino        uint64 // inode of the current file, valid when inoKnown
	inoKnown   bool
	ljOpen     bool // lumberjack may hold the file open; false: its next write opens by name
	lastCheck  time.Time
	faulty     bool
	retryAt    time.Time
	lastBackup int64 // unix ms named by the latest backup, or later (lumberjack's name clock)
	gz         compressor

	bytes, lines, rotations, dropped, writeErrors atomic.Int64

	// warnMu guards lastWarn; it is taken without mu by Copy in drop mode,
	// which must not wait for a slow write.
	warnMu   sync.Mutex
	lastWarn time.Time
}

// Open returns the File for path, creating its directory if it can. It
// fails only for invalid options: a directory that cannot be created now
// is retried at each write, as for any write error.
func Open(path string, opts Options) (*File, error) {
	if err := opts.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w", path, err)
	}
	if err := CheckPath(abs); err != nil {
		return nil, err
	}
	_ = os.MkdirAll(filepath.Dir(abs), 0o755) // retried before each open
	f := &File{path: abs}
	f.gz.path = abs
	f.gz.retain = func() (int, int) {
		o := f.opts.Load()
		return o.RetainDays, o.RetainFiles
	}
	f.gz.warn = func(msg string) {
		if w := f.opts.Load().Warn; w != nil {
			w(msg)
		}
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyLocked(opts)
	if opts.Compress {
		f.gz.kick() // backups a previous thorp left uncompressed
	}
	return f, nil
}

// Path returns the absolute path of the current file. Safe for concurrent use.
func (f *File) Path() string { return f.path }

// SetOptions applies new options (a config reload). Invalid options change
// nothing and return the error. A changed rotation schedule starts from now.
// Safe for concurrent use.
func (f *File) SetOptions(opts Options) error {
	if err := opts.Validate(); err != nil {
		return fmt.Errorf("log %s: %w", f.path, err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.applyLocked(opts)
	return nil
}

func (f *File) applyLocked(opts Options) {
	old := f.opts.Load()
	sched, _ := parseSchedule(opts.Rotate) // validated
	f.opts.Store(&opts)
	if old == nil || old.RetainDays != opts.RetainDays || old.RetainFiles != opts.RetainFiles {
		// lumberjack's mill reads MaxAge and MaxBackups without a lock,
		// so new retention takes a new Logger.
		if f.lj != nil {
			_ = f.lj.Close()
		}
		f.lj = newLogger(f.path, opts)
		f.sizeKnown, f.inoKnown, f.ljOpen = false, false, false
	}
	if old == nil || old.Rotate != opts.Rotate {
		f.sched = sched
		f.nextRotate = sched.next(opts.now())
	}
	f.armLocked()
}

// newLogger returns the lumberjack.Logger that opens, renames and prunes
// the log at path. Its first write or rotation starts its mill goroutine,
// which prunes after each rotation. lumberjack v2.2.1's Close closes the
// file but leaves that goroutine parked on a channel, holding only the
// Logger (natefinch/lumberjack#205): one per File, and one more per
// retention change.
func newLogger(path string, o Options) *lumberjack.Logger {
	return &lumberjack.Logger{
		Filename:   path,
		MaxSize:    hugeMB,
		MaxAge:     o.RetainDays,
		MaxBackups: o.RetainFiles,
		LocalTime:  true,
		// Compression is ours (see compressor); lumberjack only renames
		// and prunes, which it does for .gz backups too.
		Compress: false,
	}
}

// writeLines writes p, which holds whole lines only, rotating by size
// between lines. It never fails: bytes that cannot be written are counted
// as dropped.
func (f *File) writeLines(p []byte) {
	if len(p) == 0 {
		return
	}
	f.mu.Lock()
	msg := f.writeLocked(p)
	warn := f.opts.Load().Warn
	f.mu.Unlock()
	if msg != "" && warn != nil {
		warn(msg)
	}
}

func (f *File) writeLocked(p []byte) (warning string) {
	if f.closed {
		f.dropped.Add(int64(len(p)))
		return ""
	}
	opts := f.opts.Load()
	now := opts.now()
	if f.faulty {
		if now.Before(f.retryAt) {
			f.dropped.Add(int64(len(p)))
			return ""
		}
		f.closeLocked()
	}
	f.checkLocked(now)
	for len(p) > 0 {
		chunk := p
		if max := opts.MaxSize; max > 0 && f.size+int64(len(p)) > max {
			if f.size > 0 {
				k := -1
				if room := max - f.size; room > 0 {
					k = bytes.LastIndexByte(p[:room], '\n')
				}
				if k < 0 {
					if err := f.rotateLocked(); err != nil {
						return f.faultLocked(now, err, len(p))
					}
					continue
				}
				chunk = p[:k+1]
			} else { // at least one line, even if longer than max
				k := bytes.LastIndexByte(p[:max], '\n')
				if k < 0 {
					if k = bytes.IndexByte(p, '\n'); k < 0 {
						k = len(p) - 1
					}
				}
				chunk = p[:k+1]
			}
		}
		if !f.ljOpen {
			if err := f.prepareLocked(); err != nil {
				return f.faultLocked(now, err, len(p))
			}
		}
		n, err := f.lj.Write(chunk)
		f.ljOpen = true
		if err != nil {
			// Keep whole lines only: cut a partly written line off again.
			keep := bytes.LastIndexByte(chunk[:n], '\n') + 1
			if keep < n {
				_ = truncateTo(f.path, f.size+int64(keep))
			}
			f.account(chunk[:keep])
			return f.faultLocked(now, fmt.Errorf("write: %w", err), len(p)-keep)
		}
		f.account(chunk)
		p = p[len(chunk):]
		if !f.inoKnown {
			if st, err := os.Lstat(f.path); err == nil {
				f.ino, f.inoKnown = inode(st), true
			}
		}
	}
	if f.faulty {
		f.faulty = false
		return f.warnLocked(now, fmt.Sprintf("log %s: writing again; %d bytes dropped in all", f.path, f.dropped.Load()))
	}
	return ""
}

func (f *File) account(p []byte) {
	f.size += int64(len(p))
	f.bytes.Add(int64(len(p)))
	f.lines.Add(int64(bytes.Count(p, []byte{'\n'})))
}

// checkLocked makes sure f.size is known and, at most every checkInterval,
// that the path still names the open file: when the directory was removed
// or the file renamed away, lumberjack would keep writing into the lost
// file, so it is closed and reopened (directory recreated) on this write.
func (f *File) checkLocked(now time.Time) {
	if f.sizeKnown && f.inoKnown && now.Sub(f.lastCheck) < checkInterval && !now.Before(f.lastCheck) {
		return
	}
	f.lastCheck = now
	st, err := os.Lstat(f.path)
	switch {
	case err != nil:
		f.closeLocked()
		f.size, f.sizeKnown = 0, true
	case f.inoKnown && inode(st) != f.ino:
		f.closeLocked()
		f.size, f.sizeKnown = st.Size(), true
	case !f.sizeKnown:
		f.size, f.sizeKnown = st.Size(), true
	}
}

// closeLocked closes the open file; lumberjack reopens it (appending, or
// creating it and its directory) on the next write.
func (f *File) closeLocked() {
	_ = f.lj.Close()
	f.sizeKnown, f.inoKnown, f.ljOpen = false, false, false
}

func (f *File) faultLocked(now time.Time, err error, dropped int) string {
	f.dropped.Add(int64(dropped))
	f.writeErrors.Add(1)
	f.closeLocked()
	f.faulty = true
	f.retryAt = now.Add(retryInterval)
	return f.warnLocked(now, fmt.Sprintf("log %s: %v; dropping lines until it can be written again (%d bytes dropped in all)",
		f.path, err, f.dropped.Load()))
}

// warnLocked returns msg when a warning may be given now, "" otherwise.
// It needs only warnMu, which it takes.
func (f *File) warnLocked(now time.Time, msg string) string {
	if f.opts.Load().Warn == nil {
		return ""
	}
	f.warnMu.Lock()
	defer f.warnMu.Unlock()
	if !f.lastWarn.IsZero() && now.Sub(f.lastWarn) < warnInterval && !now.Before(f.lastWarn) {
		return ""
	}
	f.lastWarn = now
	return msg
}

// rotateLocked renames the current file to a backup and starts a new one.
func (f *File) rotateLocked() error {
	// What is renamed must be the log, not a link.
	if err := CheckPath(f.path); err != nil {
		return fmt.Errorf("rotate: %w", err)
	}
	if err := f.renameAndReopen(); err != nil {
		f.sizeKnown, f.inoKnown, f.ljOpen = false, false, false
		return fmt.Errorf("rotate: %w", err)
	}
	f.ljOpen = true
	f.lastBackup = max(f.lastBackup, time.Now().UnixMilli())
	f.size, f.sizeKnown, f.inoKnown = 0, true, false
	f.rotations.Add(1)
	if f.opts.Load().Compress {
		f.gz.kick()
	}
	return nil
}

// renameAndReopen renames the current file to its backup name and has
// lumberjack start the new file and prune. lumberjack names a backup
// after the local time in milliseconds, as here, but its own Rotate would
// rename over an existing backup when two rotations fall within one
// millisecond (or after the clock stepped back): the name here is the
// first free millisecond after the last backup, so backups keep
// lumberjack's names and their order, and nothing waits. lumberjack's
// Rotate, finding no file at the path, only creates the new one and
// prunes. Its own rename would also leave it to truncate the new file it
// had just created (O_TRUNC on an existing empty file), which makes ext4
// flush that whole file to disk when it is closed at the next rotation,
// in the writing thread (auto_da_alloc): 6 % of thorp's CPU for a
// component writing 64 KiB chunks.
func (f *File) renameAndReopen() error {
	t := time.UnixMilli(max(time.Now().UnixMilli(), f.lastBackup+1))
	for i := 0; backupExists(f.path, t); i++ {
		if i == 1000 {
			return fmt.Errorf("no free backup name for %s in the second after %s", f.path, t.Format(backupLayout))
		}
		t = t.Add(time.Millisecond)
	}
	_ = f.lj.Close()
	st, err := os.Lstat(f.path)
	if err == nil {
		if err := os.Rename(f.path, backupName(f.path, t)); err != nil {
			return err
		}
		f.lastBackup = t.UnixMilli()
	}
	if err := f.lj.Rotate(); err != nil {
		return err
	}
	if st == nil || !st.Mode().IsRegular() {
		// Nothing was there, or something thorp did not create (a link
		// swapped in since the path was checked): the new file keeps the
		// mode and owner it was created with.
		return nil
	}
	// As lumberjack does when it renames: the new file gets the old one's
	// mode and owner, set through a descriptor that follows no link.
	nf, err := openNoFollow(f.path, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer nf.Close()
	if err := nf.Chmod(st.Mode().Perm()); err != nil {
		return err
	}
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return nf.Chown(int(s.Uid), int(s.Gid))
	}
	return nil
}

// backupName is lumberjack's name for a backup of the log at path rotated
// at t: the base name with the local time before the extension.
func backupName(path string, t time.Time) string {
	dir, base := filepath.Split(path)
	ext := filepath.Ext(base)
	return filepath.Join(dir, base[:len(base)-len(ext)]+"-"+t.Local().Format(backupLayout)+ext)
}

// backupExists reports whether a backup of path named after t exists,
// plain or compressed.
func backupExists(path string, t time.Time) bool {
	name := backupName(path, t)
	return exists(name) || exists(name+".gz")
}

func exists(name string) bool {
	_, err := os.Lstat(name)
	return err == nil
}

func inode(st os.FileInfo) uint64 {
	if s, ok := st.Sys().(*syscall.Stat_t); ok {
		return s.Ino
	}
	return 0
}

// Rotate rotates now: the current file becomes a backup (compressed and
// pruned in the background) and a new file starts. An empty file is not
// rotated. Safe for concurrent use; lines are never split.
func (f *File) Rotate() error {
	f.mu.Lock()
	err := f.rotateIfNotEmptyLocked()
	f.mu.Unlock()
	if err != nil {
		return fmt.Errorf("log %s: %w", f.path, err)
	}
	return nil
}

func (f *File) rotateIfNotEmptyLocked() error {
	if f.closed {
		return fmt.Errorf("rotate: file closed")
	}
	f.checkLocked(f.opts.Load().now())
	if f.size == 0 {
		return nil
	}
	if err := f.rotateLocked(); err != nil {
		f.writeErrors.Add(1)
		f.closeLocked()
		return err
	}
	return nil
}

// Tick rotates once if a time boundary (local midnight, top of the hour or
// the end of the duration) has passed by Options.Clock since the last time
// rotation, then re-arms the timer. The File's timer calls it; tests with
// an injected clock call it directly. Safe for concurrent use.
func (f *File) Tick() {
	f.mu.Lock()
	if f.closed || f.sched.kind == RotateNone {
		f.mu.Unlock()
		return
	}
	opts := f.opts.Load()
	now := opts.now()
	var msg string
	if !now.Before(f.nextRotate) {
		f.nextRotate = f.sched.next(now)
		if err := f.rotateIfNotEmptyLocked(); err != nil {
			msg = f.warnLocked(now, fmt.Sprintf("log %s: time rotation: %v", f.path, err))
		}
	}
	f.armLocked()
	f.mu.Unlock()
	if msg != "" && opts.Warn != nil {
		opts.Warn(msg)
	}
}

// armLocked sets the timer to the next boundary, waking at least once a
// minute so that wall-clock jumps (suspend, NTP) are noticed.
func (f *File) armLocked() {
	if f.timer != nil {
		f.timer.Stop()
	}
	if f.closed || f.sched.kind == RotateNone {
		return
	}
	d := min(max(f.nextRotate.Sub(f.opts.Load().now()), 10*time.Millisecond), time.Minute)
	if f.timer == nil {
		f.timer = time.AfterFunc(d, f.Tick)
		return
	}
	f.timer.Reset(d)
}

// Truncate empties the current file ("thorp flush") through a descriptor
// opened with O_NOFOLLOW (a symlink swapped in at the path is an error and
// its target stays as it is); backups are kept. Safe for concurrent use.
func (f *File) Truncate() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.closeLocked()
	if err := truncateTo(f.path, 0); err != nil {
		return fmt.Errorf("truncate log %s: %w", f.path, err)
	}
	f.size, f.sizeKnown = 0, true
	return nil
}

// Stats returns the counters. Safe for concurrent use.
func (f *File) Stats() Stats {
	return Stats{
		Bytes:        f.bytes.Load(),
		Lines:        f.lines.Load(),
		Rotations:    f.rotations.Load(),
		DroppedBytes: f.dropped.Load(),
		WriteErrors:  f.writeErrors.Load(),
	}
}

// Close stops the rotation timer and closes the file. Later writes are
// dropped and counted. Safe for concurrent use and to call twice.
func (f *File) Close() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.closed {
		return nil
	}
	f.closed = true
	if f.timer != nil {
		f.timer.Stop()
	}
	// A backup being compressed is finished, so no half-written .gz stays.
	f.gz.wait()
	if err := f.lj.Close(); err != nil {
		return fmt.Errorf("close log %s: %w", f.path, err)
	}
	return nil
}
