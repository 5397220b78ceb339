package server_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
)

// FuzzPublicEndpoints sends arbitrary bodies to the routes anyone can
// call: the answer is never a 5xx (that would be a panic or an unhandled
// input), and every refusal is the one error envelope.
func FuzzPublicEndpoints(f *testing.F) {
	e := newEnv(f, envOptions{config: nil})
	paths := []string{
		"/v1/auth/email/start", "/v1/auth/email/verify", "/v1/auth/email/link",
		"/v1/auth/apikey/signup", "/v1/auth/apikey/login",
		"/v1/auth/passkey/signup/finish", "/v1/auth/passkey/login/finish",
	}
	for i := range paths {
		f.Add(uint8(i), []byte(`{}`))
	}
	f.Add(uint8(1), []byte(`{"flow_id":"AAAAAAAAAAAAAAAAAAAAAA","code":"123456"}`))
	f.Add(uint8(3), []byte(`{"public_key":"MFkw","challenge":"AA==","signature":"AA=="}`))
	f.Add(uint8(6), []byte(`{"flow":"x","credential":{"id":"AA","rawId":"AA","type":"public-key","response":{}}}`))
	f.Fuzz(func(t *testing.T, which uint8, body []byte) {
		path := paths[int(which)%len(paths)]
		req := httptest.NewRequest("POST", e.url+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.RemoteAddr = "192.0.2.1:1234"
		w := httptest.NewRecorder()
		e.srv.ServeHTTP(w, req)
		if w.Code >= 500 && w.Code != http.StatusServiceUnavailable {
			t.Fatalf("%s %q: status %d %s", path, body, w.Code, w.Body.Bytes())
		}
		if w.Code >= 400 {
			var eb struct {
				Error struct{ Code, Message, RequestID string } `json:"error"`
			}
			if json.Unmarshal(w.Body.Bytes(), &eb) != nil || eb.Error.Code == "" {
				t.Fatalf("%s %q: refusal is not the error envelope: %s", path, body, w.Body.Bytes())
			}
		}
	})
}
