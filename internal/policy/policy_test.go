package policy_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncbor"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/policy/policytest"
)

var (
	cluster = bytes.Repeat([]byte{0xc1}, 32)
	now     = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)
	rpID    = "wallet.example"
	origin  = "https://wallet.example"
)

func nonce() []byte {
	b := make([]byte, 16)
	rand.Read(b)
	return b
}

func signRequest(t *testing.T, p policy.SignParams) []byte {
	t.Helper()
	b, err := policy.Encode(policy.MethodSign, "alice", p, cluster, now.UnixMilli(), nonce())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func check(t *testing.T, b []byte, s *policy.Stamp, p *policy.Policy, right string) (*policy.Credential, error) {
	t.Helper()
	var params policy.SignParams
	r, err := policy.Decode(b, &params)
	if err != nil {
		t.Fatal(err)
	}
	return policy.Check(b, r, s, p, right, cluster, now, policy.NewReplayCache(100, 0, func() time.Time { return now }), []byte("w"))
}

type stamper interface {
	Stamp(t testing.TB, req []byte) *policy.Stamp
}

func credentials(t *testing.T) map[string]struct {
	s    stamper
	cred policy.Credential
} {
	api := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign)
	sess := policytest.NewP256Key(t, policy.KindSessionKey, now.Add(time.Hour).Unix(), policy.RightSign)
	es := policytest.NewAuthenticator(t, policy.AlgES256, rpID, []string{origin}, policy.RightSign)
	ed := policytest.NewAuthenticator(t, policy.AlgEdDSA, rpID, []string{origin}, policy.RightSign)
	rs := policytest.NewAuthenticator(t, policy.AlgRS256, rpID, []string{origin}, policy.RightSign)
	return map[string]struct {
		s    stamper
		cred policy.Credential
	}{
		"api key":       {api, api.Cred},
		"session key":   {sess, sess.Cred},
		"passkey ES256": {es, es.Cred},
		"passkey EdDSA": {ed, ed.Cred},
		"passkey RS256": {rs, rs.Cred},
	}
}

func TestEveryCredentialKindStampsARequest(t *testing.T) {
	for name, c := range credentials(t) {
		t.Run(name, func(t *testing.T) {
			p := &policy.Policy{Credentials: []policy.Credential{c.cred}}
			if err := p.Validate(); err != nil {
				t.Fatal(err)
			}
			b := signRequest(t, policy.SignParams{Scheme: "secp256k1_digest", Path: "m/44'/60'/0'/0/0", Digest: make([]byte, 32)})
			got, err := check(t, b, c.s.Stamp(t, b), p, policy.RightSign)
			if err != nil || !bytes.Equal(got.ID, c.cred.ID) {
				t.Fatalf("got %v, %v; want the credential", got, err)
			}
		})
	}
}

// TestAStampAuthorisesOnlyItsOwnRequest changes each field of a stamped
// request, one at a time, and presents the original stamp.
func TestAStampAuthorisesOnlyItsOwnRequest(t *testing.T) {
	params := policy.SignParams{Scheme: "eth_transaction", Path: "m/44'/60'/0'/0/0", Digest: bytes.Repeat([]byte{1}, 32), Message: []byte("m"), TypedData: "{}", Tx: []byte{0xa0}, MerkleRoot: bytes.Repeat([]byte{2}, 32)}
	n := nonce()
	ts := now.UnixMilli()
	orig, err := policy.Encode(policy.MethodSign, "alice", params, cluster, ts, n)
	if err != nil {
		t.Fatal(err)
	}
	type req struct {
		method, oid string
		params      policy.SignParams
		cluster     []byte
		ts          int64
		nonce       []byte
	}
	base := req{policy.MethodSign, "alice", params, cluster, ts, n}
	mutations := map[string]func(r *req){
		"method":             func(r *req) { r.method = policy.MethodExport },
		"oid":                func(r *req) { r.oid = "bob" },
		"params.scheme":      func(r *req) { r.params.Scheme = "secp256k1_digest" },
		"params.path":        func(r *req) { r.params.Path = "m/44'/60'/0'/0/1" },
		"params.digest":      func(r *req) { r.params.Digest = bytes.Repeat([]byte{9}, 32) },
		"params.message":     func(r *req) { r.params.Message = []byte("n") },
		"params.typed_data":  func(r *req) { r.params.TypedData = "[]" },
		"params.tx":          func(r *req) { r.params.Tx = []byte{0x80} },
		"params.merkle_root": func(r *req) { r.params.MerkleRoot = bytes.Repeat([]byte{3}, 32) },
		"cluster":            func(r *req) { r.cluster = bytes.Repeat([]byte{0xc2}, 32) },
		"ts":                 func(r *req) { r.ts++ },
		"nonce":              func(r *req) { r.nonce = nonce() },
	}
	for name, c := range credentials(t) {
		p := &policy.Policy{Credentials: []policy.Credential{c.cred}}
		stamp := c.s.Stamp(t, orig)
		for field, mutate := range mutations {
			t.Run(name+"/"+field, func(t *testing.T) {
				r := base
				mutate(&r)
				b, err := policy.Encode(r.method, r.oid, r.params, r.cluster, r.ts, r.nonce)
				if err != nil {
					t.Fatal(err)
				}
				if bytes.Equal(b, orig) {
					t.Fatal("the mutation did not change the request")
				}
				var sp policy.SignParams
				dr, err := policy.Decode(b, &sp)
				if err != nil {
					t.Fatal(err)
				}
				// The enclave's cluster follows the mutated request, so
				// that the signature check is what must refuse it.
				_, err = policy.Check(b, dr, stamp, p, policy.RightSign, r.cluster, now, policy.NewReplayCache(10, 0, func() time.Time { return now }), []byte("w"))
				if !errors.Is(err, policy.ErrBadSignature) {
					t.Fatalf("got %v, want ErrBadSignature", err)
				}
			})
		}
	}
}

