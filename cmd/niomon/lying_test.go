package main

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
)

// lyingServer is a proxy in front of a real niomon that rewrites its
// answers as a compromised server could.
func lyingServer(t *testing.T, upstream string, rewrite func(path string, body map[string]any)) string {
	t.Helper()
	return lyingServerFor(t, upstream, func(r *http.Request, body map[string]any) { rewrite(r.URL.Path, body) })
}

// lyingServerFor is lyingServer with the whole request to rewrite by.
func lyingServerFor(t *testing.T, upstream string, rewrite func(r *http.Request, body map[string]any)) string {
	t.Helper()
	u, err := url.Parse(upstream)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	// A browser sends its own origin, the proxy's; the server would refuse
	// it as cross-site, so the proxy passes its upstream's.
	direct := rp.Director
	rp.Director = func(r *http.Request) {
		direct(r)
		if r.Header.Get("Origin") != "" {
			r.Header.Set("Origin", u.Scheme+"://"+u.Host)
		}
	}
	rp.ModifyResponse = func(resp *http.Response) error {
		if !strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") || resp.StatusCode != 200 {
			return nil
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			return err
		}
		var body map[string]any
		if json.Unmarshal(b, &body) == nil {
			rewrite(resp.Request, body)
			b, _ = json.Marshal(body)
		}
		resp.Body = io.NopCloser(bytes.NewReader(b))
		resp.ContentLength = int64(len(b))
		resp.Header.Set("Content-Length", strconv.Itoa(len(b)))
		return nil
	}
	ts := httptest.NewServer(rp)
	t.Cleanup(ts.Close)
	return ts.URL
}

// anotherUser signs up a user with a new API key at keyPath, as an
// operator could for itself, and returns its bearer token and a getter of
// the server's answers to it.
func anotherUser(t *testing.T, d *devStack, keyPath string) (string, func(path string) map[string]any) {
	t.Helper()
	d.cli(t, nil, keyPath, "apikey", "new")
	d.cli(t, nil, keyPath, "signup")
	var session struct {
		Token string `json:"token"`
	}
	if b, err := os.ReadFile(keyPath + ".session"); err != nil || json.Unmarshal(b, &session) != nil || session.Token == "" {
		t.Fatalf("the other user's session: %v", err)
	}
	return session.Token, func(path string) map[string]any {
		req, _ := http.NewRequest("GET", d.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+session.Token)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var m map[string]any
		if err := json.NewDecoder(resp.Body).Decode(&m); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %s as the other user: %d %v", path, resp.StatusCode, err)
		}
		return m
	}
}

