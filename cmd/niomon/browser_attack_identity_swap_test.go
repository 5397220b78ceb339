package main

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// Every pin is kept per user id, and the user id is whatever the server's
// session answer says. A browser that holds the key of carol's wallet,
// told by the server that carol (same email) is the operator's user,
// finds no key for that id, skips every check that needs one, and shows
// the operator's genuine, enclave-signed addresses as "Your wallet" under
// carol's email (then offers to pair this browser into that wallet). The
// page should remember which wallet the signed-in identity's key belongs
// to and refuse a session that names another one.
func TestBrowserAttack_ABrowserWithAKeyRefusesASessionSwappedToAnotherUser(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	otherWallet, operatorOID, operatorEth := operatorWallet(t, d)

	p := newBrowser(t).tab()
	p.signInByEmail(d, "review-swap@example.com", 1, "")
	addrs := p.addresses()

	f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
		if r.Method != http.MethodGet {
			return
		}
		switch r.URL.Path {
		case "/v1/session":
			body["user"].(map[string]any)["id"] = operatorOID // email, wallet_ready stay carol's
		case "/v1/wallet":
			replaceBody(body, deepCopy(otherWallet))
		}
	})
	p.run("reload", chromedp.Reload())
	if kind, text := p.homeOrFatal(); kind == "fatal" {
		t.Logf("refused: %s", text)
		return
	}
	got := p.addresses()
	if got["ethereum"] == operatorEth {
		who := get(p, "who", chromedp.Evaluate[string](`document.querySelector('.who strong').textContent`))
		t.Fatalf("signed in as %s, the browser holding that user's key (wallet %s) shows the operator's address %s as \"Your wallet\"", who, addrs["ethereum"], got["ethereum"])
	}
}
