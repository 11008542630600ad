// Command stampcrash appends "S <ns>" and "E <ns>" (its first and last
// instruction's times, Unix nanoseconds) to $THORP_STAMP_FILE and exits 1:
// a crash whose restart latency the benchmarks read from the stamps.
package main

import (
	"os"
	"strconv"
	"time"
)

func main() {
	start := time.Now().UnixNano()
	f, err := os.OpenFile(os.Getenv("THORP_STAMP_FILE"), os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		os.Exit(2)
	}
	line := "S " + strconv.FormatInt(start, 10) + "\nE " + strconv.FormatInt(time.Now().UnixNano(), 10) + "\n"
	_, _ = f.WriteString(line)
	os.Exit(1)
}
