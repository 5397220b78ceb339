package server_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"testing"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/policy/policytest"
	"github.com/niomon/niomon/internal/server"
)

var b64u = base64.RawURLEncoding

// browserOptions is the part of the WebAuthn options a browser reads.
type browserOptions struct {
	PublicKey struct {
		Challenge string `json:"challenge"`
		User      struct {
			ID string `json:"id"`
		} `json:"user"`
		AuthenticatorSelection struct {
			ResidentKey string `json:"residentKey"`
		} `json:"authenticatorSelection"`
		PubKeyCredParams []struct {
			Alg int `json:"alg"`
		} `json:"pubKeyCredParams"`
	} `json:"publicKey"`
}

func beginPasskey(t *testing.T, c *nioapi.Client, path string) (*nioapi.PasskeyBegin, *browserOptions, []byte) {
	t.Helper()
	var b nioapi.PasskeyBegin
	if err := c.Do(context.Background(), "POST", path, struct{}{}, &b); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	var o browserOptions
	if err := json.Unmarshal(b.Options, &o); err != nil {
		t.Fatal(err)
	}
	ch, err := b64u.DecodeString(o.PublicKey.Challenge)
	if err != nil || len(ch) < 16 {
		t.Fatalf("challenge %q: %v", o.PublicKey.Challenge, err)
	}
	return &b, &o, ch
}