func TestCheckRefuses(t *testing.T) {
	signer := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign)
	noSign := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightExport)
	expired := policytest.NewP256Key(t, policy.KindSessionKey, now.Add(-time.Second).Unix(), policy.RightSign)
	other := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign)
	p := &policy.Policy{Credentials: []policy.Credential{signer.Cred, noSign.Cred, expired.Cred}}
	mk := func(ts time.Time, c []byte) []byte {
		b, err := policy.Encode(policy.MethodSign, "alice", policy.SignParams{Scheme: "x", Path: "m"}, c, ts.UnixMilli(), nonce())
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	good := mk(now, cluster)
	tests := []struct {
		name  string
		b     []byte
		stamp *policy.Stamp
		want  error
	}{
		{"a credential of another wallet", good, other.Stamp(t, good), policy.ErrUnknownCredential},
		{"a credential without the sign right", good, noSign.Stamp(t, good), policy.ErrNoRight},
		{"an expired session key", good, expired.Stamp(t, good), policy.ErrExpired},
		{"a request for another cluster", mk(now, bytes.Repeat([]byte{7}, 32)), nil, policy.ErrWrongCluster},
		{"a request 3 minutes old", mk(now.Add(-3*time.Minute), cluster), nil, policy.ErrStale},
		{"a request 3 minutes ahead", mk(now.Add(3*time.Minute), cluster), nil, policy.ErrStale},
		{"another key's signature under this key's id", good, func() *policy.Stamp {
			s := other.Stamp(t, good)
			s.CredentialID = signer.Cred.ID
			return s
		}(), policy.ErrBadSignature},
		{"an empty signature", good, &policy.Stamp{CredentialID: signer.Cred.ID}, policy.ErrBadSignature},
		{"WebAuthn fields on a P-256 key stamp", good, func() *policy.Stamp {
			s := signer.Stamp(t, good)
			s.ClientDataJSON = []byte("{}")
			return s
		}(), policy.ErrBadSignature},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := tc.stamp
			if s == nil {
				s = signer.Stamp(t, tc.b)
			}
			if _, err := check(t, tc.b, s, p, policy.RightSign); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestAReplayedRequestIsRefused(t *testing.T) {
	k := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign)
	p := &policy.Policy{Credentials: []policy.Credential{k.Cred}}
	b := signRequest(t, policy.SignParams{Scheme: "x", Path: "m"})
	s := k.Stamp(t, b)
	var params policy.SignParams
	r, _ := policy.Decode(b, &params)
	clock := now
	seen := policy.NewReplayCache(100, 0, func() time.Time { return clock })
	if _, err := policy.Check(b, r, s, p, policy.RightSign, cluster, clock, seen, []byte("w")); err != nil {
		t.Fatal(err)
	}
	if _, err := policy.Check(b, r, s, p, policy.RightSign, cluster, clock, seen, []byte("w")); !errors.Is(err, policy.ErrReplay) {
		t.Fatalf("second use: got %v, want ErrReplay", err)
	}
	// After the window the nonce is forgotten, and the time check refuses.
	clock = now.Add(policy.Window + time.Minute)
	if _, err := policy.Check(b, r, s, p, policy.RightSign, cluster, clock, seen, []byte("w")); !errors.Is(err, policy.ErrStale) {
		t.Fatalf("after the window: got %v, want ErrStale", err)
	}
	if seen.Len() != 0 {
		t.Fatalf("nonces held after expiry: got %d, want 0", seen.Len())
	}
}

func TestAFullReplayCacheFailsClosed(t *testing.T) {
	seen := policy.NewReplayCache(2, 0, func() time.Time { return now })
	exp := now.Add(time.Minute)
	if !seen.Add([]byte("a"), []byte("w1"), exp) || !seen.Add([]byte("b"), []byte("w2"), exp) {
		t.Fatal("adding to a cache with room failed")
	}
	if seen.Add([]byte("c"), []byte("w3"), exp) {
		t.Fatal("a full cache took a new nonce; want it refused")
	}
}

// One wallet fills at most its share: when it holds it, its next request
// is refused, and any other wallet's passes.
func TestOneWalletCannotFillTheReplayCache(t *testing.T) {
	seen := policy.NewReplayCache(100, 3, func() time.Time { return now })
	exp := now.Add(time.Minute)
	for i := range 3 {
		if !seen.Add([]byte{byte(i), 0, 0}, []byte("busy"), exp) {
			t.Fatalf("nonce %d of the busy wallet refused within its share", i)
		}
	}
	tests := []struct {
		name  string
		owner string
		want  bool
	}{
		{"the busy wallet beyond its share", "busy", false},
		{"another wallet", "quiet", true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := seen.Add([]byte{9, byte(i), 1}, []byte(tc.owner), exp); got != tc.want {
				t.Fatalf("got %t, want %t", got, tc.want)
			}
		})
	}
	// The share frees as its nonces expire.
	later := policy.NewReplayCache(100, 1, func() time.Time { return now.Add(2 * time.Minute) })
	if !later.Add([]byte{1}, []byte("busy"), now.Add(3*time.Minute)) || later.Add([]byte{2}, []byte("busy"), now.Add(3*time.Minute)) {
		t.Fatal("a share of one nonce: want one in, the next refused")
	}
}

