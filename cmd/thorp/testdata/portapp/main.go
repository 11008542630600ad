// Command portapp is the end-to-end tests' app that knows nothing of thorp:
// it listens on 127.0.0.1:$PORT (never fd 3, LISTEN_FDS or NOTIFY_SOCKET)
// and serves
//
//	/            "pid PID\n"
//	/stream?ms=N "pid PID\n", then "chunk I\n" every 10 ms for N ms, then "end I\n"
//
// On SIGTERM it stops accepting, finishes the requests in flight and exits 0,
// as a plain net/http server with Shutdown does.
//
// Flags:
//
//	-start-delay D  wait D before listening (a slow boot)
//	-leak RATE      allocate and touch RATE MiB per second, kept referenced
//	-leak-instance I  leak only when THORP_INSTANCE is I (default: every instance)
//	-leak-file PATH   leak only while PATH exists
//	-never-listen   never open $PORT (a broken app)
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"syscall"
	"time"
)

func main() {
	startDelay := flag.Duration("start-delay", 0, "wait this long before listening")
	leak := flag.Float64("leak", 0, "MiB per second to allocate and keep")
	leakInstance := flag.String("leak-instance", "", "leak only when THORP_INSTANCE equals this")
	leakFile := flag.String("leak-file", "", "leak only while this file exists")
	neverListen := flag.Bool("never-listen", false, "never open $PORT")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if *leak > 0 && (*leakInstance == "" || *leakInstance == os.Getenv("THORP_INSTANCE")) {
		go grow(ctx, *leak, *leakFile)
	}
	if *neverListen {
		<-ctx.Done()
		return
	}
	select {
	case <-time.After(*startDelay):
	case <-ctx.Done():
		return
	}
	port := os.Getenv("PORT")
	if port == "" {
		fmt.Fprintln(os.Stderr, "portapp: PORT is not set")
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", port))
	if err != nil {
		fmt.Fprintln(os.Stderr, "portapp:", err)
		os.Exit(1)
	}
	pid := os.Getpid()
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "pid %d\n", pid)
	})
	mux.HandleFunc("/stream", func(w http.ResponseWriter, r *http.Request) {
		ms, _ := strconv.Atoi(r.URL.Query().Get("ms"))
		rc := http.NewResponseController(w)
		fmt.Fprintf(w, "pid %d\n", pid)
		_ = rc.Flush()
		end := time.Now().Add(time.Duration(ms) * time.Millisecond)
		i := 0
		for ; time.Now().Before(end); i++ {
			if _, err := fmt.Fprintf(w, "chunk %d\n", i); err != nil {
				return
			}
			_ = rc.Flush()
			time.Sleep(10 * time.Millisecond)
		}
		fmt.Fprintf(w, "end %d\n", i)
	})
	srv := &http.Server{Handler: mux}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintln(os.Stderr, "portapp:", err)
		os.Exit(1)
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := srv.Shutdown(shutdown); err != nil {
		fmt.Fprintln(os.Stderr, "portapp: shutdown:", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintln(os.Stderr, "portapp:", err)
	}
}

// grow allocates rate MiB per second in 20 steps a second (while file
// exists, when given), writing to every page so the resident set grows,
// and keeps it all referenced until ctx ends.
func grow(ctx context.Context, rate float64, file string) {
	var chunks [][]byte
	defer runtime.KeepAlive(&chunks)
	step := int(rate * (1 << 20) / 20)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			if file != "" {
				if _, err := os.Stat(file); err != nil {
					continue
				}
			}
			b := make([]byte, step)
			for i := 0; i < len(b); i += 4096 {
				b[i] = 1
			}
			chunks = append(chunks, b)
		}
	}
}
