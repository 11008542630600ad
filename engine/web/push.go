package web

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/VictoriaMetrics/metrics"
	"github.com/thorp-dev/thorp/engine/promlabel"
)

// WriteMetrics writes what GET /metrics serves. Safe for concurrent use.
func (s *Server) WriteMetrics(w io.Writer) {
	var out bytes.Buffer
	s.writeMetrics(&out)
	_, _ = w.Write(out.Bytes())
}

// Push sends the metrics to url (a VictoriaMetrics or Prometheus-compatible
// import endpoint such as http://vm:8428/api/v1/import/prometheus) every
// interval, with labels added to every series, until ctx is done. It
// returns once the pusher is set up; the returned wait blocks until the
// pusher has stopped after ctx ended. Push failures are logged, never fatal.
func (s *Server) Push(ctx context.Context, url string, interval time.Duration, labels map[string]string) (wait func(), err error) {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var extra []string
	for _, k := range keys {
		// promlabel.Escape is the text format's escaping, done once (%q would
		// escape its backslashes again, in Go's own syntax).
		extra = append(extra, k+`="`+promlabel.Escape(labels[k])+`"`)
	}
	var wg sync.WaitGroup
	opts := &metrics.PushOptions{
		ExtraLabels: strings.Join(extra, ","),
		Method:      "POST",
		WaitGroup:   &wg,
		LogErr: func(format string, v ...any) {
			s.log.Warn("metrics push failed; will retry at the next interval", "url", url, "err", fmt.Sprintf(format, v...))
		},
	}
	if err := metrics.InitPushExtWithOptions(ctx, url, interval, s.WriteMetrics, opts); err != nil {
		return func() {}, fmt.Errorf("metrics_push: %w (check settings.metrics_push.url)", err)
	}
	return wg.Wait, nil
}
