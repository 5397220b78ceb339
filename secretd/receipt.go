package secretd

import (
	"bytes"
	"crypto/ed25519"
	"errors"

	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// Receipt is the enclave's statement of a wallet's policy after a create,
// import or policy change, signed by the cluster's receipt key (published
// in its attestation). The user's device checks that it lists exactly
// what it enrolled, and warns about any credential it did not. Get one
// from VerifyReceipt (or the Client, which verifies it).
type Receipt policy.Receipt

// ErrReceipt reports a receipt that does not verify.
var ErrReceipt = errors.New("secretd: receipt does not verify")

// VerifyReceipt checks s with the cluster's receipt public key and
// returns the receipt it carries.
func VerifyReceipt(pub ed25519.PublicKey, s *SignedReceipt) (*Receipt, error) {
	if s == nil || len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(policy.ReceiptContext), s.Receipt...), s.Signature) {
		return nil, ErrReceipt
	}
	var r Receipt
	if err := wire.Unmarshal(s.Receipt, (*policy.Receipt)(&r)); err != nil {
		return nil, ErrReceipt
	}
	return &r, nil
}

// Holds reports whether r lists c (the same id and public key): whether
// the wallet is one that c can act for.
func (r *Receipt) Holds(c Credential) bool {
	for _, have := range r.Credentials {
		if bytes.Equal(have.ID, c.ID) && bytes.Equal(have.PublicKey, c.PublicKey) {
			return true
		}
	}
	return false
}

// Unexpected returns the credentials of r that are not in enrolled, the
// same in id, key and rights: what the device must warn about.
func (r *Receipt) Unexpected(enrolled []Credential) []Credential {
	var out []Credential
	for _, c := range r.Credentials {
		found := false
		for _, e := range enrolled {
			if bytes.Equal(c.ID, e.ID) && bytes.Equal(c.PublicKey, e.PublicKey) && sameRights(c.Rights, e.Rights) {
				found = true
				break
			}
		}
		if !found {
			out = append(out, c)
		}
	}
	return out
}

func sameRights(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for _, r := range a {
		found := false
		for _, s := range b {
			found = found || r == s
		}
		if !found {
			return false
		}
	}
	return true
}
