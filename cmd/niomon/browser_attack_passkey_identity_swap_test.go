package main

import (
	"net/http"
	"testing"

	"github.com/chromedp/chromedp"
)

// The account pin needs an email, so it does not guard passkey users
// (nor OIDC users). On the very browser whose device key is the user's
// passkey, a passkey sign-in that the server answers with the operator's
// user id shows the operator's genuine, enclave-signed addresses as "Your
// wallet" (and offers to pair this browser into it). The page knows which
// passkey signed in: it is this browser's key of another user's wallet.
func TestBrowserAttack_APasskeySignInCannotBeSwappedToAnotherUsersWallet(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	otherWallet, operatorOID, operatorEth := operatorWallet(t, d)

	p := newBrowser(t).tab()
	p.run("open the wallet", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible(chromedp.CSS("#passkey-signup")))
	p.addAuthenticator()
	p.run("create a wallet with a passkey", chromedp.Click(chromedp.CSS("#passkey-signup")))
	addrs := p.addresses()
	p.run("sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#passkey-signin")))

	f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
		switch {
		case r.URL.Path == "/v1/auth/passkey/login/finish" || r.URL.Path == "/v1/session":
			u := body["user"].(map[string]any)
			u["id"] = operatorOID
			delete(u, "email")
		case r.Method == http.MethodGet && r.URL.Path == "/v1/wallet":
			replaceBody(body, deepCopy(otherWallet))
		}
	})
	p.run("sign in with the passkey", chromedp.Click(chromedp.CSS("#passkey-signin")))
	if kind, text := p.homeOrFatal(); kind == "fatal" {
		t.Logf("refused: %s", text)
		return
	}
	if got := p.addresses(); got["ethereum"] == operatorEth {
		t.Fatalf("signed in with the passkey of wallet %s, the page shows the operator's address %s as \"Your wallet\"", addrs["ethereum"], operatorEth)
	}
}
