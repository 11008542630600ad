package simulate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// shutdownTimeout bounds a workload's graceful shutdown; a supervisor's
// kill timeout is normally shorter and ends it first.
const shutdownTimeout = 30 * time.Second

// HTTPOptions configure the http workload.
type HTTPOptions struct {
	// Addr is the TCP address to listen on, e.g. "127.0.0.1:8080". It is
	// ignored when a socket is inherited (LISTEN_FDS); without either HTTP
	// fails.
	Addr string
	// StartupDelay is waited before listening, to mimic a slow start.
	StartupDelay time.Duration
	// Plain makes the server an app that knows nothing of its supervisor:
	// it listens on Addr itself even when a socket is inherited, and sends
	// nothing to NOTIFY_SOCKET (no READY=1, WATCHDOG=1 or STOPPING=1).
	Plain bool
}

// HTTP runs a web server that answers GET / with 200 "ok\n" and GET /health
// with JSON, until ctx is cancelled; then it shuts down gracefully (see
// Server.Shutdown) and returns nil. Once listening it prints
// "listening on ADDR" to stdout and sends READY=1 to NOTIFY_SOCKET when set,
// and it pings the watchdog when WATCHDOG_USEC is set. Not for concurrent use:
// it reads and changes the process environment.
func HTTP(ctx context.Context, opts HTTPOptions, stdout io.Writer) error {
	if opts.StartupDelay > 0 {
		t := time.NewTimer(opts.StartupDelay)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
	}
	ln, err := listen(opts.Addr, opts.Plain)
	if err != nil {
		return err
	}
	if ln == nil {
		return errors.New("http: no address to listen on and no inherited socket (LISTEN_FDS)")
	}
	var allocated atomic.Int64
	return serveUntilDone(ctx, ln, receiver(healthHandler(&allocated), stdout), !opts.Plain, stdout)
}

// serveUntilDone serves h on ln, announces readiness when notify is set,
// and shuts the server down gracefully when ctx is cancelled.
func serveUntilDone(ctx context.Context, ln *Listener, h http.Handler, notify bool, stdout io.Writer) error {
	srv := NewServer(ln, h)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve() }()

	fmt.Fprintf(stdout, "listening on %s\n", srv.Addr())
	var wg sync.WaitGroup
	wdCtx, stopWatchdog := context.WithCancel(ctx)
	defer func() {
		stopWatchdog()
		wg.Wait()
	}()
	if notify {
		if err := Notify("READY=1"); err != nil {
			fmt.Fprintf(stdout, "notify: %v\n", err)
		}
		wg.Go(func() { runWatchdog(wdCtx) })
	}

	select {
	case err := <-serveErr:
		_ = srv.Shutdown(context.Background())
		return err
	case <-ctx.Done():
	}
	if notify {
		_ = Notify("STOPPING=1")
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), shutdownTimeout)
	defer cancel()
	err := srv.Shutdown(sctx)
	if serr := <-serveErr; serr != nil && err == nil {
		err = serr
	}
	if err != nil {
		return fmt.Errorf("http: %w", err)
	}
	fmt.Fprintln(stdout, "stopped: every accepted request answered")
	return nil
}

// healthHandler serves GET / and GET /health; allocated is the leak
// workload's byte count (0 for http).
func healthHandler(allocated *atomic.Int64) http.Handler {
	start := time.Now()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = io.WriteString(w, "ok\n")
	})
	mux.HandleFunc("GET /health", func(w http.ResponseWriter, r *http.Request) {
		rss, _ := processRSS(0)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(health{
			Status:         "healthy",
			PID:            os.Getpid(),
			UptimeSeconds:  time.Since(start).Seconds(),
			RSSBytes:       rss,
			AllocatedBytes: allocated.Load(),
		})
	})
	return mux
}

// maxReceived is how much of a POST body the http workload prints.
const maxReceived = 4 << 10

// receiver adds to h a handler that takes any POST (a webhook receiver,
// for trying alerts): it prints "received POST /path: BODY" on one line
// (the body's first 4 KiB, newlines as spaces) and answers 200 "ok".
func receiver(h http.Handler, stdout io.Writer) http.Handler {
	var mu sync.Mutex
	mux := http.NewServeMux()
	mux.Handle("/", h)
	mux.HandleFunc("POST /", func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(io.LimitReader(r.Body, maxReceived))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		line := strings.Join(strings.Fields(string(body)), " ")
		mu.Lock()
		fmt.Fprintf(stdout, "received POST %s: %s\n", r.URL.Path, line)
		mu.Unlock()
		_, _ = io.WriteString(w, "ok\n")
	})
	return mux
}

// health is the body of GET /health.
type health struct {
	Status         string  `json:"status"`
	PID            int     `json:"pid"`
	UptimeSeconds  float64 `json:"uptime_seconds"`
	RSSBytes       int64   `json:"rss_bytes"`
	AllocatedBytes int64   `json:"allocated_bytes"`
}
