// Package fswatch watches files and directory trees for changes, with
// fsnotify: every directory below a watched directory is watched, those
// created later included, except what an ignore pattern matches; changes
// are debounced into one call per delay. It knows nothing of processes.
//
// A Watcher owns one goroutine, started by New and ended (and waited for)
// by Close. It follows no symbolic link and changes nothing on disk.
package fswatch

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options configure a Watcher.
type Options struct {
	// Paths are the absolute files and directories to watch; a directory
	// is watched with everything below it.
	Paths []string
	// Ignore are patterns of paths whose changes count for nothing (and
	// directories that are not watched). A pattern without '/' is a glob
	// matched against each name below a watched path ("node_modules",
	// "*.log"), so a watched path itself is never ignored by one; a
	// pattern with '/' is a path, relative to Base unless absolute,
	// ignored with everything below it, or a glob matched against the
	// whole path.
	Ignore []string
	// Base is the directory relative patterns are relative to.
	Base string
	// Delay is the debounce window: the first change starts it, and one
	// call reports every change until it ends.
	Delay time.Duration
	// MaxDirs bounds the number of watched directories (each is one
	// inotify watch); more is an error from New, and a warning (the new
	// directory is not watched) later.
	MaxDirs int
	// Changed is called once per window with the first changed path and
	// the number of paths changed in it, from the Watcher's goroutine; it must not
	// block.
	Changed func(first string, n int)
	// Warn is called, from the Watcher's goroutine, for what the watch
	// cannot follow: a directory beyond MaxDirs, one it cannot read, or
	// events the kernel dropped (counted as a change). It must not block.
	Warn func(msg string)
}

// Watcher watches the paths of its Options until Close.
type Watcher struct {
	opts  Options
	fsw   *fsnotify.Watcher
	dirs  map[string]bool // watched recursively; the goroutine's after New
	files map[string]bool // watched files (their directories are watched)
	done  chan struct{}
	wg    sync.WaitGroup
	once  sync.Once
}

// New starts watching opts.Paths. A path that does not exist, or more
// directories than opts.MaxDirs, is an error naming the path; nothing is
// left running then.
func New(opts Options) (*Watcher, error) {
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("watch: %w", err)
	}
	w := &Watcher{opts: opts, fsw: fsw, dirs: map[string]bool{}, files: map[string]bool{}, done: make(chan struct{})}
	for _, p := range opts.Paths {
		if err := w.addRoot(p); err != nil {
			_ = fsw.Close()
			return nil, err
		}
	}
	w.wg.Add(1)
	go func() { // owner: w.wg; Close waits
		defer w.wg.Done()
		w.run()
	}()
	return w, nil
}

// Check finds what New would refuse (a path that does not exist, more
// directories than opts.MaxDirs, a directory it cannot read) without
// watching anything: for thorp check.
func Check(opts Options) error {
	w := &Watcher{opts: opts, dirs: map[string]bool{}, files: map[string]bool{}}
	for _, p := range opts.Paths {
		if err := w.addRoot(p); err != nil {
			return err
		}
	}
	return nil
}

// Close stops watching and waits for the Watcher's goroutine; Changed is
// not called after it returns. Safe to call more than once.
func (w *Watcher) Close() error {
	var err error
	w.once.Do(func() {
		close(w.done)
		err = w.fsw.Close()
		w.wg.Wait()
	})
	return err
}

// ErrTooMany is wrapped by the error of a watch that would need more than
// MaxDirs directories.
var ErrTooMany = errors.New("too many directories to watch")

func (w *Watcher) addRoot(p string) error {
	fi, err := os.Lstat(p)
	if err != nil {
		return fmt.Errorf("watch: %w", err)
	}
	if !fi.IsDir() {
		dir := filepath.Dir(p)
		if !w.dirs[dir] {
			if err := w.watchDir(dir, p); err != nil {
				return err
			}
		}
		w.files[p] = true
		return nil
	}
	return w.addTree(p, p, func(dir string, err error) error { return err })
}

// addTree watches dir and every directory below it that is not ignored;
// root is the watched path it belongs to. onErr decides what an error
// does: returned, the walk stops with it.
func (w *Watcher) addTree(root, dir string, onErr func(string, error) error) error {
	return filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if p == dir {
				return onErr(p, fmt.Errorf("watch: %w", err))
			}
			return onErr(p, fmt.Errorf("watch: cannot read %s: %w", p, err))
		}
		if !d.IsDir() {
			return nil
		}
		if p != root && w.ignored(root, p) {
			return filepath.SkipDir
		}
		if w.dirs[p] {
			return nil
		}
		if err := w.watchDir(p, root); err != nil {
			if e := onErr(p, err); e != nil {
				return e
			}
			return filepath.SkipDir
		}
		return nil
	})
}

