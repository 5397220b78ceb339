// Package cosmos derives Cosmos SDK account addresses and makes Cosmos SDK
// secp256k1 signatures inside the enclave.
//
//   - Address (Cosmos SDK "Accounts", ADR-028 for 32-byte addresses): the
//     account bytes RIPEMD160(SHA256(compressed public key)) as BIP173
//     bech32 with the chain's human-readable prefix ("cosmos", "osmo", …).
//   - Signature (Cosmos SDK crypto/keys/secp256k1): ECDSA over
//     SHA-256(sign bytes) with an RFC 6979 nonce and low S, serialised as
//     the 64 bytes r ‖ s (big-endian, 32 bytes each), not DER.
//
// ECDSA comes from decred's secp256k1 and bech32 from btcutil; what is here is
// the glue. The package is part of the enclave's trusted computing base;
// keep its imports to the standard library, decred secp256k1 (and its
// ecdsa package), bech32 and RIPEMD-160.
package cosmos

import (
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/bech32"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa"
	"golang.org/x/crypto/ripemd160" //nolint:staticcheck // Cosmos SDK account addresses are RIPEMD-160(SHA-256) by definition.
)

// Sentinel errors. Callers match them with errors.Is; the wrapped detail is a
// fixed phrase, never key material.
var (
	// ErrInvalidKey: a nil or zero private key, or a public key not on the curve.
	ErrInvalidKey = errors.New("cosmos: invalid key")
	// ErrInvalidHRP: a human-readable prefix that breaks the rules of
	// ValidateHRP.
	ErrInvalidHRP = errors.New("cosmos: invalid bech32 prefix")
	// ErrInvalidAddress: a string that is not a bech32 account address.
	ErrInvalidAddress = errors.New("cosmos: invalid address")
)

// Limits.
const (
	// MaxHRPLen is BIP173's longest human-readable part.
	MaxHRPLen = 83
	// MaxAddressLen is the longest address ParseAddress reads: a MaxHRPLen
	// prefix, the separator, 52 characters for 32 bytes and the 6-character
	// checksum. Cosmos addresses may exceed BIP173's 90 characters (the SDK
	// decodes up to 1023), so that limit does not apply.
	MaxAddressLen = MaxHRPLen + 1 + 52 + 6
	// AccountLen is the length of a public key's account address.
	AccountLen = 20
	// DerivedLen is the length of an ADR-028 address (module and derived
	// accounts).
	DerivedLen = 32
)

// ValidateHRP checks a bech32 human-readable prefix: 1 to 83 characters,
// each printable US-ASCII (33–126) as BIP173 requires, and none upper case,
// so that one address has one spelling. A '1' is allowed: BIP173 splits at
// the last '1', which the data part never contains.
func ValidateHRP(hrp string) error {
	if len(hrp) < 1 || len(hrp) > MaxHRPLen {
		return fmt.Errorf("%w: not 1 to %d characters", ErrInvalidHRP, MaxHRPLen)
	}
	for i := 0; i < len(hrp); i++ {
		c := hrp[i]
		if c < 33 || c > 126 {
			return fmt.Errorf("%w: character outside US-ASCII 33..126", ErrInvalidHRP)
		}
		if c >= 'A' && c <= 'Z' {
			return fmt.Errorf("%w: upper-case character", ErrInvalidHRP)
		}
	}
	return nil
}

// Address is a Cosmos SDK account address: a human-readable prefix and 20
// (public key) or 32 (ADR-028) bytes. Values are comparable with ==. The zero
// Address is invalid and prints as "".
type Address struct {
	hrp string
	n   uint8
	b   [DerivedLen]byte
}

// AddressFromPublicKey returns the account address of pub with prefix hrp:
// RIPEMD160(SHA256(33-byte compressed pub)).
func AddressFromPublicKey(pub *secp256k1.PublicKey, hrp string) (Address, error) {
	if pub == nil || !pub.IsOnCurve() {
		return Address{}, ErrInvalidKey
	}
	if err := ValidateHRP(hrp); err != nil {
		return Address{}, err
	}
	s := sha256.Sum256(pub.SerializeCompressed())
	r := ripemd160.New()
	r.Write(s[:])
	a := Address{hrp: hrp, n: AccountLen}
	r.Sum(a.b[:0])
	return a, nil
}

