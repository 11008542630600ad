package rotate

import (
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
	stream []byte // benchChunk+100 bytes of lines
	i, n   int
}

func newChunkReader(n int) *chunkReader {
	var s []byte
	for i := 0; len(s) < benchChunk+100; i++ {
		s = append(s, seqLine(i)...)
	}
	return &chunkReader{stream: s, n: n}
}

func (r *chunkReader) next() []byte {
	off := (r.i * benchChunk) % 100
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
	}{
		{"plain", Options{}},
		{"timestamps", Options{Timestamps: true}},
		{"json", Options{Format: FormatJSON}},
		{"plain_gzip", Options{Compress: true}},
		{"timestamps_gzip", Options{Timestamps: true, Compress: true}},
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
			if err := f.Copy(newChunkReader(b.N), Source{Component: "bench", Stream: StreamOut, PID: 1}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			if opts.Compress {
				waitCompressed(b, path) // lumberjack's mill must be done before TempDir goes
			}
		})
	}
}
