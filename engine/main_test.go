package engine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/cmd/thorp/simulate"
)

// childEnv makes the test binary act as a child process instead of running
// tests: the value names the behaviour.
const childEnv = "THORP_ENGINE_TEST_CHILD"

func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "__exec" {
		// The exec shim, as thorp's own binary provides it.
		os.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()))
		err := syscall.Exec(os.Args[2], os.Args[3:], os.Environ())
		fmt.Fprintln(os.Stderr, err)
		os.Exit(127)
	}
	switch os.Getenv(childEnv) {
	case "":
		os.Exit(m.Run())
	case "stamp-and-crash":
		// Record the first and the last instruction's times, then crash.
		f, err := os.OpenFile(os.Getenv("THORP_STAMP_FILE"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			os.Exit(2)
		}
		fmt.Fprintf(f, "S %d\n", time.Now().UnixNano())
		fmt.Fprintf(f, "E %d\n", time.Now().UnixNano())
		os.Exit(1)
	case "leak":
		// Grow memory at THORP_LEAK_RATE bytes/s until SIGTERM, up to
		// THORP_LEAK_MAX bytes (1 GiB without it).
		rate, _ := strconv.ParseInt(os.Getenv("THORP_LEAK_RATE"), 10, 64)
		most, _ := strconv.ParseInt(os.Getenv("THORP_LEAK_MAX"), 10, 64)
		if most <= 0 {
			most = 1 << 30
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if err := simulate.Leak(ctx, simulate.LeakOptions{Rate: rate, Max: most}, io.Discard); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case "spike":
		// Hold THORP_SPIKE_BYTES more memory from SIGUSR1 until SIGUSR2,
		// as often as told, until SIGTERM; the file "listening" says the
		// signals are handled.
		size, _ := strconv.Atoi(os.Getenv("THORP_SPIKE_BYTES"))
		sig := make(chan os.Signal, 4)
		signal.Notify(sig, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM)
		if err := os.WriteFile("listening", nil, 0o644); err != nil { // in its cwd
			os.Exit(1)
		}
		var spike []byte
		for s := range sig {
			switch {
			case s == syscall.SIGUSR1 && spike == nil:
				var err error
				if spike, err = syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON); err != nil {
					os.Exit(1)
				}
				for i := 0; i < len(spike); i += os.Getpagesize() {
					spike[i] = 1
				}
			case s == syscall.SIGUSR2 && spike != nil:
				_ = syscall.Munmap(spike)
				spike = nil
			case s == syscall.SIGTERM:
				os.Exit(0)
			}
		}
	case "serve":
		// An HTTP server that listens after THORP_SERVE_DELAY and sends
		// READY=1 when NOTIFY_SOCKET is set.
		delay, _ := time.ParseDuration(os.Getenv("THORP_SERVE_DELAY"))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		err := simulate.HTTP(ctx, simulate.HTTPOptions{Addr: os.Getenv("THORP_SERVE_ADDR"), StartupDelay: delay}, io.Discard)
		if err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	case "stamp":
		f, err := os.OpenFile(os.Getenv("THORP_STAMP_FILE"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
		if err != nil {
			os.Exit(2)
		}
		fmt.Fprintf(f, "S %d\n", time.Now().UnixNano())
		os.Exit(0)
	case "port-app":
		// An app that knows nothing of thorp: after THORP_SERVE_DELAY it
		// serves "pid N" on 127.0.0.1:$PORT, and on SIGTERM finishes its
		// requests and exits. With THORP_NO_LISTEN it never listens.
		delay, _ := time.ParseDuration(os.Getenv("THORP_SERVE_DELAY"))
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
		defer stop()
		if os.Getenv("THORP_NO_LISTEN") != "" {
			<-ctx.Done()
			os.Exit(0)
		}
		time.Sleep(delay)
		ln, err := net.Listen("tcp", "127.0.0.1:"+os.Getenv("PORT"))
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "pid %d\n", os.Getpid())
		})}
		go srv.Serve(ln)
		<-ctx.Done()
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		os.Exit(0)
	default:
		os.Exit(3)
	}
}
