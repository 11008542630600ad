package rotate

import (
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
// a baseline writing the same chunks with os.File.Write (which also starts
// a new file every 16 MB, as rotation does, to bound disk use).
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
		b.SetBytes(benchChunk)
		b.ResetTimer()
		size := 0
		for range b.N {
			if size >= rotateAt {
				fh.Close()
				os.Remove(path)
				if fh, err = os.Create(path); err != nil {
					b.Fatal(err)
				}
				size = 0
			}
			n, err := fh.Write(r.next())
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
			waitCompressed(b, path) // lumberjack's mill must be done before TempDir goes
		})
	}
}
