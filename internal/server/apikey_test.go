package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/secretd"
)

func newAPIKey(t testing.TB) *secretd.P256Key {
	t.Helper()
	k, err := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightExport, secretd.RightPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestAPIKey_SignupThenLoginReachesTheSameUserAndWallet(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	key := newAPIKey(t)
	c := e.client()
	s, err := c.APIKeySignup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if !s.NewUser || s.Token == "" || s.CSRFToken != "" {
		t.Fatalf("signup: got %+v, want a new user and a bearer token only", s)
	}
	created := e.createWallet(c, s.User.ID, key)

	c2 := e.client()
	s2, err := c2.APIKeyLogin(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	if s2.User.ID != s.User.ID || s2.NewUser || !s2.User.WalletReady {
		t.Fatalf("login: got %+v, want the same active user", s2.User)
	}
	w, err := c2.Wallet(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if fmt.Sprint(w.Addresses) != fmt.Sprint(created.Wallet.Addresses) {
		t.Fatalf("addresses after login differ from those at creation")
	}
	if _, err := e.client().APIKeySignup(ctx, key); errCode(err) != server.CodeConflict {
		t.Fatalf("a second signup with the same key: got %v, want %s", err, server.CodeConflict)
	}
}

func TestAPIKey_RefusesWhatDoesNotProvePossession(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	key := newAPIKey(t)
	if _, err := e.client().APIKeySignup(ctx, key); err != nil {
		t.Fatal(err)
	}
	other, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	challenge := func() []byte {
		var ch nioapi.APIKeyChallenge
		if err := e.client().Do(ctx, "POST", "/v1/auth/apikey/challenge", struct{}{}, &ch); err != nil {
			t.Fatal(err)
		}
		return ch.Challenge
	}
	signWith := func(k *secretd.P256Key, ch []byte) []byte {
		st, err := k.Stamp(append([]byte(nioapi.APIKeySignedText), ch...))
		if err != nil {
			t.Fatal(err)
		}
		return st.Signature
	}
	keyID := fmt.Sprintf("%x", key.Credential().ID)
	used := challenge()
	if err := e.client().Do(ctx, "POST", "/v1/auth/apikey/login", nioapi.APIKeySignIn{KeyID: keyID, Challenge: used, Signature: signWith(key, used)}, &nioapi.Session{}); err != nil {
		t.Fatalf("a good login: %v", err)
	}
	forged := challenge()
	h := sha256.Sum256(append([]byte(nioapi.APIKeySignedText), forged...))
	otherSig, err := ecdsa.SignASN1(rand.Reader, other, h[:])
	if err != nil {
		t.Fatal(err)
	}
	tampered := challenge()
	tampered[len(tampered)/2] ^= 1
	tests := []struct {
		name string
		in   nioapi.APIKeySignIn
		want string
	}{
		{"a signature by another key", nioapi.APIKeySignIn{KeyID: keyID, Challenge: forged, Signature: otherSig}, server.CodeUnauthorized},
		{"a replayed challenge and signature", nioapi.APIKeySignIn{KeyID: keyID, Challenge: used, Signature: signWith(key, used)}, server.CodeUnauthorized},
		{"a challenge the server did not issue", nioapi.APIKeySignIn{KeyID: keyID, Challenge: tampered, Signature: signWith(key, tampered)}, server.CodeUnauthorized},
		{"an unknown key", func() nioapi.APIKeySignIn {
			k := newAPIKey(t)
			ch := challenge()
			return nioapi.APIKeySignIn{KeyID: fmt.Sprintf("%x", k.Credential().ID), Challenge: ch, Signature: signWith(k, ch)}
		}(), server.CodeUnauthorized},
		{"a malformed key id", nioapi.APIKeySignIn{KeyID: "abc", Challenge: used, Signature: otherSig}, server.CodeInvalidRequest},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := e.client().Do(ctx, "POST", "/v1/auth/apikey/login", tc.in, &nioapi.Session{})
			if errCode(err) != tc.want {
				t.Fatalf("got %v, want %s", err, tc.want)
			}
		})
	}
	t.Run("an expired challenge", func(t *testing.T) {
		ch := challenge()
		e.advance(3 * time.Minute)
		defer e.advance(-3 * time.Minute)
		err := e.client().Do(ctx, "POST", "/v1/auth/apikey/login", nioapi.APIKeySignIn{KeyID: keyID, Challenge: ch, Signature: signWith(key, ch)}, &nioapi.Session{})
		if errCode(err) != server.CodeUnauthorized {
			t.Fatalf("got %v, want %s", err, server.CodeUnauthorized)
		}
	})
	t.Run("signup with a key that is not P-256", func(t *testing.T) {
		ch := challenge()
		err := e.client().Do(ctx, "POST", "/v1/auth/apikey/signup", nioapi.APIKeySignIn{PublicKey: []byte("not a key"), Challenge: ch, Signature: otherSig}, &nioapi.Session{})
		if errCode(err) != server.CodeInvalidRequest {
			t.Fatalf("got %v, want %s", err, server.CodeInvalidRequest)
		}
	})
}

// A key rotated out takes its sessions with it: the session made with
// the old key ends when the key is revoked (from the new key's session),
// on every server of the deployment, since they share the database; the
// new key's session stays.
func TestAPIKey_RevokingAKeyEndsTheSessionsSignedInWithIt(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	old, fresh := newAPIKey(t), newAPIKey(t)
	byOld := e.client()
	s, err := byOld.APIKeySignup(ctx, old)
	if err != nil {
		t.Fatal(err)
	}
	e.createWallet(byOld, s.User.ID, old)
	if _, err := byOld.AddAPIKey(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	byFresh := e.client()
	if _, err := byFresh.APIKeyLogin(ctx, fresh); err != nil {
		t.Fatal(err)
	}
	if err := byFresh.Do(ctx, "POST", "/v1/devices/revoke", nioapi.RevokeDevice{Kind: "api_key", ID: old.Credential().ID}, &nioapi.Revoked{}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		client *nioapi.Client
		want   string // error code; "" for none
	}{
		{"TheOldKeysSessionHasEnded", byOld, server.CodeUnauthorized},
		{"TheNewKeysSessionStays", byFresh, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := tc.client.Me(ctx); errCode(err) != tc.want {
				t.Fatalf("GET /v1/me: got %v, want %q", err, tc.want)
			}
		})
	}
	if _, err := e.client().APIKeyLogin(ctx, old); errCode(err) != server.CodeUnauthorized {
		t.Fatalf("login with the revoked key: got %v, want %s", err, server.CodeUnauthorized)
	}
}
