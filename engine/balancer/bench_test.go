package balancer_test

import (
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/thorp-dev/thorp/engine/balancer"
)

// benchClients is how many clients run at once in the benchmarks (the
// issue's 8 concurrent clients).
const benchClients = 8

// measure runs n operations of op against addr from benchClients clients
// and returns the elapsed time and the median latency of one operation.
func measure(b *testing.B, n int, op func() error) (time.Duration, time.Duration) {
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		lats = make([]time.Duration, 0, n)
	)
	start := time.Now()
	for w := range benchClients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			mine := make([]time.Duration, 0, n/benchClients+1)
			for i := w; i < n; i += benchClients {
				t0 := time.Now()
				if err := op(); err != nil {
					b.Error(err)
					return
				}
				mine = append(mine, time.Since(t0))
			}
			mu.Lock()
			lats = append(lats, mine...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	slices.Sort(lats)
	if len(lats) == 0 {
		return elapsed, 0
	}
	return elapsed, lats[len(lats)/2]
}

// compare runs op against the backend directly, then through the
// balancer, b.N times each, and reports the throughput ratio (proxied ÷
// direct) and the latency the balancer adds to the median.
func compare(b *testing.B, direct, proxied func() error) {
	b.ResetTimer()
	dt, dl := measure(b, b.N, direct)
	pt, pl := measure(b, b.N, proxied)
	b.StopTimer()
	b.ReportMetric(dt.Seconds()/pt.Seconds(), "ratio")
	b.ReportMetric(float64(pl-dl)/float64(time.Microsecond), "added-µs")
	b.ReportMetric(float64(dl)/float64(time.Microsecond), "direct-µs")
	b.ReportMetric(float64(pl)/float64(time.Microsecond), "proxied-µs")
}

// A client connection per request, 16 bytes each way, through the tcp
// balancer to one backend against straight to it.
func BenchmarkBalancer_TCP_ConnPerRequest(b *testing.B) {
	be := newTCPBackend(b, func(c net.Conn) { io.Copy(c, c) })
	bal, ln := newBalancer(b, balancer.Options{Component: "bench", QueueTimeout: time.Second})
	bal.Add(1, 1, be.addr())
	msg := []byte("0123456789abcdef")
	op := func(addr string) func() error {
		return func() error {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				return err
			}
			defer c.Close()
			if _, err := c.Write(msg); err != nil {
				return err
			}
			c.(*net.TCPConn).CloseWrite()
			_, err = io.Copy(io.Discard, c)
			return err
		}
	}
	compare(b, op(be.addr()), op(ln.Addr().String()))
}

// Small request/response exchanges on open connections through the tcp
// balancer against straight to the backend.
func BenchmarkBalancer_TCP_KeepAlive(b *testing.B) {
	be := newTCPBackend(b, func(c net.Conn) { io.Copy(c, c) })
	bal, ln := newBalancer(b, balancer.Options{Component: "bench", QueueTimeout: time.Second})
	bal.Add(1, 1, be.addr())
	op := func(addr string) func() error {
		pool := make(chan net.Conn, benchClients)
		b.Cleanup(func() {
			close(pool)
			for c := range pool {
				c.Close()
			}
		})
		return func() error {
			var c net.Conn
			select {
			case c = <-pool:
			default:
				var err error
				if c, err = net.Dial("tcp", addr); err != nil {
					return err
				}
			}
			buf := []byte("0123456789abcdef")
			if _, err := c.Write(buf); err != nil {
				return err
			}
			if _, err := io.ReadFull(c, buf); err != nil {
				return err
			}
			pool <- c
			return nil
		}
	}
	compare(b, op(be.addr()), op(ln.Addr().String()))
}

// Small GETs from keep-alive clients through the http balancer against
// straight to the backend.
func BenchmarkBalancer_HTTP(b *testing.B) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "hello")
	}))
	b.Cleanup(be.Close)
	bal, ln := newBalancer(b, balancer.Options{Component: "bench", Mode: balancer.ModeHTTP, QueueTimeout: time.Second})
	bal.Add(1, 1, be.Listener.Addr().String())
	op := func(addr string) func() error {
		tr := &http.Transport{MaxIdleConnsPerHost: benchClients, DisableCompression: true}
		b.Cleanup(tr.CloseIdleConnections)
		c := &http.Client{Transport: tr}
		url := "http://" + addr + "/"
		return func() error {
			res, err := c.Get(url)
			if err != nil {
				return err
			}
			_, err = io.Copy(io.Discard, res.Body)
			res.Body.Close()
			return err
		}
	}
	compare(b, op(be.Listener.Addr().String()), op(ln.Addr().String()))
}

// inUse returns the heap and stack memory in use, after a collection.
func inUse() int64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return int64(ms.HeapInuse + ms.StackInuse)
}

// The Go memory (heap and stacks) 1,000 idle proxied tcp connections
// cost beyond 1,000 idle direct ones (clients, backend and balancer all in
// this process; the kernel's socket buffers and splice pipes are not in
// the process's RSS).
func BenchmarkBalancer_TCP_IdleConns(b *testing.B) {
	const conns = 1000
	be := newTCPBackend(b, func(c net.Conn) { io.Copy(c, c) })
	bal, ln := newBalancer(b, balancer.Options{Component: "bench", QueueTimeout: time.Second})
	bal.Add(1, 1, be.addr())
	open := func(addr string) (int64, func()) {
		before := inUse()
		cs := make([]net.Conn, 0, conns)
		for range conns {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			// One exchange: the connection is set up end to end.
			buf := []byte("x")
			c.Write(buf)
			if _, err := io.ReadFull(c, buf); err != nil {
				b.Fatal(err)
			}
			cs = append(cs, c)
		}
		return inUse() - before, func() {
			for _, c := range cs {
				c.Close()
			}
		}
	}
	for range b.N {
		direct, closeDirect := open(be.addr())
		proxied, closeProxied := open(ln.Addr().String())
		closeDirect()
		closeProxied()
		b.ReportMetric(float64(proxied-direct)/conns/1024, "added-KiB/conn")
		b.ReportMetric(float64(proxied-direct)/(1<<20), "added-MiB/1000")
	}
}
