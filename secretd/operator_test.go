package secretd_test

import (
	"bytes"
	"context"
	"crypto/ecdh"
	"crypto/hpke"
	"crypto/sha256"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/testcluster"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
	_ "modernc.org/sqlite"
)

// The operator tests play someone who runs the servers: they hold the
// app's static_key (c.Key) and full access to the runner's store, but no
// credential of any user. Every attempt to use, export or re-point a key
// must fail with a clear error and change nothing.

// recorder wraps a stamper and keeps the last request and stamp, as an
// app relaying a user's request would see them.
type recorder struct {
	secretd.Stamper
	req   []byte
	stamp *secretd.Stamp
}

func (r *recorder) Stamp(req []byte) (*secretd.Stamp, error) {
	s, err := r.Stamper.Stamp(req)
	r.req, r.stamp = bytes.Clone(req), s
	return s, err
}

// state is everything an attempt must leave unchanged.
type state struct {
	alicePolicy, bobPolicy []byte
	wallets                map[string][]byte
	auditEvents            int
}

func snapshotState(t *testing.T, c *testcluster.Cluster, cl *secretd.Client) state {
	t.Helper()
	ctx := ctxT(t)
	s := state{wallets: map[string][]byte{}}
	for oid, dst := range map[string]*[]byte{"alice": &s.alicePolicy, "bob": &s.bobPolicy} {
		r, err := cl.Policy(ctx, oid)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range r.Credentials {
			*dst = append(*dst, c.ID...)
		}
	}
	objs, err := c.Store.List(ctx, "wallet", "", 100)
	if err != nil {
		t.Fatal(err)
	}
	for _, o := range objs {
		s.wallets[o.ID] = append([]byte{byte(o.Version)}, o.Blob...)
	}
	ev, err := c.Store.List(ctx, "audit", "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	s.auditEvents = len(ev)
	return s
}

func sameState(t *testing.T, got, want state) {
	t.Helper()
	if !bytes.Equal(got.alicePolicy, want.alicePolicy) || !bytes.Equal(got.bobPolicy, want.bobPolicy) {
		t.Fatal("a policy changed")
	}
	if got.auditEvents != want.auditEvents {
		t.Fatalf("audit events: got %d, want %d", got.auditEvents, want.auditEvents)
	}
	if len(got.wallets) != len(want.wallets) {
		t.Fatalf("wallets: got %d, want %d", len(got.wallets), len(want.wallets))
	}
	for id, b := range want.wallets {
		if !bytes.Equal(got.wallets[id], b) {
			t.Fatalf("wallet %q changed in the store", id)
		}
	}
}

func TestTheOperatorCannotUseAUsersKey(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	alice := &recorder{Stamper: newAPIKey(t, allRights...)}
	bob := newAPIKey(t, allRights...)
	if _, err := cl.CreateWallet(ctx, "alice", secretd.CreateOptions{}, alice); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.CreateWallet(ctx, "bob", secretd.CreateOptions{}, bob); err != nil {
		t.Fatal(err)
	}
	if _, err := cl.GenerateWallet(ctx, "legacy", 24, nil, ""); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("pay the operator"))
	sign := secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}
	// A real request by alice, which the operator saw go by.
	if _, err := cl.Sign(ctx, "alice", sign, alice); err != nil {
		t.Fatal(err)
	}
	seenReq, seenStamp := alice.req, alice.stamp

	operator := newAPIKey(t, allRights...) // a key of the operator's own
	aliceReceipt, err := cl.Policy(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		attempt func() error
		want    error
	}{
		{"sign with a key of its own", func() error {
			_, err := cl.Sign(ctx, "alice", sign, operator)
			return err
		}, secretd.ErrUnauthorized},
		{"export with a key of its own", func() error {
			_, err := cl.Export(ctx, "alice", operator)
			return err
		}, secretd.ErrUnauthorized},
		{"add its own credential", func() error {
			_, err := cl.UpdatePolicy(ctx, "alice", aliceReceipt.Version, secretd.PolicyChange{Add: []secretd.Credential{operator.Credential()}}, operator, nil)
			return err
		}, secretd.ErrUnauthorized},
		{"replay an old stamp", func() error {
			return cl.Call(ctx, "hdwallet_sign", []any{seenReq, seenStamp}, nil)
		}, secretd.ErrUnauthorized},
		{"change the digest of a stamped request", func() error {
			var p policy.SignParams
			r, err := policy.Decode(seenReq, &p)
			if err != nil {
				return err
			}
			p.Digest = bytes.Repeat([]byte{0xee}, 32)
			b, _ := policy.Encode(r.Method, r.OID, p, r.Cluster, time.Now().UnixMilli(), []byte("fresh nonce 0001"))
			return cl.Call(ctx, "hdwallet_sign", []any{b, seenStamp}, nil)
		}, secretd.ErrUnauthorized},
		{"present a stamp by a credential of another wallet", func() error {
			_, err := cl.Sign(ctx, "alice", sign, bob)
			return err
		}, secretd.ErrUnauthorized},
		{"point alice's request at bob's wallet", func() error {
			var p policy.SignParams
			r, _ := policy.Decode(seenReq, &p)
			b, _ := policy.Encode(r.Method, "bob", p, r.Cluster, r.Time, r.Nonce)
			return cl.Call(ctx, "hdwallet_sign", []any{b, seenStamp}, nil)
		}, secretd.ErrUnauthorized},
		{"sign with a wallet made without credentials", func() error {
			_, err := cl.Sign(ctx, "legacy", sign, operator)
			return err
		}, secretd.ErrUnauthorized},
		{"re-create alice's wallet", func() error {
			_, err := cl.CreateWallet(ctx, "alice", secretd.CreateOptions{}, operator)
			return err
		}, secretd.ErrExists},
		{"sign without a stamp", func() error {
			b, _ := policy.Encode(policy.MethodSign, "alice", sign, seenReq[0:0], 0, nil)
			return cl.Call(ctx, "hdwallet_sign", []any{b, secretd.Stamp{}}, nil)
		}, secretd.ErrInvalidParams},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := snapshotState(t, c, cl)
			err := tc.attempt()
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			var se *secretd.Error
			if !errors.As(err, &se) || se.Message == "" {
				t.Fatalf("got %v, want a server error with a stated reason", err)
			}
			sameState(t, snapshotState(t, c, cl), before)
		})
	}
	// Alice's own key still works after all that.
	if _, err := cl.Sign(ctx, "alice", sign, alice); err != nil {
		t.Fatalf("alice after the attempts: %v", err)
	}
}

