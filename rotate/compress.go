package rotate

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/klauspost/compress/gzip"
)

// compressor gzips a File's rotated backups in the background, one at a
// time, so a burst of rotations never runs many compressions at once.
//
// thorp does this itself rather than through lumberjack because
// lumberjack's compression cannot be waited for: a thorp that stops right
// after a rotation would leave a half-written .gz next to the original,
// and readers would see its lines twice. Here each backup is written to a
// temporary name and renamed over, so a .gz is always whole, and Close
// waits for the compression under way. Compression uses gzip.BestSpeed
// (klauspost/compress, about twice as fast as compress/gzip at that level):
// a log rotated every 10 MB should not cost a core.
//
// Compression yields to everything else thorp does: one backup at a time
// is compressed in the process (gzipTurns), whatever the number of logs,
// and a compression gives up its processor after every block it
// reads (see yieldingReader), so supervision, health checks and copying
// output to the logs wait at most one block's compression (about 0.1 ms)
// instead of the Go scheduler's 10 ms time slice. It does not run on a
// thread at a lower OS priority (nice): on a busy machine such a thread
// waits long for the CPU while running Go code, and the garbage
// collector, which must stop it to scan its stack, waits with it, and so
// does every goroutine that allocates meanwhile — supervision included.
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
			gzipTurns.letGoIfIdle()
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
	var todo []string
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
		todo = append(todo, b)
	}
	for i, b := range todo {
		gz := gzipTurns.take()
		err := gzipFile(b, gz)
		gzipTurns.give(i < len(todo)-1 || c.isPending())
		if err != nil && !os.IsNotExist(err) && c.warn != nil {
			c.warn(fmt.Sprintf("log %s: cannot compress %s: %v; it stays uncompressed", c.path, b, err))
		}
	}
}

// isPending reports whether a rotation asked for another run meanwhile.
func (c *compressor) isPending() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.pending
}

// gzipTurn is the turn to compress a backup, one at a time over every File
// of the process (a burst of rotations in many logs is compressed one
// backup after the other instead of taking every core), and the gzipper
// the turns use.
//
// The gzipper (about 1 MiB: the encoder's history, tokens and hash table,
// and the buffers) is kept from one turn to the next while backups wait
// to be compressed, and let go by the turn after which none does, so an
// idle thorp holds none. In a sync.Pool, as before, the collections that a
// flood of log lines causes took it while rotations still came: each one
// after that allocated a new gzipper while the last was garbage, and a
// 1,000,000-line flood peaked about 0.5–1 MiB higher.
type gzipTurn struct {
	mu      sync.Mutex   // held for one backup's compression
	waiting atomic.Int32 // goroutines waiting in take
	gz      *gzipper     // kept between turns while backups wait; guarded by mu
}

// gzipTurns is the process's one compression turn.
var gzipTurns gzipTurn

// take waits for the turn and returns the gzipper to compress with.
func (t *gzipTurn) take() *gzipper {
	t.waiting.Add(1)
	t.mu.Lock()
	t.waiting.Add(-1)
	if t.gz == nil {
		t.gz = newGzipper()
	}
	return t.gz
}

// give ends the turn. more says the caller has another backup to
// compress: when it has none and nobody waits for the turn, the gzipper is
// let go.
func (t *gzipTurn) give(more bool) {
	if !more && t.waiting.Load() == 0 {
		t.gz = nil
	}
	t.mu.Unlock()
}

// letGoIfIdle lets go of a gzipper kept for a backup that was gone by the
// time its turn came: called when a compressor has nothing left to do.
// A turn under way decides for itself when it ends.
func (t *gzipTurn) letGoIfIdle() {
	if t.mu.TryLock() {
		t.give(false)
	}
}

// yieldingReader reads r, giving up the processor (runtime.Gosched)
// before each read so that other goroutines run between the blocks a
// compression reads. As a plain io.Reader it also keeps io.CopyBuffer from
// using the source file's WriteTo, which would take a buffer of its own.
type yieldingReader struct{ r io.Reader }

func (y yieldingReader) Read(p []byte) (int, error) {
	runtime.Gosched()
	return y.r.Read(p)
}

// gzipper is a gzip writer, a buffer for its output and a read buffer,
// kept by gzipTurns between compressions: the writer's tables are most of
// a compression's garbage, so back-to-back rotations reuse them, and an
// idle thorp lets the GC take them.
//
// The gzip writer hands its output on in pieces of about 240 bytes (its
// bit writer's buffer): written straight to the file, that was a write(2)
// for every 240 compressed bytes, 26,000 of them for 200 MB of log lines,
// costing more CPU than the compression itself. out collects them.
type gzipper struct {
	zw  *gzip.Writer
	out *bufio.Writer
	buf []byte
}

// gzipOutSize is a gzipper's output buffer: the .gz is written in pieces
// this large.
const gzipOutSize = 16 << 10

func newGzipper() *gzipper {
	zw, _ := gzip.NewWriterLevel(io.Discard, gzip.BestSpeed) // valid level: no error
	return &gzipper{zw: zw, out: bufio.NewWriterSize(io.Discard, gzipOutSize), buf: make([]byte, 128<<10)}
}

// gzipFile writes name.gz with gz through a temporary file renamed into place,
// then removes name. A backup pruned meanwhile (ENOENT) is not an error.
// Neither file is opened through a symbolic link: a link at either name
// is an error and its target stays as it is.
func gzipFile(name string, gz *gzipper) error {
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
	gz.out.Reset(dst)
	gz.zw.Reset(gz.out)
	_, err = io.CopyBuffer(gz.zw, yieldingReader{src}, gz.buf)
	if cerr := gz.zw.Close(); err == nil {
		err = cerr
	}
	if ferr := gz.out.Flush(); err == nil {
		err = ferr
	}
	gz.out.Reset(io.Discard) // the pool keeps no file
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
