package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"testing"

	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/secretd"
)

func TestHealth_ReadyzNamesTheDependencyThatIsDown(t *testing.T) {
	tests := []struct {
		name       string
		breakIt    func(e *env)
		wantStatus int
		want       server.Health
	}{
		{"everything up", func(*env) {}, http.StatusOK, server.Health{Status: "ready", Database: "ok", Secretd: "ok", Mail: "ok"}},
		{"secretd stopped", func(e *env) { e.cluster.Stop() }, http.StatusServiceUnavailable, server.Health{Status: "unready", Database: "ok", Secretd: "unreachable", Mail: "ok"}},
		{"the database closed", func(e *env) { e.db.Close() }, http.StatusServiceUnavailable, server.Health{Status: "unready", Database: "unreachable", Secretd: "ok", Mail: "ok"}},
		// Every server shares the relay: it is reported, not a reason to
		// take them all out of the load balancer.
		{"the mail relay stopped", func(e *env) { e.mbox.Close() }, http.StatusOK, server.Health{Status: "degraded", Database: "ok", Secretd: "ok", Mail: "unreachable"}},
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

func TestAttestation_RelaysAFreshDocumentTheDeviceCanCheck(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client()
	cfg, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	nonce := bytes.Repeat([]byte{7}, 32)
	doc, err := c.Attestation(ctx, nonce)
	if err != nil {
		t.Fatal(err)
	}
	policy := &secretd.AttestationPolicy{AllowDev: true, PCRs: map[int][]byte{0: testcluster.Measurement(t)}}
	rk, err := secretd.VerifyAttestation(policy, doc, nonce, cfg.ClusterIdentity)
	if err != nil || !bytes.Equal(rk, cfg.ReceiptKey) {
		t.Fatalf("the document: receipt key %x, %v; want the configured key %x", rk, err, cfg.ReceiptKey)
	}
	if _, err := secretd.VerifyAttestation(policy, doc, bytes.Repeat([]byte{8}, 32), cfg.ClusterIdentity); err == nil {
		t.Fatal("the document verified for another nonce")
	}
	bad := []struct {
		name, query string
	}{
		{"no nonce", ""},
		{"a short nonce", "?nonce=" + base64.RawURLEncoding.EncodeToString(make([]byte, 15))},
		{"a long nonce", "?nonce=" + base64.RawURLEncoding.EncodeToString(make([]byte, 65))},
		{"padded base64", "?nonce=" + base64.URLEncoding.EncodeToString(make([]byte, 32))},
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			status, _, body := e.raw(e.httpClient(), "GET", "/v1/attestation"+tc.query, "", nil)
			if status != http.StatusBadRequest || apiError(t, body).Error.Code != server.CodeInvalidRequest {
				t.Fatalf("got %d %s, want 400 invalid_request", status, body)
			}
		})
	}
}
