package bls

import (
	"crypto/subtle"
	"fmt"
	"io"
	"math/big"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
)

// SecretKeySize is the size of a serialized secret key: the scalar as a
// 32-byte big-endian integer (I2OSP(SK, 32)).
const SecretKeySize = 32

// rBytes is the order r of the BLS12-381 G1/G2 subgroups, big-endian
// (ERC-2333 "HKDF_mod_r", Definitions; a test checks it against fr.Modulus).
var rBytes = [SecretKeySize]byte{
	0x73, 0xed, 0xa7, 0x53, 0x29, 0x9d, 0x7d, 0x48,
	0x33, 0x39, 0xd8, 0x08, 0x09, 0xa1, 0xd8, 0x05,
	0x53, 0xbd, 0xa4, 0x02, 0xff, 0xfe, 0x5b, 0xfe,
	0xff, 0xff, 0xff, 0xff, 0x00, 0x00, 0x00, 0x01,
}

// SecretKey is a BLS12-381 secret key: a scalar 0 < SK < r, kept big-endian
// in a fixed array so that Wipe can clear it. Its zero value (and a wiped
// key) is refused by every method with ErrWiped. It never prints: every fmt
// verb gives a fixed placeholder.
type SecretKey struct {
	b [SecretKeySize]byte
}

// SecretKeyFromBytes imports a secret key given as a 32-byte big-endian
// integer, the form the consensus-spec test vectors and EIP-2335 keystores
// use. It refuses zero (the IETF draft's secret keys are 1 <= SK < r; the
// consensus spec's sign vector with privkey 0 expects an error) and values
// not below r. The caller keeps ownership of b and should clear it.
func SecretKeyFromBytes(b *[SecretKeySize]byte) (*SecretKey, error) {
	if b == nil {
		return nil, fmt.Errorf("%w: missing", ErrInvalidSecretKey)
	}
	if isZero(b) {
		return nil, fmt.Errorf("%w: zero", ErrInvalidSecretKey)
	}
	if !lessThanR(b) {
		return nil, fmt.Errorf("%w: not below the group order", ErrInvalidSecretKey)
	}
	return &SecretKey{b: *b}, nil
}

// Wipe clears the key. Every later use returns ErrWiped. Wipe on nil is a
// no-op.
func (sk *SecretKey) Wipe() {
	if sk == nil {
		return
	}
	clear(sk.b[:])
}

// Clone returns a copy of sk that is wiped on its own (for caches).
func (sk *SecretKey) Clone() *SecretKey {
	if sk == nil {
		return nil
	}
	return &SecretKey{b: sk.b}
}

// Equal reports whether sk and o hold the same key, in constant time. Two
// unusable (nil, zero or wiped) keys are not equal to anything.
func (sk *SecretKey) Equal(o *SecretKey) bool {
	if !sk.valid() || !o.valid() {
		return false
	}
	return subtle.ConstantTimeCompare(sk.b[:], o.b[:]) == 1
}

// Format keeps the key out of logs and error strings: every verb (%v, %x,
// %d, %#v …) prints the same placeholder. A value receiver covers both
// SecretKey and *SecretKey.
func (SecretKey) Format(f fmt.State, _ rune) {
	_, _ = io.WriteString(f, "bls.SecretKey(redacted)")
}

// PublicKey returns SkToPk(SK) of the IETF draft (section 2.4): SK·P1, where
// P1 is the G1 generator, as a 48-byte compressed point.
func (sk *SecretKey) PublicKey() (PublicKey, error) {
	if !sk.valid() {
		return PublicKey{}, ErrWiped
	}
	s := sk.scalar()
	defer wipeBig(s)
	var p bls12381.G1Affine
	p.ScalarMultiplicationBase(s)
	return PublicKey(p.Bytes()), nil
}

// valid reports whether sk is usable: non-nil and non-zero. Every way to
// build a SecretKey checks 0 < SK < r, so a zero array means "wiped or never
// set".
func (sk *SecretKey) valid() bool {
	return sk != nil && !isZero(&sk.b)
}

// scalar returns SK as a big.Int for gnark-crypto's scalar multiplication.
// The caller clears it with wipeBig.
func (sk *SecretKey) scalar() *big.Int {
	return new(big.Int).SetBytes(sk.b[:])
}

// wipeBig clears the words of a big.Int that held a secret.
func wipeBig(x *big.Int) {
	clear(x.Bits())
	x.SetInt64(0)
}

// isZero reports, in constant time, whether b is all zeroes.
func isZero(b *[SecretKeySize]byte) bool {
	var acc byte
	for _, v := range b {
		acc |= v
	}
	return subtle.ConstantTimeByteEq(acc, 0) == 1
}

// lessThanR reports, in constant time, whether the big-endian integer b is
// below r: the final borrow of b - r is 1 exactly when b < r.
func lessThanR(b *[SecretKeySize]byte) bool {
	borrow := 0
	for i := SecretKeySize - 1; i >= 0; i-- {
		d := int(b[i]) - int(rBytes[i]) - borrow
		borrow = (d >> 8) & 1
	}
	return borrow == 1
}
