package main

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
)

// A passkey sign-in is a WebAuthn assertion over a challenge the server
// chooses; a passkey stamp is a WebAuthn assertion over SHA-256 of a
// Secretd request, with the same RP ID and origin. Nothing tells them
// apart, so a server that sets the sign-in challenge to the hash of an
// export request (to a key it holds) gets a stamp the enclave honours,
// and reads the recovery phrase. The page must not let a sign-in
// assertion be a valid stamp.
func TestBrowserAttack_APasskeySignInCannotBeSpentAsAnExportStamp(t *testing.T) {
	f := startOriginFront(t)
	d := f.d
	p := newBrowser(t).tab()
	p.run("open the wallet", chromedp.Navigate(d.url+"/"), chromedp.WaitVisible(chromedp.CSS("#passkey-signup")))
	p.addAuthenticator()

	var mu sync.Mutex
	var oid string
	f.lie(nil, func(r *http.Request, _ []byte, body map[string]any) {
		if u, ok := body["user"].(map[string]any); ok {
			mu.Lock()
			oid, _ = u["id"].(string)
			mu.Unlock()
		}
	})
	p.run("create a wallet with a passkey", chromedp.Click(chromedp.CSS("#passkey-signup")))
	addrs := p.addresses()
	mu.Lock()
	victim := oid
	mu.Unlock()
	if victim == "" {
		t.Fatal("the proxy saw no user id")
	}

	// The operator's export key, and an export request for the victim's
	// wallet sealed to it, whose hash becomes the sign-in challenge.
	cfg := f.upstreamConfig()
	exportKey, err := secretd.NewExportKey()
	if err != nil {
		t.Fatal(err)
	}
	var exportReq []byte
	phrase := make(chan string, 1)
	failed := make(chan string, 1)
	f.lie(func(w http.ResponseWriter, r *http.Request, body []byte) bool {
		switch {
		case r.Method == http.MethodGet && r.URL.Path == "/v1/session":
			// "You are signed out": the page offers to sign in.
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"error":{"code":"unauthenticated","message":"sign in"}}`))
			return true
		case r.Method == http.MethodPost && r.URL.Path == "/v1/auth/passkey/login/finish":
			var in struct {
				Credential struct {
					RawID    string `json:"rawId"`
					Response struct {
						ClientDataJSON    string `json:"clientDataJSON"`
						AuthenticatorData string `json:"authenticatorData"`
						Signature         string `json:"signature"`
					} `json:"response"`
				} `json:"credential"`
			}
			json.Unmarshal(body, &in)
			dec := func(s string) []byte { b, _ := base64.RawURLEncoding.DecodeString(strings.TrimRight(s, "=")); return b }
			st := nioapi.Stamped{Request: exportReq, Stamp: nioapi.Stamp{
				CredentialID: dec(in.Credential.RawID), Signature: dec(in.Credential.Response.Signature),
				AuthenticatorData: dec(in.Credential.Response.AuthenticatorData), ClientDataJSON: dec(in.Credential.Response.ClientDataJSON),
			}}
			var out nioapi.ExportResult
			if err := f.asUser("POST", "/v1/wallet/export", st, &out); err != nil {
				failed <- err.Error()
				return false
			}
			words, err := exportKey.Open(victim, out.Instance, exportReq, out.Enc, out.Ciphertext)
			if err != nil {
				failed <- err.Error()
				return false
			}
			phrase <- words
			return false
		}
		return false
	}, func(r *http.Request, _ []byte, body map[string]any) {
		if r.URL.Path != "/v1/auth/passkey/login/begin" {
			return
		}
		req, err := nioapi.NewRequest(cfg, policy.MethodExport, victim, policy.ExportParams{Recipient: exportKey.Public()})
		if err != nil {
			t.Error(err)
			return
		}
		exportReq = req
		h := policy.Hash(req)
		opts := body["options"].(map[string]any)["publicKey"].(map[string]any)
		opts["challenge"] = base64.RawURLEncoding.EncodeToString(h[:])
		opts["userVerification"] = "required"
	})
	p.run("reload: the server says the session ended", chromedp.Reload(), chromedp.WaitVisible(chromedp.CSS("#passkey-signin")))
	p.run("sign in with the passkey", chromedp.Click(chromedp.CSS("#passkey-signin")))
	select {
	case words := <-phrase:
		got := ethAddressOf(t, words)
		t.Fatalf("the server turned the user's passkey sign-in into an export stamp and read the recovery phrase (%d words, giving %s; the page shows %s)",
			len(strings.Fields(words)), got, addrs["ethereum"])
	case msg := <-failed:
		t.Logf("the export with the sign-in assertion was refused: %s", msg)
	case <-time.After(30 * time.Second):
		t.Log("the page sent no assertion for the server's challenge")
	}
}
