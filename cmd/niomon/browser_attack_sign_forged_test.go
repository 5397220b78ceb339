package main

import (
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/crypto"
)

// signMessage checks only the answer's "instance" field, which the
// server writes; the signature itself is not checked against the
// wallet's verified Ethereum address. A server that answers with another
// key's signature (here the operator's, of the same message) and the
// pinned instance gets it shown as the user's signature.
func TestBrowserAttack_ASignatureIsCheckedAgainstTheWalletsAddress(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	p := newBrowser(t).tab()
	p.signInByEmail(d, "review-sign@example.com", 1, "")
	p.addresses()

	operator, _ := crypto.GenerateKey()
	f.lie(nil, func(r *http.Request, reqBody []byte, body map[string]any) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/wallet/sign" {
			return
		}
		params, ok := signParamsOf(t, reqBody)
		if !ok {
			return
		}
		sig, err := crypto.Sign(accounts.TextHash(params.Message), operator)
		if err != nil {
			t.Error(err)
			return
		}
		sig[64] += 27
		body["signature"] = base64.StdEncoding.EncodeToString(sig) // "instance" stays the pinned one
	})
	p.run("sign", chromedp.SendKeys(chromedp.CSS("#message"), "pay 1 ETH to bob"), chromedp.Click(chromedp.CSS("#sign-form button[type=submit]")))
	if msg := p.errorStatus(); !strings.Contains(msg, "not by your wallet") {
		t.Fatalf("a signature by another key: the page says %q, want a refusal", msg)
	}
	if sig := get(p, "the signature", chromedp.Evaluate[string](`document.getElementById('signature').textContent`)); sig != "" {
		t.Fatalf("the page shows a signature by another key: %s", sig)
	}
}
