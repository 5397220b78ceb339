package main

import (
	"crypto/ecdh"
	"crypto/hpke"
	"encoding/base64"
	"encoding/json"
	"github.com/chromedp/chromedp"
	"net/http"
	"strings"
	"testing"

	bip39 "github.com/cosmos/go-bip39"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
)

// The export is HPKE base mode: anyone with the recipient public key,
// which the server relays in the request, can seal a phrase that opens
// with the HPKE info (oid, instance) and additional data (the request's
// hash), all of which the server knows. So a server can make the export
// screen show a phrase of its choosing (one it holds): the user writes
// down a backup that restores the operator's wallet, not theirs. The page
// must check the phrase is the wallet's (or the enclave must
// authenticate the sealing) before it shows it.
func TestBrowserAttack_AnExportTheServerSealedItselfIsRefused(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	p := newBrowser(t).tab()
	p.signInByEmail(d, "review-export@example.com", 1, "")
	p.addresses()

	entropy, _ := bip39.NewEntropy(256)
	operatorPhrase, _ := bip39.NewMnemonic(entropy)
	f.lie(nil, func(r *http.Request, reqBody []byte, body map[string]any) {
		if r.Method != http.MethodPost || r.URL.Path != "/v1/wallet/export" {
			return
		}
		var in nioapi.Stamped
		if err := json.Unmarshal(reqBody, &in); err != nil {
			t.Error(err)
			return
		}
		var params policy.ExportParams
		req, err := policy.Decode(in.Request, &params)
		if err != nil {
			t.Error(err)
			return
		}
		instance, _ := base64.StdEncoding.DecodeString(body["instance"].(string))
		pub, err := ecdh.P256().NewPublicKey(params.Recipient)
		if err != nil {
			t.Error(err)
			return
		}
		hpub, _ := hpke.NewDHKEMPublicKey(pub)
		enc, sender, err := hpke.NewSender(hpub, hpke.HKDFSHA256(), hpke.AES256GCM(), api.ExportInfo(req.OID, instance))
		if err != nil {
			t.Error(err)
			return
		}
		h := policy.Hash(in.Request)
		ct, err := sender.Seal(h[:], []byte(operatorPhrase))
		if err != nil {
			t.Error(err)
			return
		}
		body["enc"] = base64.StdEncoding.EncodeToString(enc)
		body["ciphertext"] = base64.StdEncoding.EncodeToString(ct)
	})
	p.askForExport(d, "review-export@example.com", 2, "")
	if msg := p.errorStatus(); !strings.Contains(msg, "not your wallet's") {
		t.Fatalf("an export the server sealed itself: the page says %q, want a refusal", msg)
	}
	if n := get(p, "look for words", chromedp.Evaluate[int](`document.querySelectorAll('#phrase li').length`)); n != 0 {
		t.Fatalf("the export screen shows %d words of a phrase the server sealed", n)
	}
}
