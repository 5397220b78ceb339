package server

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// probeTimeout bounds each dependency check of /readyz.
const probeTimeout = 2 * time.Second

// Health is the answer of /healthz and /readyz: the overall status and,
// for /readyz, each dependency's ("ok" or "unreachable"). Reasons go to
// the log, not to the answer.
type Health struct {
	Status   string `json:"status"`
	Database string `json:"database,omitempty"`
	Secretd  string `json:"secretd,omitempty"`
}

// healthz answers while the process serves HTTP (liveness).
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ *auth) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

// readyz answers 200 when the database and secretd both answer within
// probeTimeout, and 503 otherwise (readiness: take this server out of a
// load balancer while it cannot sign anyone in or relay a signature).
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *auth) error {
	checks := []struct {
		name  string
		out   *string
		check func(context.Context) error
	}{
		{"database", new(string), s.db.Ping},
		{"secretd", new(string), s.sd.Ping},
	}
	var wg sync.WaitGroup
	for _, c := range checks {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(r.Context(), probeTimeout)
			defer cancel()
			*c.out = "ok"
			if err := c.check(ctx); err != nil {
				*c.out = "unreachable"
				s.log.Warn("readiness check failed", "request_id", requestID(r), "dependency", c.name, "err", err)
			}
		})
	}
	wg.Wait()
	h := Health{Status: "ready", Database: *checks[0].out, Secretd: *checks[1].out}
	status := http.StatusOK
	if h.Database != "ok" || h.Secretd != "ok" {
		h.Status, status = "unready", http.StatusServiceUnavailable
	}
	writeJSON(w, status, h)
	return nil
}
