package engine

import (
	"io"

	"github.com/thorp-dev/thorp/engine/config"
	"github.com/thorp-dev/thorp/engine/logtee"
	"github.com/thorp-dev/thorp/rotate"
)

// LogTee copies the output of components whose logs.stdout is true to
// thorp's own stdout and stderr, besides their log files (thorp run
// passes a *logtee.Sink). Tee returns a reader that passes r through
// unchanged and must never block on its destination. Safe for concurrent
// use.
type LogTee interface {
	Tee(r io.Reader, src rotate.Source, f logtee.Format) io.Reader
}

var _ LogTee = (*logtee.Sink)(nil)

// teeOutput is the one point where a process's output meets the tee: r
// itself unless cc's logs.stdout is set and a tee is configured. The
// setting is read when the process starts.
func (s *Supervisor) teeOutput(r io.Reader, cc *config.Component, src rotate.Source) io.Reader {
	if s.logTee == nil || !cc.Logs.Stdout {
		return r
	}
	return s.logTee.Tee(r, src, logtee.Format{Timestamps: cc.Logs.Timestamps, JSON: cc.Logs.Format == "json", MaxLine: int(cc.Logs.MaxLine)})
}
