package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/thorp-dev/thorp/cmd/thorp/simulate"
	"github.com/thorp-dev/thorp/engine/config"
	"golang.org/x/sys/unix"
)

func init() {
	commands["simulate"] = command{summary: "built-in workloads to try policies on: leak, crash, http, chatty, hang", run: cmdSimulate}
}

const simulateUsage = `Usage: thorp simulate WORKLOAD [flags]

Built-in workloads to try supervision policies on; they need nothing but thorp.
All but hang exit 0 on SIGTERM/SIGINT; servers finish every request they
accepted first. Servers use an inherited socket when LISTEN_FDS is set, and
send READY=1 to $NOTIFY_SOCKET (WATCHDOG=1 too, with $WATCHDOG_USEC).
With --port-env NAME a server is instead an app that knows nothing of thorp:
it listens on 127.0.0.1:$NAME itself, ignores LISTEN_FDS and notifies
nothing; that is what a component with a proxy runs (thorp puts a free port
in $PORT for each process and balances its proxy address over them).

Workloads:
  leak    --rate 10MB/s [--max 1GB] [--port P | --addr ADDR | --port-env NAME]
          grow resident memory at the rate (allocated and touched), up to
          --max (0 = no limit); print "rss=… allocated=…" every second. With
          --port, --addr, --port-env or LISTEN_FDS also serve GET / and
          GET /health.
  http    [--port 8080 | --addr ADDR | --port-env NAME] [--startup-delay 300ms]
          serve GET / ("ok") and GET /health (JSON) on 127.0.0.1:PORT, and
          take any POST (a webhook receiver for trying alerts), printing
          "received POST /path: BODY" (the first 4 KiB, on one line).
  crash   [--after 2s] [--code 1 | --signal SIGSEGV]
          run, then exit with the code or die by the signal.
  chatty  [--lines 1000] [--rate N] [--stderr] [--line-writes]
          print numbered 100-byte lines "seq=N …" (0 lines = forever) at N
          lines per second (0 = as fast as possible); --stderr sends odd
          lines to stderr.
  hang    [--children N]
          ignore SIGTERM and SIGINT and never exit; --children starts N more
          hanging processes in the same process group.

Flags:
`

// simulateFlags says which workloads take each flag.
var simulateFlags = map[string][]string{
	"rate":          {"leak", "chatty"},
	"max":           {"leak"},
	"port":          {"leak", "http"},
	"addr":          {"leak", "http"},
	"port-env":      {"leak", "http"},
	"startup-delay": {"http"},
	"after":         {"crash"},
	"code":          {"crash"},
	"signal":        {"crash"},
	"lines":         {"chatty"},
	"stderr":        {"chatty"},
	"line-writes":   {"chatty"},
	"children":      {"hang"},
}

