package simulate

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"
)

// ChattyLineSize is the length of every chatty line, newline included.
const ChattyLineSize = 100

// padding fills chatty lines after "seq=N "; a known pattern lets log tests
// spot a corrupted or split line.
const padding = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789" +
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

// ChattyOptions configure the chatty workload.
type ChattyOptions struct {
	// Lines is how many lines to print; 0 prints until ctx is cancelled.
	Lines int64
	// Rate is lines per second; 0 prints as fast as the writers take them.
	Rate float64
	// Stderr sends odd-numbered lines to stderr, even ones to stdout.
	Stderr bool
	// LineWrites writes every line with its own write(2), as most loggers
	// do (console.log, Python's logging), instead of 64 KiB chunks.
	LineWrites bool
}

// Chatty prints numbered lines "seq=N <padding>" (N from 1, each
// ChattyLineSize bytes with the newline) and returns nil after opts.Lines
// lines or when ctx is cancelled. Output is buffered and flushed whenever it
// waits for the rate and at the end. Not for concurrent use of the same
// writers.
func Chatty(ctx context.Context, opts ChattyOptions, stdout, stderr io.Writer) error {
	if opts.Lines < 0 || opts.Rate < 0 {
		return errors.New("chatty: lines and rate must not be negative")
	}
	size := 64 << 10
	if opts.LineWrites {
		size = ChattyLineSize // a full buffer is one line: one write per line
	}
	out := bufio.NewWriterSize(stdout, size)
	errOut := out
	if opts.Stderr {
		errOut = bufio.NewWriterSize(stderr, size)
	}
	flush := func() error {
		if err := out.Flush(); err != nil {
			return fmt.Errorf("chatty: %w", err)
		}
		if err := errOut.Flush(); err != nil {
			return fmt.Errorf("chatty: %w", err)
		}
		return nil
	}
	var wait *time.Timer
	start := time.Now()
	line := make([]byte, 0, ChattyLineSize+32)
	for seq := int64(1); opts.Lines == 0 || seq <= opts.Lines; seq++ {
		if opts.Rate > 0 {
			due := start.Add(time.Duration(float64(seq-1) / opts.Rate * float64(time.Second)))
			if d := time.Until(due); d > 0 {
				if err := flush(); err != nil {
					return err
				}
				if wait == nil {
					wait = time.NewTimer(d)
					defer wait.Stop()
				} else {
					wait.Reset(d)
				}
				select {
				case <-ctx.Done():
					return flush()
				case <-wait.C:
				}
			}
		}
		if seq&1023 == 0 && ctx.Err() != nil {
			break
		}
		w := out
		if seq%2 == 1 {
			w = errOut
		}
		if _, err := w.Write(chattyLine(line[:0], seq)); err != nil {
			return fmt.Errorf("chatty: %w", err)
		}
	}
	return flush()
}

// chattyLine appends line seq to b.
func chattyLine(b []byte, seq int64) []byte {
	b = append(b, "seq="...)
	b = strconv.AppendInt(b, seq, 10)
	b = append(b, ' ')
	if n := ChattyLineSize - 1 - len(b); n > 0 {
		b = append(b, padding[:n]...)
	}
	return append(b, '\n')
}
