package rotate

import (
	"compress/gzip"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"
)

// compressor gzips a File's rotated backups in the background, one at a
// time, so a burst of rotations never runs many compressions at once.
//
// thorp does this itself rather than through lumberjack because
// lumberjack's compression cannot be waited for: a thorp that stops right
// after a rotation would leave a half-written .gz next to the original,
// and readers would see its lines twice. Here each backup is written to a
// temporary name and renamed over, so a .gz is always whole, and Close
// waits for the compression under way. Compression uses gzip.BestSpeed: a
// log rotated every 10 MB should not cost a core.
type compressor struct {
	path string
	warn func(string)
	// retain returns retain_days and retain_files: backups that retention
	// is about to remove are not compressed.
	retain func() (days, files int)

	mu      sync.Mutex
	pending bool // a new run was asked for while one was under way
	running bool
	wg      sync.WaitGroup
}

// kick compresses every plain backup of the log, in the background. Safe
// for concurrent use.
func (c *compressor) kick() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.running {
		c.pending = true
		return
	}
	c.running = true
	c.wg.Add(1)
	go c.run()
}

func (c *compressor) run() {
	defer c.wg.Done()
	for {
		c.compressAll()
		c.mu.Lock()
		if !c.pending {
			c.running = false
			c.mu.Unlock()
			return
		}
		c.pending = false
		c.mu.Unlock()
	}
}

// wait blocks until no compression is under way.
func (c *compressor) wait() { c.wg.Wait() }

func (c *compressor) compressAll() {
	backups, err := Backups(c.path) // newest first
	if err != nil {
		return
	}
	days, files := c.retain()
	for i, b := range backups {
		if strings.HasSuffix(b, ".gz") {
			continue
		}
		if files > 0 && i >= files {
			continue // beyond retain_files: lumberjack removes it
		}
		if t, ok := backupTime(c.path, b); ok && days > 0 && time.Since(t) > time.Duration(days)*24*time.Hour {
			continue // older than retain_days: lumberjack removes it
		}
		if err := gzipFile(b); err != nil && !os.IsNotExist(err) && c.warn != nil {
			c.warn(fmt.Sprintf("log %s: cannot compress %s: %v; it stays uncompressed", c.path, b, err))
		}
	}
}

// gzipFile writes name.gz through a temporary file renamed into place,
// then removes name. A backup pruned meanwhile (ENOENT) is not an error.
// Neither file is opened through a symbolic link: a link at either name
// is an error and its target stays as it is.
func gzipFile(name string) error {
	src, err := openNoFollow(name, os.O_RDONLY, 0)
	if err != nil {
		return err
	}
	defer src.Close()
	st, err := src.Stat()
	if err != nil {
		return err
	}
	tmp := name + ".gz.tmp"
	dst, err := openNoFollow(tmp, os.O_CREATE|os.O_TRUNC|os.O_WRONLY, st.Mode().Perm())
	if err != nil {
		return err
	}
	zw, _ := gzip.NewWriterLevel(dst, gzip.BestSpeed)
	_, err = io.Copy(zw, src)
	if cerr := zw.Close(); err == nil {
		err = cerr
	}
	if cerr := dst.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, name+".gz")
	}
	if err != nil {
		os.Remove(tmp)
		return err
	}
	return os.Remove(name)
}
