package balancer_test

import (
	"fmt"
	"io"
	"net"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

// roll replaces each of the backends, one at a time, five times over,
// while load runs: it starts the replacement and adds it, drains the old
// one and stops it once drained, as the engine does. It returns how many
// requests were in flight at each Drain, at least.
func roll(t *testing.T, b *balancer.Balancer, start func(name string) (addr string, stop func()), load func() int64) {
	t.Helper()
	type live struct {
		be   *balancer.Backend
		stop func()
	}
	var backends []live
	for i := range 3 {
		addr, stop := start(fmt.Sprintf("%d.0", i))
		backends = append(backends, live{b.Add(i, i, addr), stop})
	}
	for round := 1; round <= 5; round++ {
		for i := range backends {
			before := load()
			addr, stop := start(fmt.Sprintf("%d.%d", i, round))
			nb := b.Add(i, 100*round+i, addr)
			drained := make(chan struct{})
			b.Drain(backends[i].be, func() { close(drained) })
			select {
			case <-drained:
			case <-time.After(testTimeout):
				t.Fatal("drain did not end")
			}
			backends[i].stop()
			backends[i] = live{nb, stop}
			eventually(t, "requests to go on", func() bool { return load() > before+10 })
		}
	}
}

// httpLoad runs 8 keep-alive clients against ln until the returned stop
// is called, which waits for them and returns how many requests failed.
func httpLoad(t *testing.T, ln net.Listener) (ok *atomic.Int64, stop func() int64) {
	ok = new(atomic.Int64)
	var failed atomic.Int64
	done := make(chan struct{})
	var wg sync.WaitGroup
	url := "http://" + ln.Addr().String() + "/"
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c := client(t)
			for {
				select {
				case <-done:
					return
				default:
				}
				res, err := c.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, res.Body)
					res.Body.Close()
					if err == nil && res.StatusCode != 200 {
						err = fmt.Errorf("status %d", res.StatusCode)
					}
				}
				if err != nil {
					failed.Add(1)
					t.Error(err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	return ok, func() int64 {
		close(done)
		wg.Wait()
		return failed.Load()
	}
}

// Keep-alive clients lose no request while every backend is replaced
// five times (http mode).
func TestBalancer_HTTP_RollingNoFailures(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(testTimeout))
	ok, stop := httpLoad(t, ln)
	roll(t, b, func(name string) (string, func()) {
		s := httptest.NewServer(named(name))
		return s.Listener.Addr().String(), s.Close
	}, ok.Load)
	failed := stop()
	t.Logf("%d requests, %d failed, %d client connections", ok.Load(), failed, b.Stats().Connections)
	if st := b.Stats(); st.Requests["200"] != uint64(ok.Load()) || len(st.Requests) != 1 {
		t.Errorf("Requests %v, want %d × 200", st.Requests, ok.Load())
	}
}

// A backend that dies under keep-alive load, before the engine removes
// it, costs no idempotent request: each is retried on another backend.
func TestBalancer_HTTP_CrashNoFailures(t *testing.T) {
	b, ln := newBalancer(t, httpOpts(testTimeout))
	var servers []*httptest.Server
	var bes []*balancer.Backend
	for i := range 3 {
		s := httptest.NewServer(named(fmt.Sprint(i)))
		t.Cleanup(s.Close)
		servers = append(servers, s)
		bes = append(bes, b.Add(i, i, s.Listener.Addr().String()))
	}
	ok, stop := httpLoad(t, ln)
	for i := range 2 {
		before := ok.Load()
		eventually(t, "load", func() bool { return ok.Load() > before+50 })
		servers[i].Listener.Close()
		servers[i].CloseClientConnections()
		before = ok.Load()
		eventually(t, "load after the crash", func() bool { return ok.Load() > before+50 })
		b.Remove(bes[i])
	}
	failed := stop()
	st := b.Stats()
	t.Logf("%d requests, %d failed, errors %v", ok.Load(), failed, st.Errors)
	if st.Errors[balancer.ErrRefused] == 0 {
		t.Error("no request went to a dead backend: the test did not test")
	}
}

// Clients that connect per request lose none while every backend is
// replaced five times (tcp mode).
func TestBalancer_TCP_RollingNoFailures(t *testing.T) {
	b, ln := newBalancer(t, balancer.Options{QueueTimeout: testTimeout})
	var ok atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.Dial("tcp", ln.Addr().String())
				if err != nil {
					t.Error(err)
					continue
				}
				c.SetDeadline(time.Now().Add(testTimeout))
				io.WriteString(c, "ping")
				c.(*net.TCPConn).CloseWrite()
				got, err := io.ReadAll(c)
				c.Close()
				if err != nil || len(got) < 4 || string(got[len(got)-4:]) != "ping" {
					t.Errorf("exchange: %q, %v", got, err)
					continue
				}
				ok.Add(1)
			}
		}()
	}
	roll(t, b, func(name string) (string, func()) {
		s := newTCPBackend(t, idEcho(name))
		return s.addr(), s.close
	}, ok.Load)
	close(stop)
	wg.Wait()
	st := b.Stats()
	t.Logf("%d connections, errors %v", ok.Load(), st.Errors)
	for kind, n := range st.Errors {
		if n != 0 {
			t.Errorf("%s = %d", kind, n)
		}
	}
}