// The client shows an address only if the cluster signed it for the
// user's wallet, and trusts only the receipt key it pinned (or was given).
func TestClient_RefusesAddressesAndKeysTheClusterDidNotSign(t *testing.T) {
	dir := t.TempDir()
	d := startDev(t, filepath.Join(dir, "data"), freePort(t), nil)
	key := filepath.Join(dir, "backend.json")
	d.cli(t, nil, key, "apikey", "new")
	w := decodeJSON[wallet](t, d.cli(t, nil, key, "signup", "--json"))
	honestEth := w.addr(t, "ethereum").Address
	if kf := readKeyFile(t, key); kf.Wallet != w.OID {
		t.Fatalf("the key file after sign-up is bound to wallet %q, want %s", kf.Wallet, w.OID)
	}
	pin, err := os.ReadFile(key + ".cluster")
	if err != nil {
		t.Fatalf("no receipt key pinned on first use: %v", err)
	}
	var pinned struct {
		ReceiptKey []byte `json:"receipt_key"`
	}
	if err := json.Unmarshal(pin, &pinned); err != nil || len(pinned.ReceiptKey) != ed25519.PublicKeySize {
		t.Fatalf("pin file %s: %v", pin, err)
	}
	otherKey, _, _ := ed25519.GenerateKey(rand.Reader)
	swapAddress := func(path string, body map[string]any) {
		if path != "/v1/wallet" {
			return
		}
		for _, a := range body["addresses"].([]any) {
			if m := a.(map[string]any); m["chain"] == "ethereum" {
				m["address"] = "0x000000000000000000000000000000000000dEaD"
			}
		}
	}
	swapReceiptKey := func(path string, body map[string]any) {
		if path == "/v1/config" {
			body["receipt_key"] = base64.StdEncoding.EncodeToString(otherKey)
		}
	}
	realKey := base64.StdEncoding.EncodeToString(pinned.ReceiptKey)
	// Another user's wallet, with its genuine statements and receipt, as
	// an operator could make for itself with an API-key sign-up.
	operatorKey := filepath.Join(dir, "operator.json")
	otherToken, otherAnswer := anotherUser(t, d, operatorKey)
	// The operator tries to list the user's public key (the server has
	// seen it) in its own wallet, so that wallet's genuine receipt would
	// name the user's key: the enclave wants the added key's own stamp.
	if err := addToOperatorWallet(t, d.url, otherToken, operatorKey, key); err == nil || !strings.Contains(err.Error(), "stamp_refused") {
		t.Fatalf("listing the user's key in the operator's wallet: %v, want stamp_refused", err)
	}
	otherWallet, otherPolicy := otherAnswer("/v1/wallet"), otherAnswer("/v1/wallet/policy")
	replaceWith := func(src map[string]any, dst map[string]any) {
		clear(dst)
		for k, v := range src {
			dst[k] = v
		}
	}
	showOtherWallet := func(path string, body map[string]any) {
		if path == "/v1/wallet" {
			replaceWith(otherWallet, body)
		}
	}
	showOtherWalletAndPolicy := func(path string, body map[string]any) {
		switch path {
		case "/v1/wallet":
			replaceWith(otherWallet, body)
		case "/v1/wallet/policy":
			replaceWith(otherPolicy, body)
		}
	}
	// The enclave runs this test binary (niomon secretd dev re-executes
	// it), so its dev measurement, PCR0, is this file's SHA-384.
	exe, _ := os.Executable()
	m, err := devattest.Measure(exe)
	if err != nil {
		t.Fatal(err)
	}
	pcr0 := "0=" + hex.EncodeToString(m)
	wrongPCR0 := "0=" + strings.Repeat("00", 48)
	swapDocument := func(path string, body map[string]any) {
		if path == "/v1/attestation" {
			doc, _ := base64.StdEncoding.DecodeString(body["document"].(string))
			doc[len(doc)-1] ^= 1 // the signature's last byte
			body["document"] = base64.StdEncoding.EncodeToString(doc)
		}
	}
	tests := []struct {
		name    string
		server  string
		key     string // key file (its .cluster pin beside it)
		extra   []string
		wantErr string // "" for success
	}{
		{"the honest server", d.url, key, nil, ""},
		{"a server that swaps the ethereum address", lyingServer(t, d.url, swapAddress), key, nil, "not the one the cluster signed"},
		{"a server that names another receipt key", lyingServer(t, d.url, swapReceiptKey), key, nil, "pins"},
		{"a server that shows another wallet with its genuine statements", lyingServer(t, d.url, showOtherWallet), key, nil, "not your wallet"},
		{"a server that shows another wallet and that wallet's receipt", lyingServer(t, d.url, showOtherWalletAndPolicy), key, nil, "belongs to wallet"},
		{"another receipt key against --receipt-key, without a pin", lyingServer(t, d.url, swapReceiptKey), filepath.Join(dir, "fresh.json"), []string{"--receipt-key", realKey}, "not the one given with --receipt-key"},
		{"the honest server with the right --receipt-key", d.url, key, []string{"--receipt-key", realKey}, ""},
		{"attested: the enclave's document binds the key, no pin yet", d.url, filepath.Join(dir, "attested.json"), []string{"--allow-dev-enclave", "--pcr", pcr0}, ""},
		{"attested: another receipt key than the enclave's", lyingServer(t, d.url, swapReceiptKey), filepath.Join(dir, "attested2.json"), []string{"--allow-dev-enclave", "--pcr", pcr0}, "attests to"},
		{"attested: a document that does not verify", lyingServer(t, d.url, swapDocument), filepath.Join(dir, "attested3.json"), []string{"--allow-dev-enclave", "--pcr", pcr0}, "refusing the server's cluster"},
		{"attested: another enclave image", d.url, filepath.Join(dir, "attested4.json"), []string{"--allow-dev-enclave", "--pcr", wrongPCR0}, "refusing the server's cluster"},
		{"attested: a dev enclave without --allow-dev-enclave", d.url, filepath.Join(dir, "attested5.json"), []string{"--pcr", pcr0, "--pcr", "1=" + strings.Repeat("00", 48), "--pcr", "2=" + strings.Repeat("00", 48)}, "refusing the server's cluster"},
		{"attested: a Nitro enclave needs PCR0 to PCR2", d.url, filepath.Join(dir, "attested6.json"), []string{"--pcr", pcr0}, "PCR1 is missing"},
		{"attested: a dev enclave needs its PCR0", d.url, filepath.Join(dir, "attested7.json"), []string{"--allow-dev-enclave"}, "give the dev enclave's PCR0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.key != key {
				// A machine that has the user's key but no pin yet.
				b, _ := os.ReadFile(key)
				os.WriteFile(tc.key, b, 0o600)
				s, _ := os.ReadFile(key + ".session")
				os.WriteFile(tc.key+".session", bytes.ReplaceAll(s, []byte(d.url), []byte(tc.server)), 0o600)
			}
			sd := &devStack{url: tc.server}
			out, errOut, err := sd.cliResult(nil, tc.key, append(tc.extra, "--json", "addresses")...)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("addresses: %v\n%s", err, errOut)
				}
				if pin, _ := os.ReadFile(tc.key + ".cluster"); !bytes.Contains(pin, []byte(realKey)) {
					t.Fatalf("the pin beside %s: %s; want the cluster's receipt key", tc.key, pin)
				}
				if slices.Contains(tc.extra, "--allow-dev-enclave") && !strings.Contains(errOut, "no stronger than first use") {
					t.Fatalf("pinning from a dev enclave's document: stderr %q, want it to say that is no stronger than first use", errOut)
				}
				got := decodeJSON[wallet](t, out)
				if eth := got.addr(t, "ethereum").Address; eth != honestEth {
					t.Fatalf("ethereum address %s, want %s", eth, honestEth)
				}
				return
			}
			if err == nil || !strings.Contains(errOut, tc.wantErr) || strings.Contains(out, "dEaD") {
				t.Fatalf("addresses: err %v, stdout %q, stderr %q; want a refusal saying %q and no address", err, out, errOut, tc.wantErr)
			}
		})
	}
}

