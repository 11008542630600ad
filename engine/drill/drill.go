// Package drill measures what a restart costs the clients of a service: it
// sends HTTP requests from several workers, triggers the restart midway,
// and reports failed requests, the longest gap without a successful answer
// and latencies. It is what `thorp drill` runs; it knows nothing of thorp.
//
// Run is safe to call concurrently (each call has its own workers).
package drill

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"time"
)

// Options configure a drill.
type Options struct {
	// URL is requested with GET; a 2xx or 3xx answer is a success.
	URL string
	// Duration is how long the load runs; the restart starts at a third of it.
	Duration time.Duration
	// Concurrency is how many workers send requests, each on fresh connections.
	Concurrency int
	// MaxRequests bounds the requests of the whole drill (0 = 100,000).
	MaxRequests int
	// Timeout bounds each request (0 = 10s).
	Timeout time.Duration
	// Restart triggers the restart and returns when it is over.
	Restart func(ctx context.Context) error
}

// Report is a drill's outcome. Durations are in milliseconds for JSON.
type Report struct {
	URL          string   `json:"url"`
	Requests     int      `json:"requests"`
	Failed       int      `json:"failed"`
	SuccessRate  float64  `json:"success_rate"`
	DowntimeMS   float64  `json:"downtime_ms"`
	RestartMS    float64  `json:"restart_ms"`
	LatencyP50MS float64  `json:"latency_p50_ms"`
	LatencyP99MS float64  `json:"latency_p99_ms"`
	LatencyMaxMS float64  `json:"latency_max_ms"`
	Errors       []string `json:"errors,omitempty"` // the first few distinct errors
	RestartError string   `json:"restart_error,omitempty"`

	// DuringRestart counts the requests in flight at some moment between
	// the restart's start and its return; AfterRestart those sent after
	// it returned. A drill where either is 0 measured no restart: the
	// load ran out (duration or request budget) or started too late.
	DuringRestart int `json:"during_restart"`
	AfterRestart  int `json:"after_restart"`
}

type result struct {
	start, end time.Time
	err        error
}

// Run runs the drill until the load's duration has passed and the restart
// has returned, or ctx ends.
func Run(ctx context.Context, o Options) (Report, error) {
	if o.URL == "" || o.Duration <= 0 || o.Restart == nil {
		return Report{}, fmt.Errorf("drill: URL, Duration and Restart are required")
	}
	o.Concurrency = max(o.Concurrency, 1)
	if o.MaxRequests <= 0 {
		o.MaxRequests = 100_000
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	client := &http.Client{Timeout: o.Timeout, Transport: &http.Transport{DisableKeepAlives: true}}
	loadCtx, stop := context.WithTimeout(ctx, o.Duration)
	defer stop()

	var mu sync.Mutex
	var results []result
	budget := make(chan struct{}, o.MaxRequests)
	for range o.MaxRequests {
		budget <- struct{}{}
	}
	var wg sync.WaitGroup
	for range o.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for loadCtx.Err() == nil {
				select {
				case <-budget:
				default:
					return // request budget spent
				}
				r := result{start: time.Now()}
				r.err = get(ctx, client, o.URL)
				r.end = time.Now()
				mu.Lock()
				results = append(results, r)
				mu.Unlock()
			}
		}()
	}

	var rep Report
	rep.URL = o.URL
	select {
	case <-time.After(o.Duration / 3):
	case <-ctx.Done():
	}
	restartStart := time.Now()
	if err := o.Restart(ctx); err != nil {
		rep.RestartError = err.Error()
	}
	restartEnd := time.Now()
	rep.RestartMS = ms(restartEnd.Sub(restartStart))
	wg.Wait()
	summarize(&rep, results, restartStart, restartEnd)
	return rep, ctx.Err()
}

// get sends one request: nil for a 2xx or 3xx answer.
func get(ctx context.Context, c *http.Client, url string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
	resp.Body.Close()
	if resp.StatusCode >= 400 {
		return fmt.Errorf("status %s", resp.Status)
	}
	return nil
}

// summarize fills rep from the results. Downtime is the longest stretch,
// overlapping the restart, during which no request succeeded: from the end
// of one success to the end of the next.
func summarize(rep *Report, rs []result, restartStart, restartEnd time.Time) {
	rep.Requests = len(rs)
	var lat []time.Duration
	var okEnds []time.Time
	seen := map[string]bool{}
	for _, r := range rs {
		if r.err != nil {
			rep.Failed++
			if msg := r.err.Error(); !seen[msg] && len(rep.Errors) < 5 {
				seen[msg] = true
				rep.Errors = append(rep.Errors, msg)
			}
			continue
		}
		lat = append(lat, r.end.Sub(r.start))
		okEnds = append(okEnds, r.end)
	}
	for _, r := range rs {
		if r.start.Before(restartEnd) && r.end.After(restartStart) {
			rep.DuringRestart++
		}
		if r.start.After(restartEnd) {
			rep.AfterRestart++
		}
	}
	if rep.Requests > 0 {
		rep.SuccessRate = float64(rep.Requests-rep.Failed) / float64(rep.Requests)
	}
	if len(lat) > 0 {
		slices.Sort(lat)
		rep.LatencyP50MS = ms(lat[len(lat)/2])
		rep.LatencyP99MS = ms(lat[len(lat)*99/100])
		rep.LatencyMaxMS = ms(lat[len(lat)-1])
	}
	slices.SortFunc(okEnds, func(a, b time.Time) int { return a.Compare(b) })
	var worst time.Duration
	for i := 1; i < len(okEnds); i++ {
		a, b := okEnds[i-1], okEnds[i]
		if b.Before(restartStart) || a.After(restartEnd) {
			continue // a gap that has nothing to do with the restart
		}
		worst = max(worst, b.Sub(a))
	}
	rep.DowntimeMS = ms(worst)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Covered reports whether the load covered the restart: some request was
// in flight during it and some were sent after it.
func (r Report) Covered() bool { return r.DuringRestart > 0 && r.AfterRestart > 0 }
