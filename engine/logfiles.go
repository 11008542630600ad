package engine

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/rotate"
)

// logFiles is a Supervisor's registry of open log files: one rotate.File
// per path, shared by every component and instance that writes there and
// kept across reloads, and the goroutines copying children's output into
// them. Its methods are safe for concurrent use.
type logFiles struct {
	log *slog.Logger

	mu     sync.Mutex
	files  map[string]*rotate.File
	pipes  map[io.Closer]struct{} // read ends being copied from
	copies sync.WaitGroup         // goroutines copying children's output
}

func newLogFiles(log *slog.Logger) *logFiles {
	return &logFiles{log: log, files: map[string]*rotate.File{}, pipes: map[io.Closer]struct{}{}}
}

// openComponent returns the output and error logs of cc's instance i (the
// same file with merge_logs; the same for every instance unless a path
// holds {instance}), opening them on first use. The paths it opened for
// the first time are appended to opened when it is not nil, so that a
// reload that fails can discard them again.
func (l *logFiles) openComponent(cc *config.Component, i int, opened *[]string) (out, errLog *rotate.File, err error) {
	if out, err = l.open(cc.OutLogFor(i), cc.Logs, opened); err != nil {
		return nil, nil, err
	}
	if cc.MergeLogs {
		return out, out, nil
	}
	if errLog, err = l.open(cc.ErrLogFor(i), cc.Logs, opened); err != nil {
		return nil, nil, err
	}
	return out, errLog, nil
}

// open returns the one rotate.File for path, opening it on first use (and
// then appending path to opened when it is not nil).
func (l *logFiles) open(path string, ls config.LogSettings, opened *[]string) (*rotate.File, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if f := l.files[path]; f != nil {
		return f, nil
	}
	f, err := rotate.Open(path, l.options(path, ls))
	if err == nil {
		err = f.Probe()
		if err != nil {
			_ = f.Close()
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open log %s: %w (check that the log directory is writable)", path, err)
	}
	l.files[path] = f
	if opened != nil {
		*opened = append(*opened, path)
	}
	return f, nil
}

// discard closes and forgets the files at paths, which openComponent
// opened for a reload that failed: nothing writes to them.
func (l *logFiles) discard(paths []string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, path := range paths {
		if f := l.files[path]; f != nil {
			if err := f.Close(); err != nil {
				l.log.Warn("close unused log", "log", path, "err", err)
			}
			delete(l.files, path)
		}
	}
}

// options are the writer options for the log at path.
func (l *logFiles) options(path string, ls config.LogSettings) rotate.Options {
	opts := LogOptions(ls)
	opts.Warn = func(msg string) { l.log.Warn(msg, "log", path) }
	return opts
}

// copy copies r (read from pipe) into f on a goroutine of its own until
// EOF, then closes pipe. Owner: l.copies; drain waits for it.
func (l *logFiles) copy(pipe io.Closer, r io.Reader, f *rotate.File, src rotate.Source, log *slog.Logger) {
	l.mu.Lock()
	l.pipes[pipe] = struct{}{}
	l.mu.Unlock()
	l.copies.Add(1)
	go func() {
		defer l.copies.Done()
		defer l.closePipe(pipe)
		if err := f.Copy(r, src); err != nil && !errors.Is(err, os.ErrClosed) {
			log.Warn("reading output", "stream", src.Stream, "err", err)
		}
	}()
}

// closePipe closes pipe once, whether its copy ended or drain cut it.
func (l *logFiles) closePipe(pipe io.Closer) {
	l.mu.Lock()
	_, open := l.pipes[pipe]
	delete(l.pipes, pipe)
	l.mu.Unlock()
	if open {
		_ = pipe.Close()
	}
}

// drain waits for the copying goroutines to reach EOF, at most d: a
// descendant that outlived its group could hold a pipe open forever. After
// d it closes the read ends still open, which ends their copies (what
// was read is written whole), and waits for them.
func (l *logFiles) drain(d time.Duration) {
	done := make(chan struct{})
	go func() { // owner: drain, which returns only once done is closed
		l.copies.Wait()
		close(done)
	}()
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-done:
		return
	case <-t.C:
	}
	l.mu.Lock()
	open := make([]io.Closer, 0, len(l.pipes))
	for p := range l.pipes {
		open = append(open, p)
	}
	l.mu.Unlock()
	l.log.Warn("output pipes still open after the components stopped (a descendant outlived its group); closing them", "pipes", len(open), "after", d)
	for _, p := range open {
		l.closePipe(p)
	}
	<-done
}

// close closes every file; a second call finds none left.
func (l *logFiles) close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for path, f := range l.files {
		errs = append(errs, f.Close())
		delete(l.files, path)
	}
	return errors.Join(errs...)
}

// instanceLogs returns the [out, err] files of instance i: the
// component's own unless its paths hold {instance}, in which case i's are
// opened on its first start. Loop only.
func (c *component) instanceLogs(i int) ([2]*rotate.File, error) {
	if i == 0 || !c.cfg.PerInstanceLogs() {
		return c.logs[0], nil
	}
	for len(c.logs) <= i {
		c.logs = append(c.logs, [2]*rotate.File{})
	}
	if c.logs[i][0] == nil {
		out, errLog, err := c.sup.logs.openComponent(c.cfg, i, nil)
		if err != nil {
			return [2]*rotate.File{}, err
		}
		c.logs[i] = [2]*rotate.File{out, errLog}
	}
	return c.logs[i], nil
}

// setLogs takes a reload's files for instance 0 (out, errLog) and those of
// the other instances that had files of their own under the new config,
// whose log settings reach them too; one that fails to open is tried
// again when its instance next starts. Loop only.
func (c *component) setLogs(out, errLog *rotate.File) {
	had := len(c.logs)
	c.logs = [][2]*rotate.File{{out, errLog}}
	for i := 1; i < had && c.cfg.PerInstanceLogs(); i++ {
		f, err := c.instanceLogs(i)
		if err != nil {
			c.log.Warn("open instance log", "instance", i, "err", err)
			continue
		}
		_ = f[0].SetOptions(c.sup.logs.options(c.cfg.OutLogFor(i), c.cfg.Logs))
		_ = f[1].SetOptions(c.sup.logs.options(c.cfg.ErrLogFor(i), c.cfg.Logs))
	}
}
