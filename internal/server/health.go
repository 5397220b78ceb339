package server

import (
	"context"
	"net/http"
	"sync"
	"time"
)

// probeTimeout bounds each dependency check of /readyz.
const probeTimeout = 2 * time.Second

// readyFor is how long a /readyz answer is reused: the endpoint needs no
// session, and each fresh answer costs a query and a secretd round trip.
const readyFor = time.Second

// readiness is the last /readyz answer.
type readiness struct {
	mu     sync.Mutex
	at     time.Time
	status int
	h      Health
	mailAt time.Time // the relay's last check
	mail   string
}

// Health is the answer of /healthz and /readyz: the overall status and,
// for /readyz, each dependency's ("ok" or "unreachable"). Reasons go to
// the log, not to the answer.
type Health struct {
	Status   string `json:"status"`
	Database string `json:"database,omitempty"`
	Secretd  string `json:"secretd,omitempty"`
	// Mail is the SMTP relay's state, when the sender can be checked. A
	// relay that does not answer leaves the server ready but "degraded":
	// passkeys and signatures still work, sign-in mail does not.
	Mail string `json:"mail,omitempty"`
}

// mailChecker is a mail sender that can check its relay (mail.SMTP).
type mailChecker interface {
	Check(ctx context.Context) error
}

// mailCheckEvery is how often /readyz connects to the relay at most.
const mailCheckEvery = 30 * time.Second

// healthz answers while the process serves HTTP (liveness).
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request, _ *auth) error {
	writeJSON(w, http.StatusOK, Health{Status: "ok"})
	return nil
}

// readyz answers 200 when the database and secretd both answer within
// probeTimeout, and 503 otherwise (readiness: take this server out of a
// load balancer while it cannot sign anyone in or relay a signature).
// The SMTP relay is reported too (checked every mailCheckEvery), as
// "degraded" with 200: every server shares the relay, so taking them all
// out for it would stop passkey users as well.
// An answer is reused for readyFor; callers meanwhile wait for it.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request, _ *auth) error {
	s.ready.mu.Lock()
	defer s.ready.mu.Unlock()
	if now := time.Now(); now.Sub(s.ready.at) >= readyFor {
		s.ready.status, s.ready.h = s.checkReady(r)
		s.ready.at = time.Now()
	}
	writeJSON(w, s.ready.status, s.ready.h)
	return nil
}

func (s *Server) checkReady(r *http.Request) (int, Health) {
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
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), probeTimeout) // a caller that leaves must not cache a failure
			defer cancel()
			*c.out = "ok"
			if err := c.check(ctx); err != nil {
				*c.out = "unreachable"
				s.log.Warn("readiness check failed", "request_id", requestID(r), "dependency", c.name, "err", err)
			}
		})
	}
	if mc, ok := s.mail.(mailChecker); ok && time.Since(s.ready.mailAt) >= mailCheckEvery {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), probeTimeout)
			defer cancel()
			s.ready.mail = "ok"
			if err := mc.Check(ctx); err != nil {
				s.ready.mail = "unreachable"
				s.log.Warn("readiness check failed", "request_id", requestID(r), "dependency", "mail", "err", err)
			}
			s.ready.mailAt = time.Now()
		})
	}
	wg.Wait()
	h := Health{Status: "ready", Database: *checks[0].out, Secretd: *checks[1].out, Mail: s.ready.mail}
	status := http.StatusOK
	switch {
	case h.Database != "ok" || h.Secretd != "ok":
		h.Status, status = "unready", http.StatusServiceUnavailable
	case h.Mail != "" && h.Mail != "ok":
		h.Status = "degraded"
	}
	return status, h
}