// TestSwappedSealedWalletsFailClosed swaps two users' sealed wallets in
// the store, as an operator with database access could, and restarts the
// cluster so nothing is cached.
func TestSwappedSealedWalletsFailClosed(t *testing.T) {
	tests := []struct {
		name      string
		noWitness bool
		want      string
	}{
		// With witnesses the index names each wallet's sealed record; without,
		// the record's own AEAD binding to its oid refuses it.
		{"a cluster with a witness", false, "the store's wallet index is older than, or differs from, what the cluster's witnesses hold (the store was rolled back or edited)"},
		{"a dev cluster without witnesses", true, "stored wallet does not authenticate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { swappedSealedWallets(t, tc.noWitness, tc.want) })
	}
}

func swappedSealedWallets(t *testing.T, noWitness bool, want string) {
	data := t.TempDir()
	c := testcluster.Start(t, testcluster.Options{Data: data, NoWitness: noWitness})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	alice, bob := newAPIKey(t, allRights...), newAPIKey(t, allRights...)
	for oid, k := range map[string]*secretd.P256Key{"alice": alice, "bob": bob} {
		if _, err := cl.CreateWallet(ctx, oid, secretd.CreateOptions{}, k); err != nil {
			t.Fatal(err)
		}
	}
	bobAddr := ethAddr(t, cl, "bob")
	cl.Close()
	c.Stop()

	swap := func() {
		db, err := sql.Open("sqlite", filepath.Join(data, "secretd.db"))
		if err != nil {
			t.Fatal(err)
		}
		defer db.Close()
		blobs := map[string][]byte{}
		for _, id := range []string{"alice", "bob"} {
			var b []byte
			if err := db.QueryRowContext(context.Background(), `SELECT blob FROM sealed_objects WHERE kind = 'wallet' AND id = ?`, id).Scan(&b); err != nil {
				t.Fatal(err)
			}
			blobs[id] = b
		}
		for id, other := range map[string]string{"alice": "bob", "bob": "alice"} {
			if _, err := db.ExecContext(context.Background(), `UPDATE sealed_objects SET blob = ? WHERE kind = 'wallet' AND id = ?`, blobs[other], id); err != nil {
				t.Fatal(err)
			}
		}
	}
	swap()
	c2 := testcluster.Start(t, testcluster.Options{Data: data, NoWitness: noWitness})
	cl2 := c2.Dial(t, secretd.Options{})
	digest := sha256.Sum256([]byte("x"))
	for oid, k := range map[string]*secretd.P256Key{"alice": alice, "bob": bob} {
		_, err := cl2.Sign(ctx, oid, secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, k)
		var se *secretd.Error
		if !errors.As(err, &se) || se.Message != want {
			t.Fatalf("%s after the swap: got %v, want %q", oid, err, want)
		}
		if _, err := cl2.Address(ctx, oid, secretd.AddrEth, "m/44'/60'/0'/0/0", ""); err == nil {
			t.Fatalf("%s after the swap: an address was served from a swapped blob", oid)
		}
	}
	cl2.Close()
	c2.Stop()

	// Nothing was lost: swapping back restores both wallets.
	swap()
	c3 := testcluster.Start(t, testcluster.Options{Data: data, NoWitness: noWitness})
	cl3 := c3.Dial(t, secretd.Options{})
	if got := ethAddr(t, cl3, "bob"); got != bobAddr {
		t.Fatalf("bob after swapping back: got %s, want %s", got, bobAddr)
	}
	if _, err := cl3.Sign(ctx, "alice", secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, alice); err != nil {
		t.Fatalf("alice after swapping back: %v", err)
	}
}

func TestAnotherAppCannotReadAWalletItDidNotCreate(t *testing.T) {
	other, _ := secretd.GenerateKey()
	otherPub, _ := wire.ParsePublicKey(other.PublicKey())
	c := testcluster.Start(t, testcluster.Options{ExtraClientKeys: []wire.PublicKey{otherPub}})
	mine := c.Dial(t, secretd.Options{})
	theirs := c.Dial(t, secretd.Options{Key: other})
	ctx := ctxT(t)
	if _, err := mine.CreateWallet(ctx, "alice", secretd.CreateOptions{}, newAPIKey(t, allRights...)); err != nil {
		t.Fatal(err)
	}
	if _, err := mine.GenerateWallet(ctx, "legacy", 12, nil, ""); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
	}{
		{"xpub", func() error { _, err := theirs.ExtendedPublicKey(ctx, "legacy", "m/0"); return err }},
		{"address", func() error {
			_, err := theirs.Address(ctx, "alice", secretd.AddrEth, "m/44'/60'/0'/0/0", "")
			return err
		}},
		{"policy", func() error { _, err := theirs.Policy(ctx, "alice"); return err }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// The same answer as for a wallet that does not exist.
			if err := tc.call(); !errors.Is(err, secretd.ErrNotFound) {
				t.Fatalf("got %v, want ErrNotFound", err)
			}
		})
	}
	if _, err := mine.Address(ctx, "alice", secretd.AddrEth, "m/44'/60'/0'/0/0", ""); err != nil {
		t.Fatalf("the creating app: %v", err)
	}
}