func cmdSimulate(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := newFlags("simulate", "simulate WORKLOAD [flags]", stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, simulateUsage)
		fs.PrintDefaults()
	}
	fs.String("c", "", "accepted like everywhere, unused here")
	rate := fs.String("rate", "", "leak: growth `SIZE/s` [10MB/s]; chatty: lines per second [0 = unlimited]")
	maxSize := fs.String("max", "1GB", "leak: stop growing at this `SIZE`; 0 = no limit")
	port := fs.Int("port", 0, "leak, http: listen on 127.0.0.1:`PORT` [http: 8080]")
	addr := fs.String("addr", "", "leak, http: listen on `HOST:PORT` instead")
	portEnv := fs.String("port-env", "", "leak, http: listen on 127.0.0.1:$`NAME` (e.g. PORT), as an app unaware of thorp: no inherited socket, no notify")
	startupDelay := fs.Duration("startup-delay", 0, "http: wait this long before listening")
	after := fs.Duration("after", 2*time.Second, "crash: run this long first")
	code := fs.Int("code", 1, "crash: exit status")
	sig := fs.String("signal", "", "crash: die by this `SIGNAL` (e.g. SIGSEGV) instead of exiting")
	lines := fs.Int64("lines", 1000, "chatty: lines to print; 0 = forever")
	toStderr := fs.Bool("stderr", false, "chatty: odd lines go to stderr")
	lineWrites := fs.Bool("line-writes", false, "chatty: one write(2) per line, as most loggers do (default: 64 KiB chunks)")
	children := fs.Int("children", 0, "hang: hanging processes to start in the same group")

	pos, err := parseInterspersed(fs, args)
	if err != nil {
		return usageExit(err)
	}
	if len(pos) != 1 {
		fs.Usage()
		return exitUsage
	}
	workload := pos[0]
	set := map[string]bool{}
	var bad []string
	fs.Visit(func(f *flag.Flag) {
		set[f.Name] = true
		if ws, ok := simulateFlags[f.Name]; ok && !slices.Contains(ws, workload) {
			bad = append(bad, "--"+f.Name)
		}
	})
	switch workload {
	case "leak", "http", "crash", "chatty", "hang":
	default:
		fmt.Fprintf(stderr, "thorp simulate: unknown workload %q (leak, http, crash, chatty, hang)\n", workload)
		return exitUsage
	}
	if len(bad) > 0 {
		fmt.Fprintf(stderr, "thorp simulate: %s does not apply to %s\n", strings.Join(bad, ", "), workload)
		return exitUsage
	}
	usageErr := func(format string, a ...any) int {
		fmt.Fprintf(stderr, "thorp simulate %s: "+format+"\n", append([]any{workload}, a...)...)
		return exitUsage
	}

	if workload == "hang" {
		if *children < 0 {
			return usageErr("--children must not be negative")
		}
		self, err := os.Executable()
		if err != nil {
			fmt.Fprintf(stderr, "thorp simulate hang: %v\n", err)
			return exitFailed
		}
		// Hang ignores SIGTERM/SIGINT itself, so no signal context here.
		return simulateExit(simulate.Hang(ctx, simulate.HangOptions{
			Children: *children,
			Self:     []string{self, "simulate", "hang"},
		}, stdout), stderr)
	}

	ctx, stop := signal.NotifyContext(ctx, syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	listenAddr := func(defaultPort int) (string, error) {
		given := 0
		for _, f := range []string{"port", "addr", "port-env"} {
			if set[f] {
				given++
			}
		}
		switch {
		case given > 1:
			return "", errors.New("give one of --port, --addr and --port-env")
		case set["port-env"]:
			return envPortAddr(*portEnv, os.Getenv)
		case set["addr"]:
			return *addr, nil
		case set["port"]:
			if *port < 0 || *port > 65535 {
				return "", fmt.Errorf("--port %d is not a port", *port)
			}
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(*port)), nil
		case defaultPort > 0:
			return net.JoinHostPort("127.0.0.1", strconv.Itoa(defaultPort)), nil
		}
		return "", nil
	}

	switch workload {
	case "leak":
		r := *rate
		if r == "" {
			r = "10MB/s"
		}
		bps, err := config.ParseSize(strings.TrimSuffix(strings.TrimSpace(r), "/s"))
		if err != nil || bps <= 0 {
			return usageErr("--rate %q is not a positive SIZE/s like 20MB/s", r)
		}
		limit, err := config.ParseSize(*maxSize)
		if err != nil {
			return usageErr("--max: %v", err)
		}
		a, err := listenAddr(0)
		if err != nil {
			return usageErr("%v", err)
		}
		return simulateExit(simulate.Leak(ctx, simulate.LeakOptions{Rate: int64(bps), Max: int64(limit), Addr: a, Plain: set["port-env"]}, stdout), stderr)
	case "http":
		a, err := listenAddr(8080)
		if err != nil {
			return usageErr("%v", err)
		}
		if *startupDelay < 0 {
			return usageErr("--startup-delay must not be negative")
		}
		return simulateExit(simulate.HTTP(ctx, simulate.HTTPOptions{Addr: a, StartupDelay: *startupDelay, Plain: set["port-env"]}, stdout), stderr)
	case "crash":
		if *code < 0 || *code > 255 {
			return usageErr("--code %d is not an exit status (0-255)", *code)
		}
		if *after < 0 {
			return usageErr("--after must not be negative")
		}
		opts := simulate.CrashOptions{After: *after, Code: *code}
		if set["signal"] {
			s, err := parseSignal(*sig)
			if err != nil {
				return usageErr("%v", err)
			}
			opts.Signal = s
		}
		return simulateExit(simulate.Crash(ctx, opts, stdout), stderr)
	default: // chatty
		var lps float64
		if *rate != "" {
			lps, err = strconv.ParseFloat(strings.TrimSuffix(*rate, "/s"), 64)
			if err != nil || lps < 0 {
				return usageErr("--rate %q is not a number of lines per second", *rate)
			}
		}
		if *lines < 0 {
			return usageErr("--lines must not be negative")
		}
		return simulateExit(simulate.Chatty(ctx, simulate.ChattyOptions{Lines: *lines, Rate: lps, Stderr: *toStderr, LineWrites: *lineWrites}, stdout, stderr), stderr)
	}
}

// envPortAddr is 127.0.0.1 and the port in the environment variable name
// (read through getenv), for --port-env.
func envPortAddr(name string, getenv func(string) string) (string, error) {
	if name == "" {
		return "", errors.New("--port-env needs a variable name, e.g. PORT")
	}
	v := getenv(name)
	if v == "" {
		return "", fmt.Errorf("--port-env %s: $%s is not set", name, name)
	}
	p, err := strconv.Atoi(v)
	if err != nil || p < 1 || p > 65535 {
		return "", fmt.Errorf("--port-env %s: $%s = %q is not a port (1-65535)", name, name, v)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)), nil
}

// simulateExit maps a workload's result to the exit code.
func simulateExit(err error, stderr io.Writer) int {
	var exit *simulate.ExitError
	if errors.As(err, &exit) {
		return exit.Code
	}
	if err != nil {
		fmt.Fprintf(stderr, "thorp simulate: %v\n", err)
		return exitFailed
	}
	return exitOK
}

// parseSignal accepts "SIGSEGV", "segv" or "11".
func parseSignal(s string) (syscall.Signal, error) {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return 0, fmt.Errorf("--signal %d is not a signal number", n)
		}
		return syscall.Signal(n), nil
	}
	name := strings.ToUpper(strings.TrimSpace(s))
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if sig := unix.SignalNum(name); sig != 0 {
		return sig, nil
	}
	return 0, fmt.Errorf("--signal %q is not a signal name", s)
}
