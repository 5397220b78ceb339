package main

import (
	"net/http"
	"strings"
	"testing"
)

// An email sign-up makes a wallet whose one credential is this browser's
// session key, which expires after the lifetime /v1/config names. A
// server that names a short one would brick every wallet made through it
// when the key expires: the page refuses a lifetime under a week (and
// renews its key well before the end: see
// TestBrowser_ADeviceKeyNearItsExpiryIsRenewedAndKeepsSigning).
func TestBrowserAttack_AServerCannotGiveANewWalletAKeyThatDiesWithinTheHour(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
		if r.URL.Path == "/v1/config" {
			body["session_key_ttl"] = 3600
		}
	})
	p := newBrowser(t).tab()
	p.signInByEmail(d, "review-ttl@example.com", 1, "")
	if msg := p.refused(); !strings.Contains(msg, "refusing to make one that expires so soon") {
		t.Fatalf("a server naming a key lifetime of an hour: the page says %q, want a refusal", msg)
	}
}