// TestJoinHandsTheMasterKeyOnlyToAMatchingEnclave: system_join gives the
// master key to an enclave whose attestation carries this enclave's own
// measurement, and to nothing else.
func TestJoinHandsTheMasterKeyOnlyToAMatchingEnclave(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{})
	cl := c.Dial(t, secretd.Options{})
	ctx := ctxT(t)
	other := bytes.Repeat([]byte{0x42}, 48)
	k, err := hpke.DHKEM(ecdh.X25519()).GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	doc := func(measurement []byte, userData string) []byte {
		p, err := devattest.New(measurement)
		if err != nil {
			t.Fatal(err)
		}
		d, err := p.Attest(nil, []byte(userData), k.PublicKey().Bytes())
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	tests := []struct {
		name string
		doc  []byte
	}{
		{"another binary's measurement", doc(other, "niomon/secretd/v1/join")},
		{"a document that is not a join request", doc(testcluster.Measurement(t), "something else")},
		{"bytes that are not a document", []byte("not a document")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := cl.Call(ctx, "system_join", []any{tc.doc}, nil); !errors.Is(err, secretd.ErrUnauthorized) {
				t.Fatalf("got %v, want ErrUnauthorized", err)
			}
		})
	}
	// The same binary's measurement gets the master key, sealed to the
	// joiner's key, and it derives the cluster identity.
	var reply struct {
		Document   []byte `cbor:"document"`
		Ciphertext []byte `cbor:"ciphertext"`
	}
	if err := cl.Call(ctx, "system_join", []any{doc(testcluster.Measurement(t), "niomon/secretd/v1/join")}, &reply); err != nil {
		t.Fatal(err)
	}
	id, _ := wire.ParsePublicKey(c.Identity)
	mk, err := hpke.Open(k, hpke.HKDFSHA256(), hpke.AES256GCM(), append([]byte("niomon/secretd/v1/join\x00"), id.Bytes()...), reply.Ciphertext)
	if err != nil || len(mk) != 32 {
		t.Fatalf("the master key does not open for the joiner (%v)", err)
	}
	m, _ := seal.MasterKeyFromBytes(mk)
	scalar, _ := m.IdentityScalar()
	derived, _ := wire.NewPrivateKey(&scalar)
	if !derived.Public().Equal(id) {
		t.Fatal("the joined master key does not derive the cluster identity")
	}
}