// ParseAddress parses a bech32 (not bech32m) account address with a prefix
// that passes ValidateHRP and 20 or 32 bytes of data, with BIP173's
// padding rule (at most 4 zero bits). An all-upper-case string is
// accepted (BIP173) and prints in lower case.
func ParseAddress(s string) (Address, error) {
	if len(s) > MaxAddressLen {
		return Address{}, fmt.Errorf("%w: longer than %d characters", ErrInvalidAddress, MaxAddressLen)
	}
	// The library's errors repeat parts of the input; ours stay fixed.
	hrp, data, enc, err := bech32.DecodeNoLimitWithVersion(s)
	if err != nil {
		return Address{}, fmt.Errorf("%w: not bech32", ErrInvalidAddress)
	}
	if enc != bech32.Version0 {
		return Address{}, fmt.Errorf("%w: bech32m checksum", ErrInvalidAddress)
	}
	if err := ValidateHRP(hrp); err != nil {
		return Address{}, fmt.Errorf("%w: %w", ErrInvalidAddress, err)
	}
	b, err := bech32.ConvertBits(data, 5, 8, false)
	if err != nil {
		return Address{}, fmt.Errorf("%w: bad padding", ErrInvalidAddress)
	}
	if len(b) != AccountLen && len(b) != DerivedLen {
		return Address{}, fmt.Errorf("%w: not %d or %d bytes", ErrInvalidAddress, AccountLen, DerivedLen)
	}
	a := Address{hrp: hrp, n: uint8(len(b))}
	copy(a.b[:], b)
	return a, nil
}

// HRP returns the address's human-readable prefix.
func (a Address) HRP() string { return a.hrp }

// Bytes returns a copy of the address bytes (20 or 32).
func (a Address) Bytes() []byte { return append([]byte(nil), a.b[:a.n]...) }

// String returns the bech32 address in lower case, or "" for the zero Address.
func (a Address) String() string {
	if a.hrp == "" {
		return ""
	}
	conv, err := bech32.ConvertBits(a.b[:a.n], 8, 5, true)
	if err != nil {
		return ""
	}
	s, err := bech32.Encode(a.hrp, conv)
	if err != nil {
		return ""
	}
	return s
}

// Signature is a Cosmos SDK secp256k1 signature: r ‖ s, each 32 bytes
// big-endian, with s ≤ n/2.
type Signature [64]byte

// Sign signs the transaction's sign bytes (for SIGN_MODE_DIRECT the
// serialized SignDoc, for amino-JSON the canonical JSON) as the Cosmos SDK
// does: ECDSA over SHA-256(signBytes), RFC 6979 nonce, low S.
func Sign(priv *secp256k1.PrivateKey, signBytes []byte) (Signature, error) {
	if priv == nil || priv.Key.IsZero() {
		return Signature{}, ErrInvalidKey
	}
	h := sha256.Sum256(signBytes)
	sig := ecdsa.Sign(priv, h[:]) // RFC 6979, s normalised to ≤ n/2
	r, s := sig.R(), sig.S()
	var out Signature
	r.PutBytesUnchecked(out[:32])
	s.PutBytesUnchecked(out[32:])
	return out, nil
}

// Verify reports whether sig is a valid signature of signBytes by pub.
// Like the Cosmos SDK it rejects s > n/2 (a malleated copy of a low-S
// signature). It is stricter in one way: r and s must be in 1..n−1 as
// written, where the SDK reduces out-of-range values mod n, so that each
// signature has one encoding.
func Verify(pub *secp256k1.PublicKey, signBytes []byte, sig Signature) bool {
	if pub == nil || !pub.IsOnCurve() {
		return false
	}
	var r, s secp256k1.ModNScalar
	if overflow := r.SetByteSlice(sig[:32]); overflow || r.IsZero() {
		return false
	}
	if overflow := s.SetByteSlice(sig[32:]); overflow || s.IsZero() || s.IsOverHalfOrder() {
		return false
	}
	h := sha256.Sum256(signBytes)
	return ecdsa.NewSignature(&r, &s).Verify(h[:], pub)
}
