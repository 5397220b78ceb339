package main

import (
	"bytes"
	"io"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// rotateIfDue keeps the new key aside (rotation:<user>) before it sends
// the change, "so the next receipt tells which key the wallet holds", but
// nothing ever reads it back. A server that relays the rotation to the
// enclave and then answers 502 (and fails the one receipt fetch that
// follows) leaves the wallet holding only the new key and the page
// holding the old one as its device key: every later visit, even to an
// honest server, stops at "does not list this browser's key: it is not
// your wallet" before any address or export is shown. A wallet whose only
// credential was this key is then lost (and a plain network drop, or the
// tab closing at the wrong moment, does the same).
func TestBrowserAttack_ALostRotationAnswerDoesNotLockTheUserOutOfTheirWallet(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	var short atomic.Bool
	short.Store(true)
	rewriteTTL := func(r *http.Request, _ []byte, body map[string]any) {
		if r.URL.Path == "/v1/config" && short.Load() {
			body["session_key_ttl"] = 8 * 24 * 3600
		}
	}
	f.lie(nil, rewriteTTL)
	p := newBrowser(t).tab()
	p.signInByEmail(d, "attack-rotate@example.com", 1, "")
	addrs := p.addresses()

	// The next visit rotates: the proxy relays the change to the real
	// server, answers 502, and fails the receipt fetch that follows once.
	short.Store(false)
	var relayed, failedGet atomic.Bool
	f.lie(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		switch {
		case r.Method == http.MethodPost && r.URL.Path == "/v1/wallet/policy" && !relayed.Load():
			req, _ := http.NewRequest(r.Method, f.upstream+r.URL.Path, bytes.NewReader(body))
			req.Header = r.Header.Clone()
			req.Host = r.Host
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Errorf("relay the rotation: %v", err)
				return false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode/100 != 2 {
				t.Errorf("the real server refused the rotation: %d %s", resp.StatusCode, b)
			}
			relayed.Store(true)
			http.Error(w, `{"error":{"code":"bad_gateway","message":"upstream timeout"}}`, http.StatusBadGateway)
			return true
		case r.Method == http.MethodGet && r.URL.Path == "/v1/wallet/policy" && relayed.Load() && !failedGet.Load():
			failedGet.Store(true)
			http.Error(w, `{"error":{"code":"unavailable","message":"try again"}}`, http.StatusServiceUnavailable)
			return true
		}
		return false
	}, nil)
	p.run("visit again (rotation due)", chromedp.Reload())
	kind, text := p.homeOrFatal()
	t.Logf("the rotating visit ends on %s %q", kind, text)
	// The page renews its key once the home screen is up.
	for deadline := time.Now().Add(20 * time.Second); !relayed.Load() && time.Now().Before(deadline); {
		time.Sleep(100 * time.Millisecond)
	}
	if !relayed.Load() {
		t.Fatal("the page did not try to rotate its key")
	}
	p.errorStatus() // it says the renewal did not finish

	// From now on the server is honest: the user must get their wallet back.
	f.lie(nil, nil)
	p.run("visit with an honest server", chromedp.Reload())
	kind, text = p.homeOrFatal()
	if kind == "fatal" {
		t.Fatalf("after one lost rotation answer, an honest server's page stops at %q: the browser kept the new key aside but never uses it", text)
	}
	if got := p.addresses(); got["ethereum"] != addrs["ethereum"] {
		t.Fatalf("the page shows %s, want %s", got["ethereum"], addrs["ethereum"])
	}
	msg := "still mine"
	if got := personalSigner(t, msg, p.signMessage(msg)); !strings.EqualFold(got, addrs["ethereum"]) {
		t.Fatalf("signer %s, want %s", got, addrs["ethereum"])
	}
}
