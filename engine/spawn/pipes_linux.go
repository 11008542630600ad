package spawn

import (
	"os"

	"golang.org/x/sys/unix"
)

// pipes are a child's stdout and stderr pipes.
type pipes struct {
	outR, outW, errR, errW *os.File
}

func newPipes() (*pipes, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	growPipe(outR)
	growPipe(errR)
	return &pipes{outR, outW, errR, errW}, nil
}

func (p *pipes) closeWriteEnds() {
	p.outW.Close()
	p.errW.Close()
}

func (p *pipes) closeReadEnds() {
	p.outR.Close()
	p.errR.Close()
}

// pipeSize is the kernel buffer asked for each output pipe: a component
// writing in small chunks then rarely waits for thorp, and thorp reads in
// large chunks. The kernel allocates the pages only as data waits in them.
const pipeSize = 1 << 20

// growPipe enlarges a pipe's buffer, best effort (the kernel caps it by
// fs.pipe-max-size and a per-user total).
func growPipe(f *os.File) {
	rc, err := f.SyscallConn()
	if err != nil {
		return
	}
	_ = rc.Control(func(fd uintptr) {
		_, _ = unix.FcntlInt(fd, unix.F_SETPIPE_SZ, pipeSize)
	})
}
