package server_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/niomon/niomon/internal/server"
)

func TestErrors_HaveOneShapeAndEchoTheRequestID(t *testing.T) {
	e := newEnv(t, envOptions{})
	hc := e.httpClient()
	jsonCT := map[string]string{"Content-Type": "application/json"}
	tests := []struct {
		name       string
		method     string
		path       string
		body       string
		header     map[string]string
		wantStatus int
		wantCode   string
	}{
		{"an unknown route", "GET", "/v1/nothing-here", "", nil, http.StatusNotFound, server.CodeNotFound},
		{"a signed-in route without a session", "GET", "/v1/wallet", "", nil, http.StatusUnauthorized, server.CodeUnauthorized},
		{"a forged session token", "GET", "/v1/wallet", "", map[string]string{"Authorization": "Bearer nios_forged"}, http.StatusUnauthorized, server.CodeUnauthorized},
		{"malformed JSON", "POST", "/v1/auth/email/start", `{"email":`, jsonCT, http.StatusBadRequest, server.CodeInvalidRequest},
		{"an unknown field", "POST", "/v1/auth/email/start", `{"email":"a@example.com","admin":true}`, jsonCT, http.StatusBadRequest, server.CodeInvalidRequest},
		{"two JSON values", "POST", "/v1/auth/email/start", `{"email":"a@example.com"}{}`, jsonCT, http.StatusBadRequest, server.CodeInvalidRequest},
		{"a field of the wrong type", "POST", "/v1/auth/email/verify", `{"flow_id":1,"code":"123456"}`, jsonCT, http.StatusBadRequest, server.CodeInvalidRequest},
		{"a body over the limit", "POST", "/v1/auth/email/start", `{"email":"` + strings.Repeat("a", 500<<10) + `"}`, jsonCT, http.StatusRequestEntityTooLarge, server.CodeInvalidRequest},
		{"not JSON at all", "POST", "/v1/auth/email/start", `email=a@example.com`, map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, http.StatusUnsupportedMediaType, server.CodeInvalidRequest},
		{"a wrong method", "DELETE", "/v1/config", "", nil, http.StatusMethodNotAllowed, server.CodeMethod},
		{"a wrong method on a path with a parameter", "GET", "/v1/sessions/ab/revoke", "", nil, http.StatusMethodNotAllowed, server.CodeMethod},
		{"a wrong method on a path with two", "PUT", "/v1/auth/oidc/google/callback", "", nil, http.StatusMethodNotAllowed, server.CodeMethod},
		{"an unknown OIDC provider", "GET", "/v1/auth/oidc/nobody/start", "", nil, http.StatusNotFound, server.CodeNotFound},
	}
	wantAllow := map[string]string{"/v1/config": "GET, HEAD", "/v1/sessions/ab/revoke": "POST", "/v1/auth/oidc/google/callback": "GET, HEAD, POST"}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.raw(hc, tc.method, tc.path, tc.body, tc.header)
			if status != tc.wantStatus {
				t.Fatalf("status: got %d, want %d (%s)", status, tc.wantStatus, body)
			}
			eb := apiError(t, body)
			if eb.Error.Code != tc.wantCode || eb.Error.Message == "" {
				t.Fatalf("error: got %+v, want code %s and a message", eb.Error, tc.wantCode)
			}
			if id := h.Get("X-Request-Id"); id == "" || eb.Error.RequestID != id {
				t.Fatalf("request id: body %q, header %q; want the same, non-empty", eb.Error.RequestID, id)
			}
			if !strings.HasPrefix(h.Get("Content-Type"), "application/json") || h.Get("X-Content-Type-Options") != "nosniff" || h.Get("Strict-Transport-Security") == "" {
				t.Fatalf("headers: %v", h)
			}
			// 405 names the methods the path takes.
			if allow := h.Get("Allow"); (status == http.StatusMethodNotAllowed) != (allow != "") || allow != wantAllow[tc.path] {
				t.Fatalf("Allow: got %q, want %q", allow, wantAllow[tc.path])
			}
			for _, leak := range []string{"sql", "SQL", "goroutine", ".go:", "authdb", "secretd:"} {
				if strings.Contains(string(body), leak) {
					t.Fatalf("the error shows internals (%q): %s", leak, body)
				}
			}
		})
	}
	if !strings.Contains(e.logs.String(), "request_id=") {
		t.Fatal("the log lines carry no request id")
	}
}

func TestErrors_AnUnexpectedFailureIsInternalAndLoggedWithTheRequestID(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	s := e.emailSignIn(c, "down@example.com", true)
	// secretd goes away: the wallet call fails in a way the API cannot
	// explain to the user.
	e.cluster.Stop()
	hc := e.httpClient()
	status, h, body := e.raw(hc, "GET", "/v1/wallet/import-key", "", map[string]string{"Authorization": "Bearer " + s.Token})
	eb := apiError(t, body)
	if status != http.StatusServiceUnavailable || eb.Error.Code != server.CodeUnavailable {
		t.Fatalf("got %d %+v, want 503 %s", status, eb.Error, server.CodeUnavailable)
	}
	if !strings.Contains(e.logs.String(), h.Get("X-Request-Id")) {
		t.Fatal("the log does not name the failed request's id")
	}
	var m map[string]any
	if json.Unmarshal(body, &m) != nil || len(m) != 1 {
		t.Fatalf("the body is not exactly the error envelope: %s", body)
	}
}
