package balancer

import (
	"context"
	"errors"
	"net"
	"os"
	"slices"
	"syscall"
	"time"
)

// dialTimeout bounds one connection attempt to a loopback backend: a
// refused connection fails at once, so only a backend whose accept queue
// is full (SYNs dropped, retried after a second) reaches it.
const dialTimeout = 2 * time.Second

// dialBackend connects to a backend, within dialTimeout and without
// keep-alive probes (loopback): tcp mode's pipes and both of http mode's
// pools dial with it.
func dialBackend(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: dialTimeout, KeepAlive: -1}
	return d.DialContext(ctx, network, addr)
}

// Retry delays after every backend in rotation failed a client: the first,
// doubled up to the last; an Add ends the wait early.
const (
	retryFirst = 10 * time.Millisecond
	retryMax   = 500 * time.Millisecond
)

// outcome is what one attempt on a backend came to.
type outcome int

const (
	succeeded outcome = iota // the client is served
	failed                   // the client is given up (the attempt says why)
	retry                    // the backend could not be reached: try another, or wait
	retryOnce                // the backend failed the request: try another once
)

// result is what dispatch came to.
type result int

const (
	served    result = iota // an attempt succeeded
	gaveUp                  // an attempt failed, or every backend failed a request
	noBackend               // none could be reached within the queue timeout
	gone                    // the client or the Balancer went away
)

// dispatch finds a backend for one client: it picks the backend in
// rotation with the fewest active clients (acquired for the client) and
// hands it to attempt, then to another backend while attempt says retry
// or retryOnce. With no backend left to try the client waits, woken by
// Add, until the queue timeout it arrived with has passed (counted as
// no_backend) or done is closed; after a retryOnce it gives up instead:
// a request that failed on a backend it reached is not sent again and
// again. attempt releases a backend it fails on.
func (b *Balancer) dispatch(done <-chan struct{}, attempt func(*Backend) outcome) result {
	var (
		deadline = time.Now().Add(time.Duration(b.queue.Load()))
		buf      [4]*Backend
		tried    = buf[:0]
		once     bool // a backend failed the request itself
		timer    *time.Timer
		delay    = retryFirst
	)
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		be, added := b.pick(tried)
		if be != nil {
			switch attempt(be) {
			case succeeded:
				return served
			case failed:
				return gaveUp
			case retryOnce:
				once = true
			}
			tried = append(tried, be)
			continue
		}
		if once {
			return gaveUp
		}
		wait := time.Until(deadline)
		if wait <= 0 {
			b.count(kindNoBackend)
			return noBackend
		}
		if len(tried) > 0 { // every backend in rotation refused: retry them soon
			wait = min(wait, delay)
			delay = min(2*delay, retryMax)
		}
		if timer == nil {
			timer = time.NewTimer(wait)
		} else {
			timer.Reset(wait)
		}
		select {
		case <-added:
		case <-timer.C:
		case <-done:
			return gone
		}
		tried = tried[:0]
	}
}

// pick returns the backend in rotation, not in skip, with the fewest
// active clients, counting one more on it; among equals the next in turn.
// With none it returns the channel the next Add closes.
func (b *Balancer) pick(skip []*Backend) (*Backend, <-chan struct{}) {
	b.mu.Lock()
	defer b.mu.Unlock()
	var best *Backend
	if n := uint(len(b.backends)); n > 0 && !b.closed {
		for i := range n {
			be := b.backends[(b.next+i)%n]
			if be.state != stateIn || (best != nil && be.active >= best.active) || slices.Contains(skip, be) {
				continue
			}
			best = be
		}
	}
	if best == nil {
		return nil, b.added
	}
	b.next++
	best.active++
	return best, nil
}

// errKind classifies an i/o error for Stats.Errors; -1 for none of them
// (a connection the Balancer closed itself).
func errKind(err error) int {
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return kindRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED):
		return kindReset
	case errors.Is(err, os.ErrDeadlineExceeded), errors.Is(err, syscall.ETIMEDOUT), errors.As(err, &ne) && ne.Timeout():
		return kindTimeout
	}
	return -1
}
