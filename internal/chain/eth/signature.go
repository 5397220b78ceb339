package eth

import (
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
)

// Signature is a recoverable secp256k1 ECDSA signature as Ethereum uses it:
// R and S as 32-byte big-endian integers and the recovery id V, which is 0
// or 1 (the parity of the y coordinate of the nonce point R).
type Signature struct {
	R, S [32]byte
	V    byte
}

// SignDigest signs a 32-byte digest with RFC 6979 deterministic nonces and a
// low S (EIP-2), as every Ethereum wallet does.
//
// decred's ecdsa.SignCompact does the signing and returns the Bitcoin
// "compact" layout [27+recid ‖ R ‖ S]; the only glue here is moving that
// first byte to V. A recovery id of 2 or 3 (R's x coordinate was ≥ the group
// order, probability about 2⁻¹²⁷) cannot be expressed in Ethereum's V and is
// reported as an error rather than produced.
func SignDigest(key *secp256k1.PrivateKey, digest [32]byte) (Signature, error) {
	if key == nil {
		return Signature{}, ErrInvalidKey
	}
	compact := ecdsa.SignCompact(key, digest[:], false)
	var sig Signature
	recid := compact[0] - 27
	if recid > 1 {
		return Signature{}, fmt.Errorf("%w: recovery id %d has no Ethereum form", ErrInvalidSignature, recid)
	}
	sig.V = recid
	copy(sig.R[:], compact[1:33])
	copy(sig.S[:], compact[33:65])
	return sig, nil
}

// Bytes returns the 65-byte [R ‖ S ‖ V] form with V = 0 or 1 (the y-parity
// form used inside typed transactions and by go-ethereum's crypto.Sign).
func (s Signature) Bytes() [65]byte {
	var b [65]byte
	copy(b[:32], s.R[:])
	copy(b[32:64], s.S[:])
	b[64] = s.V
	return b
}

// LegacyBytes returns the 65-byte [R ‖ S ‖ V] form with V = 27 or 28, which
// is what personal_sign and eth_signTypedData_v4 return to a dApp.
func (s Signature) LegacyBytes() [65]byte {
	b := s.Bytes()
	b[64] += 27
	return b
}

// ParseSignature parses a 65-byte [R ‖ S ‖ V] signature with V in
// {0, 1, 27, 28}. R and S must be in [1, n-1] and S must be low (S ≤ n/2,
// EIP-2), as Ethereum requires of transactions.
func ParseSignature(b []byte) (Signature, error) {
	if len(b) != 65 {
		return Signature{}, fmt.Errorf("%w: want 65 bytes, got %d", ErrInvalidSignature, len(b))
	}
	var sig Signature
	copy(sig.R[:], b[:32])
	copy(sig.S[:], b[32:64])
	switch v := b[64]; v {
	case 0, 1:
		sig.V = v
	case 27, 28:
		sig.V = v - 27
	default:
		return Signature{}, fmt.Errorf("%w: v must be 0, 1, 27 or 28", ErrInvalidSignature)
	}
	var r, s secp256k1.ModNScalar
	if overflow := r.SetBytes(&sig.R); overflow != 0 || r.IsZero() {
		return Signature{}, fmt.Errorf("%w: r out of range", ErrInvalidSignature)
	}
	if overflow := s.SetBytes(&sig.S); overflow != 0 || s.IsZero() {
		return Signature{}, fmt.Errorf("%w: s out of range", ErrInvalidSignature)
	}
	if s.IsOverHalfOrder() {
		return Signature{}, fmt.Errorf("%w: s is not low (EIP-2)", ErrInvalidSignature)
	}
	return sig, nil
}

// RecoverAddress returns the address whose key made this signature over
// digest. It checks V ∈ {0, 1} and R, S ∈ [1, n-1]; it does not require a
// low S (ParseSignature does), since recovery is defined either way.
func (s Signature) RecoverAddress(digest [32]byte) (Address, error) {
	if s.V > 1 {
		return Address{}, fmt.Errorf("%w: v must be 0 or 1", ErrInvalidSignature)
	}
	var compact [65]byte
	compact[0] = 27 + s.V
	copy(compact[1:33], s.R[:])
	copy(compact[33:], s.S[:])
	pub, _, err := ecdsa.RecoverCompact(compact[:], digest[:])
	if err != nil {
		return Address{}, fmt.Errorf("%w: no public key recovers", ErrInvalidSignature)
	}
	return AddressFromPublicKey(pub), nil
}
