// Command workload is the child process `make compare` runs under thorp,
// PM2 and supervisord alike (the HTTP workload is app.js, for PM2's
// cluster mode). It appends stamps (unix nanoseconds) to the file named by
// $COMPARE_STAMPS:
//
//	workload crash          "S <ns>" at its first instruction, "E <ns>" at its last, then exit 1
//	workload leak MIB_PER_S "P <pid> <ns>" at start; touches MIB_PER_S MiB a second
//	                        (1 MiB every 1/MIB_PER_S s) until SIGTERM or SIGINT,
//	                        then "T <pid> <ns>" and exit 0
//	workload lines N        "S <ns>", then N lines of 100 bytes ("%09d " and x's),
//	                        one write(2) each, to stdout; "E <ns>" and exit 0
package main

import (
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"syscall"
	"time"
)

// lineSize is the length of each line of `workload lines`, newline included.
const lineSize = 100

func main() {
	start := time.Now().UnixNano()
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: workload crash | leak MIB_PER_S | lines N")
		os.Exit(2)
	}
	stamps, err := os.OpenFile(os.Getenv("COMPARE_STAMPS"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	switch os.Args[1] {
	case "crash":
		fmt.Fprintf(stamps, "S %d\nE %d\n", start, time.Now().UnixNano())
		os.Exit(1)
	case "leak":
		rate, err := strconv.Atoi(arg(2))
		if err != nil || rate < 1 {
			os.Exit(2)
		}
		leak(stamps, start, rate)
	case "lines":
		n, err := strconv.Atoi(arg(2))
		if err != nil || n < 1 {
			os.Exit(2)
		}
		fmt.Fprintf(stamps, "S %d\n", start)
		lines(n)
		fmt.Fprintf(stamps, "E %d\n", time.Now().UnixNano())
	default:
		os.Exit(2)
	}
}

func arg(i int) string {
	if i < len(os.Args) {
		return os.Args[i]
	}
	return ""
}

// leak maps and touches 1 MiB every 1/rate s, outside Go's heap so that
// RSS grows by exactly that, until a stop signal.
func leak(stamps *os.File, start int64, rate int) {
	pid := os.Getpid()
	fmt.Fprintf(stamps, "P %d %d\n", pid, start)
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	tick := time.NewTicker(time.Second / time.Duration(rate))
	defer tick.Stop()
	page := os.Getpagesize()
	for {
		select {
		case <-stop:
			fmt.Fprintf(stamps, "T %d %d\n", pid, time.Now().UnixNano())
			os.Exit(0)
		case <-tick.C:
			mem, err := syscall.Mmap(-1, 0, 1<<20, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANON)
			if err != nil {
				os.Exit(3)
			}
			for i := 0; i < len(mem); i += page {
				mem[i] = 1
			}
		}
	}
}

// lines writes n numbered lines of lineSize bytes, one write(2) each.
func lines(n int) {
	buf := make([]byte, lineSize)
	for i := range buf {
		buf[i] = 'x'
	}
	buf[lineSize-1] = '\n'
	for i := 0; i < n; i++ {
		v := i
		for d := 8; d >= 0; d-- {
			buf[d] = byte('0' + v%10)
			v /= 10
		}
		buf[9] = ' '
		if _, err := os.Stdout.Write(buf); err != nil {
			os.Exit(4)
		}
	}
}
