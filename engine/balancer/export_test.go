package balancer

import "time"

// SetParkTimes sets how long a keep-alive client connection waits idle
// in the server before it is parked and in all before it is closed, for
// the Balancers created until the returned function restores them.
func SetParkTimes(after, idle time.Duration) (restore func()) {
	oldAfter, oldIdle := parkAfter, idleTimeout
	parkAfter, idleTimeout = after, idle
	return func() { parkAfter, idleTimeout = oldAfter, oldIdle }
}

// Parked returns how many client connections are parked.
func (b *Balancer) Parked() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.parked)
}