// watchDir adds one directory watch, within MaxDirs.
func (w *Watcher) watchDir(dir, root string) error {
	if w.opts.MaxDirs > 0 && len(w.dirs) >= w.opts.MaxDirs {
		return fmt.Errorf("watch: %w: more than %d under %s (at %s); add what changes nothing to watch.ignore", ErrTooMany, w.opts.MaxDirs, root, dir)
	}
	if w.fsw != nil { // nil for Check
		if err := w.fsw.Add(dir); err != nil {
			return fmt.Errorf("watch: %s: %w", dir, err)
		}
	}
	w.dirs[dir] = true
	return nil
}

// ignored reports whether p, below root, matches an ignore pattern.
func (w *Watcher) ignored(root, p string) bool {
	rel, err := filepath.Rel(root, p)
	if err != nil || rel == "." || strings.HasPrefix(rel, "..") {
		return false
	}
	names := strings.Split(filepath.ToSlash(rel), "/")
	for _, pat := range w.opts.Ignore {
		if !strings.Contains(pat, "/") {
			for _, n := range names {
				if ok, _ := path.Match(pat, n); ok {
					return true
				}
			}
			continue
		}
		full := pat
		if !filepath.IsAbs(full) {
			full = filepath.Join(w.opts.Base, full)
		}
		full = filepath.Clean(full)
		if p == full || strings.HasPrefix(p, full+string(filepath.Separator)) {
			return true
		}
		if ok, _ := path.Match(full, p); ok {
			return true
		}
	}
	return false
}

// rootOf returns the watched directory p is below, "" when none.
func (w *Watcher) rootOf(p string) string {
	best := ""
	for _, r := range w.opts.Paths {
		if (p == r || strings.HasPrefix(p, r+string(filepath.Separator))) && len(r) > len(best) && !w.files[r] {
			best = r
		}
	}
	return best
}

// relevant reports whether an event on p counts: a watched file, or a
// path below a watched directory that no pattern ignores.
func (w *Watcher) relevant(p string) bool {
	if w.files[p] {
		return true
	}
	root := w.rootOf(p)
	return root != "" && !w.ignored(root, p)
}

func (w *Watcher) run() {
	var (
		timer   *time.Timer
		fire    <-chan time.Time
		first   string
		changed = map[string]bool{} // the paths changed in this window
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			if !w.relevant(ev.Name) {
				continue
			}
			if ev.Has(fsnotify.Create) {
				w.follow(ev.Name)
			}
			if ev.Has(fsnotify.Remove) || ev.Has(fsnotify.Rename) {
				w.forget(ev.Name)
			}
			if len(changed) == 0 {
				first = ev.Name
				timer = time.NewTimer(w.opts.Delay)
				fire = timer.C
			}
			changed[ev.Name] = true
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			if w.opts.Warn != nil {
				w.opts.Warn(err.Error())
			}
			if errors.Is(err, fsnotify.ErrEventOverflow) && len(changed) == 0 {
				first = "(events dropped by the kernel)"
				changed[first] = true
				timer = time.NewTimer(w.opts.Delay)
				fire = timer.C
			}
		case <-fire:
			fire, timer = nil, nil
			select {
			case <-w.done:
				return
			default:
			}
			w.opts.Changed(first, len(changed))
			clear(changed)
		}
	}
}

// follow watches a directory created below a watched one, with what it
// already holds (created before its watch was in place).
func (w *Watcher) follow(p string) {
	fi, err := os.Lstat(p)
	if err != nil || !fi.IsDir() {
		return
	}
	root := w.rootOf(p)
	if root == "" {
		return
	}
	_ = w.addTree(root, p, func(dir string, err error) error {
		if w.opts.Warn != nil {
			w.opts.Warn(err.Error())
		}
		if errors.Is(err, ErrTooMany) {
			return err // stop: every further one would say the same
		}
		return nil
	})
}

// forget drops a removed or renamed directory and what was below it from
// the count (the kernel has dropped their watches, or will on removal).
func (w *Watcher) forget(p string) {
	if !w.dirs[p] {
		return
	}
	for d := range w.dirs {
		if d == p || strings.HasPrefix(d, p+string(filepath.Separator)) {
			_ = w.fsw.Remove(d)
			delete(w.dirs, d)
		}
	}
}
