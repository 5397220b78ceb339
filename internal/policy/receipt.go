package policy

import (
	"bytes"
	"crypto/ed25519"
	"errors"

	"github.com/niomon/niomon/internal/wire"
)

// Receipt is the enclave's statement of a wallet's policy after a create,
// import or policy change, signed by the cluster's receipt key (an Ed25519
// key derived from the master key, published in the attestation document
// of system_attest). The user's device checks that it lists exactly what
// it enrolled, and warns about any credential it did not.
type Receipt struct {
	OID         string       `cbor:"oid"`
	Instance    []byte       `cbor:"instance"` // the wallet instance (16 bytes): fixed at creation, never the same for two wallets
	Version     uint64       `cbor:"version"`  // the wallet's version: it grows with each policy change
	Credentials []Credential `cbor:"credentials"`
	Cluster     []byte       `cbor:"cluster"`
	Request     []byte       `cbor:"request"` // SHA-256 of the request that made this state
	IssuedAt    int64        `cbor:"issued_at"`
}

// SignedReceipt carries a receipt's exact bytes and their signature.
type SignedReceipt struct {
	Receipt   []byte `cbor:"receipt"`
	Signature []byte `cbor:"signature"`
}

// receiptContext separates receipt signatures from anything else the key
// might sign later.
const receiptContext = "niomon/secretd/v1/receipt\x00"

// SignReceipt signs r with the cluster's receipt key.
func SignReceipt(key ed25519.PrivateKey, r *Receipt) (*SignedReceipt, error) {
	b, err := wire.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &SignedReceipt{Receipt: b, Signature: ed25519.Sign(key, append([]byte(receiptContext), b...))}, nil
}

// ErrReceipt reports a receipt that does not verify.
var ErrReceipt = errors.New("policy: receipt does not verify")

// VerifyReceipt checks s with the cluster's receipt public key.
func VerifyReceipt(pub ed25519.PublicKey, s *SignedReceipt) (*Receipt, error) {
	if len(pub) != ed25519.PublicKeySize || !ed25519.Verify(pub, append([]byte(receiptContext), s.Receipt...), s.Signature) {
		return nil, ErrReceipt
	}
	var r Receipt
	if err := wire.Unmarshal(s.Receipt, &r); err != nil {
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
