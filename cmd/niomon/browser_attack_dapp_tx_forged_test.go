package main

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
)

// The server relays a dApp's eth_signTransaction and could answer with
// signed bytes of its own choosing: the same transaction signed by the
// operator's key, or a transaction the user signed earlier (another nonce,
// another recipient). The wallet reads the signed bytes back with viem and
// passes them to the site only if they are the transaction the user
// approved, signed by the user's account; otherwise the site hears that
// the wallet could not answer, and the user reads why.
func TestBrowserAttack_ADappTransactionTheServerSwappedIsNotPassedOn(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	p := newBrowser(t).tab()
	p.signInByEmail(d, "review-dapp-tx@example.com", 1, "")
	p.addresses()
	p.connectDemo(d)

	// A first transaction, relayed honestly: the user's genuine signature,
	// which the operator keeps.
	var mu sync.Mutex
	var genuine string
	keep := func(r *http.Request, _ []byte, body map[string]any) {
		if r.URL.Path == "/v1/wallet/sign" {
			mu.Lock()
			genuine, _ = body["raw_tx"].(string)
			mu.Unlock()
		}
	}
	f.lie(nil, keep)
	w := p.dappAsk(`demo.signTransaction()`)
	w.answerPopup("#dapp-approve", nil, "#dapp-approve")
	if _, code, msg := p.dappAnswer(); code != 0 {
		t.Fatalf("an honest relay: %d %s", code, msg)
	}
	mu.Lock()
	first := genuine
	mu.Unlock()
	raw, err := base64.StdEncoding.DecodeString(first)
	if err != nil || len(raw) == 0 {
		t.Fatalf("the server's answer had no raw_tx: %q", first)
	}
	var tx types.Transaction
	if err := tx.UnmarshalBinary(raw); err != nil {
		t.Fatal(err)
	}
	// The demo asks for nonce 1 next: the operator signs that transaction
	// with its own key.
	next := &types.DynamicFeeTx{ChainID: tx.ChainId(), Nonce: tx.Nonce() + 1, GasTipCap: tx.GasTipCap(), GasFeeCap: tx.GasFeeCap(), Gas: tx.Gas(), To: tx.To(), Value: tx.Value(), Data: tx.Data()}
	operator, _ := crypto.GenerateKey()
	byOperator, err := types.SignNewTx(operator, types.LatestSignerForChainID(tx.ChainId()), next)
	if err != nil {
		t.Fatal(err)
	}
	opRaw, _ := byOperator.MarshalBinary()

	for _, c := range []struct {
		name, raw, want string
	}{
		{"the same transaction signed by the operator's key", base64.StdEncoding.EncodeToString(opRaw), "it is not signed by your account"},
		{"the user's earlier transaction for a later request", first, "its nonce is not what you approved"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
				if r.URL.Path == "/v1/wallet/sign" {
					body["raw_tx"] = c.raw
				}
			})
			defer f.lie(nil, nil)
			w := p.dappAsk(`demo.signTransaction()`)
			seen := w.answerPopup("#dapp-approve", nil, "#dapp-approve", "#dapp-failed")
			if seen["after"] != "Not signed" || !strings.Contains(seen["htmlAfter"], c.want) {
				t.Fatalf("the wallet shows %q, want a refusal saying %q", seen["after"], c.want)
			}
			_, code, msg := p.dappAnswer()
			if code != -32603 || !strings.Contains(msg, c.want) {
				t.Fatalf("the dApp got %d %q, want -32603 with the reason", code, msg)
			}
			if strings.Contains(msg, hex.EncodeToString(raw[:8])) {
				t.Fatal("the forged bytes reached the dApp")
			}
		})
	}
}

// The same for typed data: a server that answers a site's permit with
// the operator's signature of it (or any other) is caught by the wallet,
// which recovers the signer of the EIP-712 hash of the data it showed.
func TestBrowserAttack_ADappTypedDataSignatureTheServerSwappedIsNotPassedOn(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	p := newBrowser(t).tab()
	p.signInByEmail(d, "review-dapp-typed@example.com", 1, "")
	p.addresses()
	p.connectDemo(d)
	operator, _ := crypto.GenerateKey()
	f.lie(nil, func(r *http.Request, reqBody []byte, body map[string]any) {
		if r.URL.Path != "/v1/wallet/sign" {
			return
		}
		params, ok := signParamsOf(t, reqBody)
		if !ok {
			return
		}
		var td apitypes.TypedData
		if err := json.Unmarshal([]byte(params.TypedData), &td); err != nil {
			t.Error(err)
			return
		}
		digest, _, err := apitypes.TypedDataAndHash(td)
		if err != nil {
			t.Error(err)
			return
		}
		sig, err := crypto.Sign(digest, operator)
		if err != nil {
			t.Error(err)
			return
		}
		sig[64] += 27
		body["signature"] = base64.StdEncoding.EncodeToString(sig)
	})
	w := p.dappAsk(`demo.signPermit()`)
	seen := w.answerPopup("#dapp-approve", nil, "#dapp-approve", "#dapp-failed")
	if want := "not your account's signature of the data you were shown"; seen["after"] != "Not signed" || !strings.Contains(seen["htmlAfter"], want) {
		t.Fatalf("the wallet shows %q, want a refusal saying %q", seen["after"], want)
	}
	if _, code, msg := p.dappAnswer(); code != -32603 {
		t.Fatalf("the dApp got %d %q, want -32603", code, msg)
	}
}

// connectDemo opens the demo dApp in p and connects it to the wallet.
func (p *tab) connectDemo(d *devStack) {
	p.t.Helper()
	p.run("open the demo dApp", chromedp.Navigate(d.demo+"/"), chromedp.WaitVisible(chromedp.CSS(`#wallets button[data-rdns="io.niomon"]`)))
	w := p.dappAsk(`demo.connect()`)
	w.answerPopup("#dapp-approve", nil, "#dapp-approve")
	if _, code, msg := p.dappAnswer(); code != 0 {
		p.t.Fatalf("connect: %d %s", code, msg)
	}
}

// signParamsOf reads the sign request in a relayed POST /v1/wallet/sign
// body (false, with the test marked failed, when it does not read).
func signParamsOf(t *testing.T, reqBody []byte) (policy.SignParams, bool) {
	var in nioapi.Stamped
	var params policy.SignParams
	if err := json.Unmarshal(reqBody, &in); err != nil {
		t.Error(err)
		return params, false
	}
	if _, err := policy.Decode(in.Request, &params); err != nil {
		t.Error(err)
		return params, false
	}
	return params, true
}
