package secretd_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// signReceipt signs r as the enclave does (internal/enclave signer.go):
// the receipt's CBOR, after policy.ReceiptContext.
func signReceipt(t *testing.T, key ed25519.PrivateKey, r *policy.Receipt) *secretd.SignedReceipt {
	t.Helper()
	b, err := wire.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	return &secretd.SignedReceipt{Receipt: b, Signature: ed25519.Sign(key, append([]byte(policy.ReceiptContext), b...))}
}

func TestReceiptsVerifyAndNameWhatTheDeviceDidNotEnrol(t *testing.T) {
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	mine, theirs := newAPIKey(t, allRights...).Credential(), newAPIKey(t, allRights...).Credential()
	theirs.Rights = []string{secretd.RightSign}
	s := signReceipt(t, priv, &policy.Receipt{OID: "alice", Version: 2, Credentials: []policy.Credential{mine, theirs}, Cluster: []byte("cluster"), IssuedAt: 1})
	got, err := secretd.VerifyReceipt(pub, s)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name     string
		enrolled []secretd.Credential
		want     int
	}{
		{name: "the device enrolled one of two", enrolled: []secretd.Credential{mine}, want: 1},
		{name: "the device enrolled both", enrolled: []secretd.Credential{mine, theirs}, want: 0},
		{name: "the device enrolled theirs with other rights", enrolled: []secretd.Credential{mine, func() secretd.Credential { c := theirs; c.Rights = []string{secretd.RightPolicy}; return c }()}, want: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if u := got.Unexpected(tc.enrolled); len(u) != tc.want {
				t.Fatalf("unexpected credentials: got %d, want %d", len(u), tc.want)
			}
		})
	}
	if !got.Holds(mine) || got.Holds(newAPIKey(t, allRights...).Credential()) {
		t.Fatal("Holds: wrong for an enrolled or a stranger's credential")
	}

	otherPub, _, _ := ed25519.GenerateKey(rand.Reader)
	tampered := *s
	tampered.Receipt = bytes.Clone(s.Receipt)
	tampered.Receipt[len(tampered.Receipt)-1] ^= 1
	unprefixed := *s
	unprefixed.Signature = ed25519.Sign(priv, s.Receipt)
	for _, tc := range []struct {
		name string
		pub  ed25519.PublicKey
		s    *secretd.SignedReceipt
	}{
		{name: "another key", pub: otherPub, s: s},
		{name: "a tampered receipt", pub: pub, s: &tampered},
		{name: "a signature without the receipt context", pub: pub, s: &unprefixed},
		{name: "no key", pub: nil, s: s},
		{name: "no receipt", pub: pub, s: nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := secretd.VerifyReceipt(tc.pub, tc.s); !errors.Is(err, secretd.ErrReceipt) {
				t.Fatalf("got %v, want ErrReceipt", err)
			}
		})
	}
}
