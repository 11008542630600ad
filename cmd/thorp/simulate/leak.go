package simulate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// leakTick is how often Leak allocates its next chunk.
const leakTick = 50 * time.Millisecond

// pageSize is the stride at which Leak touches its chunks.
const pageSize = 4096

// LeakOptions configure the leak workload.
type LeakOptions struct {
	// Rate is the growth in bytes per second; it must be positive.
	Rate int64
	// Max stops the growth once this many bytes are allocated; 0 = no limit.
	// (`thorp simulate leak` defaults it to 1GB so a forgotten leak cannot
	// take the machine down.)
	Max int64
	// Addr makes leak an HTTP server as well (see HTTP); "" runs a plain
	// process unless a socket is inherited (LISTEN_FDS).
	Addr string
	// StatusEvery is the period of the status line; 0 means one second.
	StatusEvery time.Duration
	// Plain makes leak an app that knows nothing of its supervisor, as
	// HTTPOptions.Plain does: its own listener on Addr, no notifications.
	Plain bool
}

// Leak grows its memory at opts.Rate until opts.Max: every 50 ms it
// allocates Rate/20 bytes and writes a byte to each 4 KiB page, so the
// resident set really grows, and keeps every chunk referenced. It prints
// "rss=… MiB allocated=… MiB" to stdout every StatusEvery. With an address or
// an inherited socket it also serves HTTP like the http workload, /health
// reporting allocated_bytes. It returns nil when ctx is cancelled, after a
// graceful HTTP shutdown. Not for concurrent use (it reads and changes the
// process environment).
func Leak(ctx context.Context, opts LeakOptions, stdout io.Writer) error {
	if opts.Rate <= 0 {
		return errors.New("leak: rate must be positive")
	}
	if opts.StatusEvery <= 0 {
		opts.StatusEvery = time.Second
	}
	ln, err := listen(opts.Addr, opts.Plain)
	if err != nil {
		return fmt.Errorf("leak: %w", err)
	}
	out := &lockedWriter{w: stdout}
	var allocated atomic.Int64
	growCtx, stopGrowing := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() { grow(growCtx, opts, &allocated, out) })
	defer func() {
		stopGrowing()
		wg.Wait()
	}()

	if ln == nil {
		if !opts.Plain {
			_ = Notify("READY=1")
		}
		<-ctx.Done()
		return nil
	}
	if err := serveUntilDone(ctx, ln, healthHandler(&allocated), !opts.Plain, out); err != nil {
		return fmt.Errorf("leak: %w", err)
	}
	return nil
}

// grow is Leak's allocation loop.
func grow(ctx context.Context, opts LeakOptions, allocated *atomic.Int64, out io.Writer) {
	var chunks [][]byte
	defer runtime.KeepAlive(&chunks)
	chunk := opts.Rate * int64(leakTick) / int64(time.Second)
	if chunk < 1 {
		chunk = 1
	}
	tick := time.NewTicker(leakTick)
	defer tick.Stop()
	status := time.NewTicker(opts.StatusEvery)
	defer status.Stop()
	full := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-status.C:
			rss, _ := processRSS(0)
			fmt.Fprintf(out, "rss=%.1f MiB allocated=%.1f MiB\n", mib(rss), mib(allocated.Load()))
		case <-tick.C:
			if full {
				continue
			}
			n := chunk
			if opts.Max > 0 && allocated.Load()+n >= opts.Max {
				n = opts.Max - allocated.Load()
				full = true
			}
			if n <= 0 {
				continue
			}
			b := make([]byte, n)
			for i := 0; i < len(b); i += pageSize {
				b[i] = 1
			}
			chunks = append(chunks, b)
			allocated.Add(n)
			if full {
				fmt.Fprintf(out, "reached max=%.1f MiB; holding\n", mib(opts.Max))
			}
		}
	}
}

func mib(n int64) float64 { return float64(n) / (1 << 20) }

// lockedWriter serialises writes from the growth and server goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
