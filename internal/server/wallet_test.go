package server_test

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/server"
	"github.com/niomon/niomon/internal/sqldb"
	"github.com/niomon/niomon/secretd"
)

const testMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func TestWallet_CreationIsSafeToRetryAndBoundToTheCaller(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client()
	key := newAPIKey(t)
	s, err := c.APIKeySignup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	mallory := e.client()
	ms, err := mallory.APIKeySignup(ctx, newAPIKey(t))
	if err != nil {
		t.Fatal(err)
	}
	create := func(c *nioapi.Client, oid string, k nioapi.Signer) error {
		return e.stamped(c, oid, k, "/v1/wallet", policy.MethodCreate,
			policy.CreateParams{Words: 24, Credentials: []policy.Credential{k.Credential()}}, &nioapi.WalletCreated{})
	}
	sign := func(c *nioapi.Client, oid string, k nioapi.Signer) error {
		return e.stamped(c, oid, k, "/v1/wallet/sign", policy.MethodSign,
			policy.SignParams{Scheme: "secp256k1", Path: "m/44'/60'/0'/0/0", Digest: make([]byte, 32)}, &nioapi.SignResult{})
	}
	if err := sign(c, s.User.ID, key); errCode(err) != server.CodeWalletMissing {
		t.Fatalf("signing before the wallet exists: got %v, want %s", err, server.CodeWalletMissing)
	}
	if err := create(mallory, s.User.ID, key); errCode(err) != server.CodeForbidden {
		t.Fatalf("creating a wallet under another user's id: got %v, want %s", err, server.CodeForbidden)
	}
	if err := create(c, s.User.ID, key); err != nil {
		t.Fatal(err)
	}
	// A retry with a fresh request (the first answer was lost) succeeds
	// and changes nothing.
	if err := create(c, s.User.ID, key); err != nil {
		t.Fatalf("retrying the creation: %v", err)
	}
	// Another credential cannot take over an existing wallet.
	if err := create(c, s.User.ID, newAPIKey(t)); errCode(err) != server.CodeConflict {
		t.Fatalf("creating again with another key: got %v, want %s", err, server.CodeConflict)
	}
	if err := sign(mallory, s.User.ID, key); errCode(err) != server.CodeWalletMissing && errCode(err) != server.CodeForbidden {
		t.Fatalf("signing for another user's wallet: got %v, want a refusal", err)
	}
	if err := sign(c, s.User.ID, key); err != nil {
		t.Fatalf("signing: %v", err)
	}
	// A stamp by a key that is not in the wallet's policy is refused by
	// secretd, whatever the server's session says.
	if err := sign(c, s.User.ID, newAPIKey(t)); errCode(err) != server.CodeStampRefused {
		t.Fatalf("a stamp by a foreign key: got %v, want %s", err, server.CodeStampRefused)
	}
	_ = ms
}

func TestWallet_ImportAndExportKeepTheMnemonicOnTheClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client()
	key := newAPIKey(t)
	s, err := c.APIKeySignup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := c.Config(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ik nioapi.ImportKey
	if err := c.Do(ctx, "GET", "/v1/wallet/import-key", nil, &ik); err != nil {
		t.Fatal(err)
	}
	imp := policy.ImportParams{Credentials: []policy.Credential{key.Credential()}}
	if err := secretd.SealImport(cfg.ReceiptKey, &secretd.ImportKey{KeyID: ik.KeyID, PublicKey: ik.PublicKey, Signature: ik.Signature}, s.User.ID, testMnemonic, &imp); err != nil {
		t.Fatal(err)
	}
	var created nioapi.WalletCreated
	if err := e.stamped(c, s.User.ID, key, "/v1/wallet/import", policy.MethodImport, imp, &created); err != nil {
		t.Fatal(err)
	}
	// The BIP39 test mnemonic's first Ethereum account (widely published).
	if got := addressOf(t, &created.Wallet, "ethereum").Address; got != "0x9858EfFD232B4033E47d90003D41EC34EcaEda94" {
		t.Fatalf("imported ethereum address: got %s", got)
	}
	ek, err := secretd.NewExportKey()
	if err != nil {
		t.Fatal(err)
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodExport, s.User.ID, policy.ExportParams{Recipient: ek.Public()})
	if err != nil {
		t.Fatal(err)
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		t.Fatal(err)
	}
	var out nioapi.ExportResult
	if err := c.Post(ctx, "/v1/wallet/export", st, &out); err != nil {
		t.Fatal(err)
	}
	// Importing again, over the wallet that exists, is refused.
	imp2 := policy.ImportParams{Credentials: []policy.Credential{key.Credential()}}
	if err := secretd.SealImport(cfg.ReceiptKey, &secretd.ImportKey{KeyID: ik.KeyID, PublicKey: ik.PublicKey, Signature: ik.Signature}, s.User.ID, testMnemonic, &imp2); err != nil {
		t.Fatal(err)
	}
	if err := e.stamped(c, s.User.ID, key, "/v1/wallet/import", policy.MethodImport, imp2, &nioapi.WalletCreated{}); errCode(err) != server.CodeConflict {
		t.Fatalf("importing over an existing wallet: got %v, want %s", err, server.CodeConflict)
	}
	m, err := ek.Open(s.User.ID, out.Instance, req, out.Enc, out.Ciphertext)
	if err != nil || m != testMnemonic {
		t.Fatalf("exported mnemonic: %v (matches: %t)", err, m == testMnemonic)
	}
	for _, secret := range []string{"abandon abandon", "about"} {
		if strings.Contains(e.logs.String(), secret) {
			t.Fatalf("the server log holds part of the mnemonic")
		}
	}
}

