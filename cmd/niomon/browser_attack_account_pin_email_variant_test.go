package main

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// The account pin is keyed by the email the server's session answer
// names, not by the one the user typed: a server that swaps the user id
// and adds an invisible character to the email (or drops the email) finds
// no pin, and the page shows the operator's genuine addresses as "Your
// wallet", signed in as what looks like the user's own address.
func TestBrowserAttack_TheAccountPinCannotBeSkippedByALookalikeEmail(t *testing.T) {
	for _, tc := range []struct{ name, email string }{
		{"zero-width", "attack-pin@example.com\u200b"},
		{"trailing-space", "attack-pin@example.com "},
		{"no-email", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := startOriginFront(t)
			d := f.d
			otherWallet, operatorOID, operatorEth := operatorWallet(t, d)
			p := newBrowser(t).tab()
			p.signInByEmail(d, "attack-pin@example.com", 1, "")
			addrs := p.addresses()

			f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
				if r.Method != http.MethodGet {
					return
				}
				switch r.URL.Path {
				case "/v1/session":
					u := body["user"].(map[string]any)
					u["id"] = operatorOID
					if tc.email == "" {
						delete(u, "email")
					} else {
						u["email"] = tc.email
					}
				case "/v1/wallet":
					replaceBody(body, deepCopy(otherWallet))
				}
			})
			p.run("reload", chromedp.Reload())
			if kind, text := p.homeOrFatal(); kind == "fatal" {
				t.Logf("refused: %s", text)
				return
			}
			if got := p.addresses(); got["ethereum"] == operatorEth {
				who := get(p, "who", chromedp.Evaluate[string](`document.querySelector('.who strong').textContent`))
				t.Fatalf("signed in as %q, the browser holding the key of wallet %s shows the operator's address %s as \"Your wallet\"", who, addrs["ethereum"], operatorEth)
			}
		})
	}
}
