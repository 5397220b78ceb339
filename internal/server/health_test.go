package server_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/niomon/niomon/internal/server"
)

func TestHealth_ReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	tests := []struct {
		name       string
		breakIt    func(e *env)
		wantStatus int
		want       server.Health
	}{
		{"everything up", func(*env) {}, http.StatusOK, server.Health{Status: "ready", Database: "ok", Secretd: "ok"}},
		{"secretd stopped", func(e *env) { e.cluster.Stop() }, http.StatusServiceUnavailable, server.Health{Status: "unready", Database: "ok", Secretd: "unreachable"}},
		{"the database closed", func(e *env) { e.db.Close() }, http.StatusServiceUnavailable, server.Health{Status: "unready", Database: "unreachable", Secretd: "ok"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			tc.breakIt(e)
			hc := e.httpClient()
			status, h, body := e.raw(hc, "GET", "/readyz", "", nil)
			var got server.Health
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("/readyz: not JSON: %s", body)
			}
			if status != tc.wantStatus || got != tc.want || h.Get("Cache-Control") != "no-store" {
				t.Fatalf("/readyz: got %d %+v (Cache-Control %q), want %d %+v (no-store)", status, got, h.Get("Cache-Control"), tc.wantStatus, tc.want)
			}
			// Liveness does not depend on either.
			status, _, body = e.raw(hc, "GET", "/healthz", "", nil)
			var live server.Health
			if status != http.StatusOK || json.Unmarshal(body, &live) != nil || live != (server.Health{Status: "ok"}) {
				t.Fatalf("/healthz: got %d %s, want 200 and status ok", status, body)
			}
		})
	}
}
