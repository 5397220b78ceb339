package main

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// createWallet stores a new device key under device:<user id> before it
// asks for the wallet, whatever was stored there. A server that says
// once that the user's wallet is not ready (wallet_ready false) makes
// the page overwrite the key of the existing wallet with a fresh one; the
// create is refused (the wallet exists), and the browser has lost its
// only key of the wallet for good: no signing, no export, and a wallet
// whose only credential nobody holds.
func TestBrowserAttack_AWalletReadyFlagTheServerFlipsDoesNotDestroyTheDeviceKey(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	p := newBrowser(t).tab()
	p.signInByEmail(d, "review-flip@example.com", 1, "")
	addrs := p.addresses()
	if got := personalSigner(t, "before", p.signMessage("before")); got != addrs["ethereum"] {
		t.Fatalf("signing before the lie recovers %s, want %s", got, addrs["ethereum"])
	}

	f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
		if r.Method == http.MethodGet && r.URL.Path == "/v1/session" {
			u := body["user"].(map[string]any)
			u["wallet_ready"] = false
			u["state"] = "pending"
		}
	})
	p.run("reload while the server lies once", chromedp.Reload())
	kind, text := p.homeOrFatal()
	t.Logf("with the lie the page shows %s %q", kind, text)

	f.lie(nil, nil)
	p.run("reload with the honest server", chromedp.Reload())
	if kind, text := p.homeOrFatal(); kind != "home" {
		t.Fatalf("after one lie about wallet_ready and an honest reload, the page says %q: it overwrote the wallet's only key", text)
	}
	if got := personalSigner(t, "after", p.signMessage("after")); got != addrs["ethereum"] {
		t.Fatalf("after the lie signing recovers %s, want %s", got, addrs["ethereum"])
	}
}