func TestWallet_SessionKeysMayNotOutliveTheConfiguredLimit(t *testing.T) {
	e := newEnv(t, envOptions{})
	c := e.client()
	s := e.emailSignIn(c, "ttl@example.com", true)
	k, err := secretd.NewP256Key(secretd.KindSessionKey, time.Now().Add(91*24*time.Hour), secretd.RightSign, secretd.RightPolicy)
	if err != nil {
		t.Fatal(err)
	}
	err = e.stamped(c, s.User.ID, k, "/v1/wallet", policy.MethodCreate,
		policy.CreateParams{Words: 24, Credentials: []policy.Credential{k.Credential()}}, &nioapi.WalletCreated{})
	if errCode(err) != server.CodeInvalidRequest {
		t.Fatalf("a 91-day session key: got %v, want %s", err, server.CodeInvalidRequest)
	}
}

func TestReconcile_FinishesSignupsCutByACrashAndRemovesAbandonedOnes(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	// A: the wallet was made in secretd, then the server died before it
	// activated the user.
	a := e.client()
	keyA := newAPIKey(t)
	sa, err := a.APIKeySignup(ctx, keyA)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.sd.CreateWallet(ctx, sa.User.ID, secretd.CreateOptions{}, keyA); err != nil {
		t.Fatal(err)
	}
	// B: signed up, never made a wallet.
	b := e.client()
	sb, err := b.APIKeySignup(ctx, newAPIKey(t))
	if err != nil {
		t.Fatal(err)
	}
	res, err := e.srv.Reconcile(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Activated != 1 || res.Removed != 0 {
		t.Fatalf("first pass: got %+v, want A activated and B kept (it is young)", res)
	}
	if me, err := a.Me(ctx); err != nil || !me.User.WalletReady {
		t.Fatalf("A after reconcile: %+v %v, want an active user", me, err)
	}
	e.advance(25 * time.Hour)
	if res, err = e.srv.Reconcile(ctx); err != nil || res.Removed != 1 {
		t.Fatalf("a day later: got %+v %v, want B removed", res, err)
	}
	if _, err := e.db.GetUser(ctx, sb.User.ID); err == nil {
		t.Fatal("B still exists")
	}
	if u, err := e.db.GetUser(ctx, sa.User.ID); err != nil || u.State != "active" {
		t.Fatalf("A: %+v %v, want active", u, err)
	}
}

func TestWallet_APolicyChangeAtAnOldVersionIsAConflict(t *testing.T) {
	e := newEnv(t, envOptions{})
	ctx := context.Background()
	c := e.client()
	key := newAPIKey(t)
	s, err := c.APIKeySignup(ctx, key)
	if err != nil {
		t.Fatal(err)
	}
	e.createWallet(c, s.User.ID, key)
	add := func(version uint64) error {
		k := newAPIKey(t)
		return e.stamped(c, s.User.ID, key, "/v1/wallet/policy", policy.MethodUpdatePolicy,
			policy.UpdatePolicyParams{Version: version, Change: policy.Change{Add: []policy.Credential{k.Credential()}}}, &nioapi.Receipt{}, k)
	}
	if err := add(1); err != nil {
		t.Fatal(err)
	}
	if err := add(1); errCode(err) != server.CodeConflict {
		t.Fatalf("a change at the old version: got %v, want %s", err, server.CodeConflict)
	}
}

// The address cache is checked on every read against the cluster's
// statements: a changed row is refused, and a row cached before
// statements existed gets one.
func TestWallet_TheAddressCacheServesOnlyWhatTheClusterSigned(t *testing.T) {
	tests := []struct {
		name       string
		sql        string
		wantStatus int
	}{
		{"an address changed in the database is refused", `UPDATE addresses SET address = '0x000000000000000000000000000000000000dEaD' WHERE chain = 'ethereum'`, http.StatusInternalServerError},
		{"a public key changed in the database is refused", `UPDATE addresses SET public_key = X'0102030405' WHERE chain = 'solana'`, http.StatusInternalServerError},
		{"a row without a statement gets one", `UPDATE addresses SET statement = NULL, signature = NULL`, http.StatusOK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, envOptions{})
			ctx := context.Background()
			c := e.client()
			s := e.emailSignIn(c, "cache@example.com", true)
			key := newAPIKey(t)
			e.createWallet(c, s.User.ID, key)
			before, err := c.Wallet(ctx)
			if err != nil {
				t.Fatal(err)
			}
			db, err := sqldb.Open(ctx, e.dbc)
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			if _, err := db.ExecContext(ctx, tc.sql); err != nil {
				t.Fatal(err)
			}
			status, _, body := e.raw(e.httpClient(), "GET", "/v1/wallet", "", map[string]string{"Authorization": "Bearer " + s.Token})
			if status != tc.wantStatus {
				t.Fatalf("GET /v1/wallet: got %d %s, want %d", status, body, tc.wantStatus)
			}
			if status != http.StatusOK {
				if !strings.Contains(e.logs.String(), "does not verify") {
					t.Fatal("the refusal is not in the log")
				}
				return
			}
			after, err := c.Wallet(ctx)
			if err != nil || fmt.Sprint(after) != fmt.Sprint(before) {
				t.Fatalf("after the refresh: %v\n got  %+v\n want %+v", err, after, before)
			}
			var n int
			if err := db.QueryRowContext(ctx, `SELECT count(*) FROM addresses WHERE statement IS NOT NULL`).Scan(&n); err != nil || n != len(nioapi.DefaultAccounts) {
				t.Fatalf("rows with a statement after the read: %d, %v; want 4", n, err)
			}
		})
	}
}
