package policies

// HealthPolicy is a component's health-check threshold (health.failures).
// Values are plain data, safe to share.
type HealthPolicy struct {
	// Failures is how many failed checks in a row call for a restart; values
	// below 1 act as 1.
	Failures int
}

// HealthState is what the health policy remembers between checks of one
// instance. The caller resets it to the zero value at each start.
type HealthState struct {
	// Misses is the number of consecutive failed checks.
	Misses int
}

// DecideHealth folds one health-check result into st and reports whether the
// instance must restart: true once p.Failures checks in a row failed, and for
// every further failure until a check passes or the caller resets st
// (level-triggered, like DecideMemory). It is pure: safe for concurrent use.
func DecideHealth(p HealthPolicy, st HealthState, ok bool) (restart bool, next HealthState) {
	if ok {
		return false, HealthState{}
	}
	need := max(p.Failures, 1)
	next = HealthState{Misses: max(st.Misses, 0) + 1}
	if next.Misses <= 0 { // overflow
		next.Misses = need
	}
	return next.Misses >= need, next
}