// A request that failed before any effect gives its nonce back: the same
// request may be sent again, once.
func TestAReleasedNonceMayBeUsedAgainOnce(t *testing.T) {
	k := policytest.NewP256Key(t, policy.KindAPIKey, 0, policy.RightSign)
	p := &policy.Policy{Credentials: []policy.Credential{k.Cred}}
	b := signRequest(t, policy.SignParams{Scheme: "x", Path: "m"})
	st := k.Stamp(t, b)
	var params policy.SignParams
	r, _ := policy.Decode(b, &params)
	seen := policy.NewReplayCache(100, 1, func() time.Time { return now })
	check := func() error {
		_, err := policy.Check(b, r, st, p, policy.RightSign, cluster, now, seen, []byte("w"))
		return err
	}
	steps := []struct {
		name    string
		release bool
		want    error
	}{
		{"first use", false, nil},
		{"a replay", false, policy.ErrReplay},
		{"after the failed request gave its nonce back", true, nil},
		{"a replay of that", false, policy.ErrReplay},
	}
	for _, step := range steps {
		if step.release {
			seen.Release(r.Nonce)
		}
		if err := check(); !errors.Is(err, step.want) {
			t.Fatalf("%s: got %v, want %v", step.name, err, step.want)
		}
	}
	if seen.Len() != 1 {
		t.Fatalf("live nonces: got %d, want 1", seen.Len())
	}
}

