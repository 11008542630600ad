package rotate

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// benchChunk is the size of each read, as from a full pipe.
const benchChunk = 64 << 10

// chunkReader serves n chunks of an endless stream of 100-byte lines;
// chunk boundaries fall inside lines as they do on a pipe.
type chunkReader struct {
	stream []byte // benchChunk+period bytes of lines
	period int    // the stream repeats every period bytes
	i, n   int
}

func newChunkReader(n int) *chunkReader {
	var s []byte
	for i := 0; len(s) < benchChunk+100; i++ {
		s = append(s, seqLine(i)...)
	}
	return &chunkReader{stream: s, period: 100, n: n}
}

// newLongLineReader is newChunkReader with a line of long bytes (newline
// included) after every 600 lines of 100 bytes: about one a chunk.
func newLongLineReader(n, long int) *chunkReader {
	var block []byte
	for i := range 600 {
		block = append(block, seqLine(i)...)
	}
	block = append(block, bytes.Repeat([]byte{'x'}, long-1)...)
	block = append(block, '\n')
	s := bytes.Repeat(block, benchChunk/len(block)+2)
	return &chunkReader{stream: s, period: len(block), n: n}
}

func (r *chunkReader) next() []byte {
	off := (r.i * benchChunk) % r.period
	r.i++
	return r.stream[off : off+benchChunk]
}

func (r *chunkReader) Read(p []byte) (int, error) {
	if r.i >= r.n {
		return 0, io.EOF
	}
	return copy(p, r.next()), nil
}

// BenchmarkCopy measures File.Copy of 100-byte lines to a real file against
// a baseline reading the same chunks into a buffer and writing each with
// os.File.Write (io.Copy without bufio), which also starts
// a new file every 16 MB and keeps two old ones, as rotation does, so that
// both put the same load on the page cache and the disk.
func BenchmarkCopy(b *testing.B) {
	const rotateAt = 16 << 20
	b.Run("baseline", func(b *testing.B) {
		path := filepath.Join(b.TempDir(), "base.log")
		fh, err := os.Create(path)
		if err != nil {
			b.Fatal(err)
		}
		defer fh.Close()
		r := newChunkReader(b.N)
		buf := make([]byte, benchChunk)
		b.SetBytes(benchChunk)
		b.ResetTimer()
		size, gen := 0, 0
		for range b.N {
			if size >= rotateAt { // the same disk pattern as rotation keeping 2 backups
				fh.Close()
				gen++
				os.Rename(path, fmt.Sprintf("%s.%d", path, gen))
				os.Remove(fmt.Sprintf("%s.%d", path, gen-2))
				if fh, err = os.Create(path); err != nil {
					b.Fatal(err)
				}
				size = 0
			}
			n, _ := r.Read(buf) // as io.Copy does
			n, err := fh.Write(buf[:n])
			if err != nil {
				b.Fatal(err)
			}
			size += n
		}
	})
	for _, bc := range []struct {
		name string
		opts Options
		long int // a line of this many bytes about once a chunk; 0: none
	}{
		{"plain", Options{}, 0},
		{"timestamps", Options{Timestamps: true}, 0},
		{"json", Options{Format: FormatJSON}, 0},
		{"plain_gzip", Options{Compress: true}, 0},
		{"timestamps_gzip", Options{Timestamps: true, Compress: true}, 0},
		// A line over max_line in most reads: cut into pieces while the
		// lines around it are written as read.
		{"plain_long_line", Options{MaxLine: 1 << 10}, 2 << 10},
	} {
		b.Run(bc.name, func(b *testing.B) {
			opts := bc.opts
			opts.MaxSize, opts.RetainFiles = rotateAt, 2
			path := filepath.Join(b.TempDir(), bc.name+".log")
			f, err := Open(path, opts)
			if err != nil {
				b.Fatal(err)
			}
			defer f.Close()
			b.SetBytes(benchChunk)
			b.ResetTimer()
			r := newChunkReader(b.N)
			if bc.long > 0 {
				r = newLongLineReader(b.N, bc.long)
			}
			if err := f.Copy(r, Source{Component: "bench", Stream: StreamOut, PID: 1}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if opts.Compress {
				waitCompressed(b, path) // lumberjack's mill must be done before TempDir goes
			}
		})
	}
}
