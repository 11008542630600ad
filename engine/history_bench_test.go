package engine_test

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine"
	"github.com/thorp-dev/thorp/engine/api"
	"github.com/thorp-dev/thorp/engine/config"
)

// BenchmarkHistoryHTTP times GET /api/v1/components/api/history?window=1h
// for one component of 3 instances, each with a full hour of samples at
// 1 s (and a restart marker a minute), through a real HTTP server on
// loopback: from sending the request to reading the last byte. It is
// here, not in engine/api, because filling the rings needs the engine's
// test hook (FillHistory).
func BenchmarkHistoryHTTP(b *testing.B) {
	dir := b.TempDir()
	c := config.DefaultComponent()
	c.Name = "api"
	c.Command = config.Command{Argv: []string{"/bin/sh", "-c", "exec sleep 1000"}, Shell: true}
	c.Cwd = dir
	c.Instances = 3
	c.MaxMemoryRestart = 150 << 20
	c.Logs = config.Defaults().Logs
	c.Logs.Dir = filepath.Join(dir, "logs")
	st := config.Defaults()
	st.Control = filepath.Join(dir, ".thorp", "thorp.sock")
	st.State = filepath.Join(dir, ".thorp", "state.json")
	cfg := &config.Config{File: filepath.Join(dir, "thorp.lua"), Dir: dir, Settings: st, Components: []config.Component{c}}
	sup, err := engine.New(cfg, engine.Options{})
	if err != nil {
		b.Fatal(err)
	}
	engine.FillHistory(sup, "api", time.Hour, time.Second)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = sup.Run(ctx) }() // owner: done, below
	defer func() {
		cancel()
		<-done
		_ = sup.Close()
	}()
	<-sup.Started()

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: api.NewHandler(sup, api.Info{}, false)}
	served := make(chan struct{})
	go func() { defer close(served); _ = srv.Serve(ln) }() // owner: served, below
	defer func() { _ = srv.Close(); <-served }()

	url := "http://" + ln.Addr().String() + "/api/v1/components/api/history?window=1h"
	client := &http.Client{Transport: &http.Transport{}}
	get := func() []byte {
		resp, err := client.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != http.StatusOK {
			b.Fatalf("%d %v %.200s", resp.StatusCode, err, body)
		}
		return body
	}
	var doc struct {
		Instances []struct {
			Time []float64 `json:"time"`
		} `json:"instances"`
		Restarts []json.RawMessage `json:"restarts"`
	}
	body := get()
	if err := json.Unmarshal(body, &doc); err != nil {
		b.Fatal(err)
	}
	for _, in := range doc.Instances {
		if len(in.Time) < 3600 {
			b.Fatalf("%d instances, one of %d points; want 3 of 3600 at least", len(doc.Instances), len(in.Time))
		}
	}
	if len(doc.Instances) != 3 {
		b.Fatalf("%d instances", len(doc.Instances))
	}

	times := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		start := time.Now()
		get()
		times = append(times, time.Since(start))
	}
	b.StopTimer()
	sort.Slice(times, func(i, j int) bool { return times[i] < times[j] })
	b.ReportMetric(float64(times[len(times)/2])/1e6, "p50-ms")
	b.ReportMetric(float64(times[len(times)*9/10])/1e6, "p90-ms")
	b.ReportMetric(float64(times[len(times)-1])/1e6, "max-ms")
	b.ReportMetric(float64(len(body)), "bytes")
	b.ReportMetric(float64(len(doc.Instances[0].Time)), "points/instance")
}