// addToOperatorWallet tries to add the public key in userKey to the
// wallet of the operator's session, stamped by the operator's own key.
func addToOperatorWallet(t *testing.T, server, token, operatorKey, userKey string) error {
	t.Helper()
	ctx := context.Background()
	c := nioapi.NewClient(server, nil)
	c.SetToken(token)
	cfg, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var r nioapi.Receipt
	if err := c.Do(ctx, "GET", "/v1/wallet/policy", nil, &r); err != nil {
		t.Fatal(err)
	}
	cur, err := secretd.VerifyReceipt(cfg.ReceiptKey, &policy.SignedReceipt{Receipt: r.Receipt, Signature: r.Signature})
	if err != nil {
		t.Fatal(err)
	}
	operator := p256FromFile(t, operatorKey, policy.RightSign, policy.RightExport, policy.RightPolicy)
	user := p256FromFile(t, userKey, policy.RightSign)
	req, err := nioapi.NewRequest(cfg, policy.MethodUpdatePolicy, cur.OID, policy.UpdatePolicyParams{Version: cur.Version, Change: policy.Change{Add: []policy.Credential{user.Credential()}}})
	if err != nil {
		t.Fatal(err)
	}
	st, err := nioapi.StampWith(operator, req)
	if err != nil {
		t.Fatal(err)
	}
	return c.Post(ctx, "/v1/wallet/policy", st, &nioapi.Receipt{})
}

func p256FromFile(t *testing.T, path string, rights ...string) *secretd.P256Key {
	t.Helper()
	kf := readKeyFile(t, path)
	k, err := x509.ParsePKCS8PrivateKey(kf.PKCS8)
	if err != nil {
		t.Fatal(err)
	}
	key, err := secretd.P256KeyFrom(k.(*ecdsa.PrivateKey), kf.Kind, time.Time{}, rights...)
	if err != nil {
		t.Fatal(err)
	}
	return key
}
