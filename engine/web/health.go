package web

import (
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/thorp-dev/thorp/engine"
)

// The values of /health's "status".
const (
	StatusHealthy   = "healthy"
	StatusDegraded  = "degraded"
	StatusUnhealthy = "unhealthy"
)

// healthReport is the body of GET /health.
type healthReport struct {
	Status        string            `json:"status"`
	UptimeSeconds float64           `json:"uptime_seconds"`
	MemoryBytes   int64             `json:"memory_bytes"`
	Components    []componentHealth `json:"components"`
}

// componentHealth is one component in /health, and the body of
// /health/NAME (which also fills Status). It holds no config, environment
// or command line on purpose: probes are often reachable by more people
// than the control API.
type componentHealth struct {
	Name          string       `json:"name"`
	Status        string       `json:"status,omitempty"`
	State         engine.State `json:"state"`
	PID           int          `json:"pid"`
	UptimeSeconds float64      `json:"uptime_seconds"`
	Restarts      int          `json:"restarts"`
	MemoryBytes   int64        `json:"memory_bytes"`
	Healthy       bool         `json:"healthy"`
}

func newComponentHealth(st engine.Status) componentHealth {
	return componentHealth{
		Name:          st.Name,
		State:         st.State,
		PID:           st.PID,
		UptimeSeconds: st.UptimeSeconds,
		Restarts:      st.Restarts,
		MemoryBytes:   st.MemoryBytes,
		Healthy:       st.Healthy,
	}
}

// healthOf is one component's health status (DESIGN "Health status"):
// unhealthy when errored or failing its health check, degraded while it is
// on its way up or down (starting, backoff, stopping), healthy otherwise;
// stopped on purpose counts as healthy.
func healthOf(st engine.Status) string {
	switch {
	case st.State == engine.StateErrored || !st.Healthy:
		return StatusUnhealthy
	case st.State == engine.StateStarting || st.State == engine.StateBackoff || st.State == engine.StateStopping:
		return StatusDegraded
	default:
		return StatusHealthy
	}
}

// worst returns the more severe of two health statuses.
func worst(a, b string) string {
	rank := map[string]int{StatusHealthy: 0, StatusDegraded: 1, StatusUnhealthy: 2}
	if rank[b] > rank[a] {
		return b
	}
	return a
}

// httpCode is 503 for unhealthy, 200 otherwise.
func httpCode(status string) int {
	if status == StatusUnhealthy {
		return http.StatusServiceUnavailable
	}
	return http.StatusOK
}

func (s *Server) health(w http.ResponseWriter, _ *http.Request) {
	sts := s.src.Status()
	rep := healthReport{
		Status:        StatusHealthy,
		UptimeSeconds: time.Since(s.started).Seconds(),
		MemoryBytes:   selfRSS(),
		Components:    make([]componentHealth, 0, len(sts)),
	}
	for _, st := range sts {
		rep.Status = worst(rep.Status, healthOf(st))
		rep.Components = append(rep.Components, newComponentHealth(st))
	}
	writeJSON(w, httpCode(rep.Status), rep)
}

func (s *Server) healthOf(w http.ResponseWriter, r *http.Request) {
	name := r.PathValue("name")
	d, err := s.src.Describe(name)
	switch {
	case errors.Is(err, engine.ErrUnknownComponent):
		writeError(w, http.StatusNotFound, fmt.Sprintf("unknown component %q", name))
		return
	case err != nil:
		writeError(w, http.StatusInternalServerError, fmt.Sprintf("health of %q: %v", name, err))
		return
	}
	ch := newComponentHealth(d.Status)
	ch.Status = healthOf(d.Status)
	writeJSON(w, httpCode(ch.Status), ch)
}