// registrationJSON is PublicKeyCredential.toJSON() after create().
func registrationJSON(t *testing.T, a *policytest.Authenticator, challenge []byte) json.RawMessage {
	t.Helper()
	att, cd := a.Registration(t, challenge)
	b, err := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(a.Cred.ID), "rawId": b64u.EncodeToString(a.Cred.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64u.EncodeToString(cd), "attestationObject": b64u.EncodeToString(att), "transports": []string{"internal", "hybrid"},
		},
		"clientExtensionResults": map[string]any{}, "authenticatorAttachment": "platform",
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// assertionJSON is PublicKeyCredential.toJSON() after get().
func assertionJSON(t *testing.T, a *policytest.Authenticator, challenge, userHandle []byte) json.RawMessage {
	t.Helper()
	ad, cd, sig := a.Assertion(t, challenge)
	b, err := json.Marshal(map[string]any{
		"id": b64u.EncodeToString(a.Cred.ID), "rawId": b64u.EncodeToString(a.Cred.ID), "type": "public-key",
		"response": map[string]any{
			"clientDataJSON": b64u.EncodeToString(cd), "authenticatorData": b64u.EncodeToString(ad),
			"signature": b64u.EncodeToString(sig), "userHandle": b64u.EncodeToString(userHandle),
		},
		"clientExtensionResults": map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// passkeySigner stamps wallet requests with a virtual passkey.
type passkeySigner struct {
	t *testing.T
	a *policytest.Authenticator
}

func (p passkeySigner) Credential() policy.Credential { return p.a.Cred }
func (p passkeySigner) Stamp(req []byte) (*policy.Stamp, error) {
	return p.a.Stamp(p.t, req), nil
}

const (
	flagsSynced   = 0x01 | 0x04 | 0x08 | 0x10 // UP, UV, BE, BS
	flagsUnsynced = 0x01 | 0x04 | 0x08        // UP, UV, BE
)

func TestPasskey_SignupWalletLoginAndABackupStateChange(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	auth := policytest.NewAuthenticator(t, policy.AlgES256, "example.com", []string{e.url}, policy.RightSign, policy.RightExport, policy.RightPolicy)
	auth.Flags = flagsSynced

	c := e.client()
	begin, opts, ch := beginPasskey(t, c, "/v1/auth/passkey/signup/begin")
	if opts.PublicKey.AuthenticatorSelection.ResidentKey != "required" || len(opts.PublicKey.PubKeyCredParams) != 1 || opts.PublicKey.PubKeyCredParams[0].Alg != -7 {
		t.Fatalf("creation options: got %+v, want a discoverable ES256 credential", opts.PublicKey)
	}
	handle, _ := b64u.DecodeString(opts.PublicKey.User.ID)
	var s nioapi.Session
	if err := c.Do(ctx, "POST", "/v1/auth/passkey/signup/finish", nioapi.PasskeyFinish{Flow: begin.Flow, Credential: registrationJSON(t, auth, ch), Bearer: true}, &s); err != nil {
		t.Fatal(err)
	}
	c.SetToken(s.Token)
	if !s.NewUser || s.User.State != "pending" {
		t.Fatalf("signup: got %+v, want a new pending user", s.User)
	}
	var pks []nioapi.Passkey
	if err := c.Do(ctx, "GET", "/v1/passkeys", nil, &pks); err != nil {
		t.Fatal(err)
	}
	if len(pks) != 1 || !pks[0].BackupEligible || !pks[0].BackupState || string(pks[0].PublicKey) != string(auth.Cred.PublicKey) {
		t.Fatalf("stored passkey: got %+v, want BE and BS set and the credential's SPKI", pks)
	}
	// The passkey is the wallet's first credential and stamps with a
	// WebAuthn assertion over the request.
	e.createWallet(c, s.User.ID, passkeySigner{t, auth})
	var sr nioapi.SignResult
	if err := e.stamped(c, s.User.ID, passkeySigner{t, auth}, "/v1/wallet/sign", policy.MethodSign,
		policy.SignParams{Scheme: "secp256k1", Path: "m/44'/60'/0'/0/0", Digest: make([]byte, 32)}, &sr); err != nil {
		t.Fatalf("signing with the passkey: %v", err)
	}

	login := func(a *policytest.Authenticator, userHandle []byte) (*nioapi.Session, error) {
		lc := e.client()
		lb, _, lch := beginPasskey(t, lc, "/v1/auth/passkey/login/begin")
		var ls nioapi.Session
		err := lc.Do(ctx, "POST", "/v1/auth/passkey/login/finish", nioapi.PasskeyFinish{Flow: lb.Flow, Credential: assertionJSON(t, a, nioapi.SignInChallenge(lch), userHandle), Bearer: true}, &ls)
		return &ls, err
	}
	ls, err := login(auth, handle)
	if err != nil || ls.User.ID != s.User.ID || !ls.User.WalletReady {
		t.Fatalf("login: got %+v, %v; want the same active user", ls, err)
	}
	// An assertion over the options' challenge as it is does not sign in:
	// the client signs its hash, so a server cannot make a sign-in
	// assertion that is a stamp of a request (whose challenge is the
	// request's hash).
	lc := e.client()
	lb, _, lch := beginPasskey(t, lc, "/v1/auth/passkey/login/begin")
	if err := lc.Do(ctx, "POST", "/v1/auth/passkey/login/finish", nioapi.PasskeyFinish{Flow: lb.Flow, Credential: assertionJSON(t, auth, lch, handle), Bearer: true}, &nioapi.Session{}); errCode(err) != server.CodeUnauthorized {
		t.Fatalf("an assertion over the raw sign-in challenge: got %v, want %s", err, server.CodeUnauthorized)
	}
	// The passkey stops being backed up (BS cleared): the user still signs
	// in, and the new state is recorded. BE never changes.
	auth.Flags = flagsUnsynced
	if _, err := login(auth, handle); err != nil {
		t.Fatalf("login after BS changed: %v", err)
	}
	if err := c.Do(ctx, "GET", "/v1/passkeys", nil, &pks); err != nil {
		t.Fatal(err)
	}
	if !pks[0].BackupEligible || pks[0].BackupState || pks[0].LastUsed.IsZero() {
		t.Fatalf("after the BS change: got %+v, want BE kept, BS cleared, last use recorded", pks[0])
	}

	t.Run("refusals", func(t *testing.T) {
		stranger := policytest.NewAuthenticator(t, policy.AlgES256, "example.com", []string{e.url}, policy.RightSign)
		phish := policytest.NewAuthenticator(t, policy.AlgES256, "example.com", []string{"https://examp1e.com"}, policy.RightSign)
		phish.Cred.ID = auth.Cred.ID // same credential id, seen from a look-alike origin
		tests := []struct {
			name string
			do   func() error
			want string
		}{
			{"an unregistered passkey", func() error { _, err := login(stranger, handle); return err }, server.CodeUnauthorized},
			{"an assertion made for another origin", func() error { _, err := login(phish, handle); return err }, server.CodeUnauthorized},
			{"a wrong user handle", func() error { _, err := login(auth, []byte("someone else")); return err }, server.CodeUnauthorized},
			{"a login flow used twice", func() error {
				lc := e.client()
				lb, _, lch := beginPasskey(t, lc, "/v1/auth/passkey/login/begin")
				body := nioapi.PasskeyFinish{Flow: lb.Flow, Credential: assertionJSON(t, auth, nioapi.SignInChallenge(lch), handle), Bearer: true}
				if err := lc.Do(ctx, "POST", "/v1/auth/passkey/login/finish", body, &nioapi.Session{}); err != nil {
					return err
				}
				body.Credential = assertionJSON(t, auth, nioapi.SignInChallenge(lch), handle)
				return lc.Do(ctx, "POST", "/v1/auth/passkey/login/finish", body, &nioapi.Session{})
			}, server.CodeUnauthorized},
			{"a sign count that went backwards (a cloned authenticator)", func() error {
				defer func() { auth.SignCount = 7 }() // ahead again for the cases after this one
				auth.SignCount = 5
				if _, err := login(auth, handle); err != nil {
					return fmt.Errorf("login at count 5 (should pass): %v", err) // %v: not the code wanted below
				}
				auth.SignCount = 3
				_, err := login(auth, handle)
				return err
			}, server.CodeUnauthorized},
			{"registering the same passkey again", func() error {
				rc := e.client()
				rb, _, rch := beginPasskey(t, rc, "/v1/auth/passkey/signup/begin")
				return rc.Do(ctx, "POST", "/v1/auth/passkey/signup/finish", nioapi.PasskeyFinish{Flow: rb.Flow, Credential: registrationJSON(t, auth, rch), Bearer: true}, &nioapi.Session{})
			}, server.CodeConflict},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				if err := tc.do(); errCode(err) != tc.want {
					t.Fatalf("got %v, want %s", err, tc.want)
				}
			})
		}
	})

	t.Run("a second passkey signs in to the same account", func(t *testing.T) {
		second := policytest.NewAuthenticator(t, policy.AlgES256, "example.com", []string{e.url}, policy.RightSign)
		ab, aopts, ach := beginPasskey(t, c, "/v1/passkeys/begin")
		if aopts.PublicKey.User.ID != opts.PublicKey.User.ID {
			t.Fatalf("adding a passkey: user handle %q, want the account's %q", aopts.PublicKey.User.ID, opts.PublicKey.User.ID)
		}
		if err := c.Do(ctx, "POST", "/v1/passkeys/finish", nioapi.PasskeyFinish{Flow: ab.Flow, Credential: registrationJSON(t, second, ach)}, &nioapi.Passkey{}); err != nil {
			t.Fatal(err)
		}
		ls, err := login(second, handle)
		if err != nil || ls.User.ID != s.User.ID {
			t.Fatalf("login with the second passkey: %+v %v", ls, err)
		}
	})
}
