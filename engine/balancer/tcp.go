package balancer

import (
	"errors"
	"io"
	"net"
	"time"
)

// Accept error back-off, as net/http's Server does it.
const (
	acceptDelayFirst = 5 * time.Millisecond
	acceptDelayMax   = time.Second
)

// pipe is one proxied tcp connection: the client and, once dialled, its
// backend connection.
type pipe struct {
	client  net.Conn
	backend net.Conn // set under Balancer.mu
}

// close closes both connections, which ends both copies.
func (p *pipe) close() {
	p.client.Close()
	if p.backend != nil {
		p.backend.Close()
	}
}

// acceptTCP accepts clients until Close and serves each on a goroutine.
func (b *Balancer) acceptTCP() {
	defer b.wg.Done()
	defer close(b.accepted)
	var delay time.Duration
	for {
		c, err := b.ln.Accept()
		if err != nil {
			if b.ln.stopped.Load() {
				return
			}
			if errors.Is(err, net.ErrClosed) {
				b.warn.warn("accept", "proxy listener closed, no longer accepting", "err", err)
				return
			}
			b.warn.warn("accept", "proxy accept failed, retrying", "err", err)
			delay = min(max(2*delay, acceptDelayFirst), acceptDelayMax)
			t := time.NewTimer(delay)
			select {
			case <-t.C:
			case <-b.ctx.Done():
				t.Stop()
				return
			}
			continue
		}
		delay = 0
		b.connections.Add(1)
		p := &pipe{client: c}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			return
		}
		b.conns[p] = true
		b.wg.Add(1)
		b.mu.Unlock()
		go b.serveTCP(p)
	}
}

// serveTCP connects p's client to a backend and copies between them.
func (b *Balancer) serveTCP(p *pipe) {
	defer b.wg.Done()
	defer func() {
		b.mu.Lock()
		delete(b.conns, p)
		b.mu.Unlock()
		p.close()
	}()
	var be *Backend
	if b.dispatch(b.ctx.Done(), func(x *Backend) outcome {
		c, err := dialBackend(b.ctx, "tcp", x.addr)
		if err != nil {
			x.release()
			if b.ctx.Err() != nil {
				return failed
			}
			kind := errKind(err)
			if kind < 0 || kind == kindReset {
				kind = kindRefused
			}
			b.count(kind)
			b.warn.warn("dial "+x.addr, "proxy backend unreachable, trying another", "instance", x.instance, "pid", x.pid, "addr", x.addr, "err", err)
			return retry
		}
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			c.Close()
			x.release()
			return failed
		}
		p.backend = c
		b.mu.Unlock()
		be = x
		return succeeded
	}) != served {
		return
	}
	defer be.release()

	errc := make(chan error, 1)
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		errc <- p.copy(p.backend, p.client)
	}()
	err := p.copy(p.client, p.backend)
	err2 := <-errc
	if errKind(err) == kindReset || errKind(err2) == kindReset {
		b.count(kindReset)
	}
}

// copy copies src to dst until src ends, then half-closes dst; on an error
// it closes both connections, which ends the other direction too.
func (p *pipe) copy(dst, src net.Conn) error {
	if _, err := io.Copy(dst, src); err != nil {
		p.close()
		return err
	}
	if cw, ok := dst.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	return nil
}