func TestPasskeyAssertionChecks(t *testing.T) {
	b := signRequest(t, policy.SignParams{Scheme: "x", Path: "m"})
	h := policy.Hash(b)
	tests := []struct {
		name   string
		setup  func(a *policytest.Authenticator)
		tamper func(s *policy.Stamp)
	}{
		{"another origin", func(a *policytest.Authenticator) { a.Origin = "https://wallet.example.evil" }, nil},
		{"no user presence", func(a *policytest.Authenticator) { a.Flags &^= 0x01 }, nil},
		{"no user verification when required", func(a *policytest.Authenticator) { a.Cred.RequireUV = true; a.Flags &^= 0x04 }, nil},
		{"another RP ID", func(a *policytest.Authenticator) { a.Cred.RPID = "wallet.example.evil" }, nil},
		{"a registration instead of an assertion", nil, func(s *policy.Stamp) {
			s.ClientDataJSON = bytes.Replace(s.ClientDataJSON, []byte("webauthn.get"), []byte("webauthn.create"), 1)
		}},
		{"a challenge for another request", nil, func(s *policy.Stamp) {
			other := base64.RawURLEncoding.EncodeToString(bytes.Repeat([]byte{1}, 32))
			s.ClientDataJSON = bytes.Replace(s.ClientDataJSON, []byte(base64.RawURLEncoding.EncodeToString(h[:])), []byte(other), 1)
		}},
		{"a cross-origin frame", nil, func(s *policy.Stamp) {
			s.ClientDataJSON = bytes.Replace(s.ClientDataJSON, []byte(`"crossOrigin":false`), []byte(`"crossOrigin":true`), 1)
		}},
		{"a flipped sign counter", nil, func(s *policy.Stamp) { s.AuthenticatorData[36] ^= 1 }},
		{"short authenticator data", nil, func(s *policy.Stamp) { s.AuthenticatorData = s.AuthenticatorData[:36] }},
		{"client data that is not JSON", nil, func(s *policy.Stamp) { s.ClientDataJSON = []byte("nope") }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			a := policytest.NewAuthenticator(t, policy.AlgES256, rpID, []string{origin}, policy.RightSign)
			p := &policy.Policy{Credentials: []policy.Credential{a.Cred}}
			if tc.setup != nil {
				tc.setup(a)
			}
			s := a.Stamp(t, b)
			if tc.tamper != nil {
				tc.tamper(s)
			}
			// RP ID and UV are properties of the enrolled credential.
			if tc.setup != nil {
				p.Credentials[0].RequireUV = a.Cred.RequireUV
			}
			if _, err := check(t, b, s, p, policy.RightSign); !errors.Is(err, policy.ErrBadSignature) {
				t.Fatalf("got %v, want ErrBadSignature", err)
			}
		})
	}
}

// coseKey encodes a credential's public key as the COSE_Key a browser
// reports at registration, for go-webauthn.
func coseKey(t *testing.T, c policy.Credential) []byte {
	t.Helper()
	pub, err := x509.ParsePKIXPublicKey(c.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		b, _ := k.Bytes()
		v = webauthncose.EC2PublicKeyData{PublicKeyData: webauthncose.PublicKeyData{KeyType: 2, Algorithm: -7}, Curve: 1, XCoord: b[1:33], YCoord: b[33:]}
	case ed25519.PublicKey:
		v = webauthncose.OKPPublicKeyData{PublicKeyData: webauthncose.PublicKeyData{KeyType: 1, Algorithm: -8}, Curve: 6, XCoord: k}
	case *rsa.PublicKey:
		v = webauthncose.RSAPublicKeyData{PublicKeyData: webauthncose.PublicKeyData{KeyType: 3, Algorithm: -257}, Modulus: k.N.Bytes(), Exponent: big.NewInt(int64(k.E)).Bytes()}
	}
	b, err := webauthncbor.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestPasskeyStampsVerifyWithGoWebAuthn runs our assertions through
// go-webauthn's full assertion verification, an independent
// implementation of the same WebAuthn steps.
func TestPasskeyStampsVerifyWithGoWebAuthn(t *testing.T) {
	for _, alg := range []int{policy.AlgES256, policy.AlgEdDSA, policy.AlgRS256} {
		for i := range 10 {
			a := policytest.NewAuthenticator(t, alg, rpID, []string{origin}, policy.RightSign)
			b := signRequest(t, policy.SignParams{Scheme: "x", Path: "m", Message: []byte{byte(i)}})
			s := a.Stamp(t, b)
			if _, err := check(t, b, s, &policy.Policy{Credentials: []policy.Credential{a.Cred}}, policy.RightSign); err != nil {
				t.Fatalf("alg %d: ours: %v", alg, err)
			}
			enc := base64.RawURLEncoding.EncodeToString
			body, _ := json.Marshal(map[string]any{
				"id": enc(a.Cred.ID), "rawId": enc(a.Cred.ID), "type": "public-key",
				"response": map[string]string{"authenticatorData": enc(s.AuthenticatorData), "clientDataJSON": enc(s.ClientDataJSON), "signature": enc(s.Signature)},
			})
			parsed, err := protocol.ParseCredentialRequestResponseBytes(body)
			if err != nil {
				t.Fatalf("alg %d: go-webauthn parse: %v", alg, err)
			}
			h := policy.Hash(b)
			err = parsed.Verify(enc(h[:]), rpID, "", []string{origin}, nil, nil, protocol.TopOriginAutoVerificationMode, false, true, true, coseKey(t, a.Cred), protocol.SignaturePolicy{})
			if err != nil {
				t.Fatalf("alg %d: go-webauthn refuses our assertion: %v", alg, err)
			}
		}
	}
}
