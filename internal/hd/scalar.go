package hd

import (
	"filippo.io/bigmod"
	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// addScalar sets out = il + kpar mod n, the private-key step of BIP32 and
// SLIP-10 on the Weierstrass curves, and reports whether the result is a
// valid key: parse256(il) < n and out != 0. kpar must already be a valid
// scalar (or zero, for a master key). Both curves run in constant time;
// only the one-bit verdict is branched on, as the specs require.
func addScalar(c Curve, il, kpar, out *[32]byte) bool {
	switch c {
	case Secp256k1:
		var a, b secp256k1.ModNScalar
		overflow := a.SetBytes(il)
		b.SetBytes(kpar)
		a.Add(&b)
		a.PutBytes(out)
		ok := overflow == 0 && !a.IsZero()
		a.Zero()
		b.Zero()
		return ok
	case NIST256p1:
		return p256AddModN(il, kpar, out)
	}
	return false
}

// p256N is the order of NIST P-256 (FIPS 186-4, D.1.2.3).
var p256N = func() *bigmod.Modulus {
	m, err := bigmod.NewModulus([]byte{
		0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x00, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF,
		0xBC, 0xE6, 0xFA, 0xAD, 0xA7, 0x17, 0x9E, 0x84, 0xF3, 0xB9, 0xCA, 0xC2, 0xFC, 0x63, 0x25, 0x51,
	})
	if err != nil {
		panic(err)
	}
	return m
}()

// p256AddModN is addScalar for nist256p1.
//
// Why filippo.io/bigmod: the operands are secret, math/big is not constant
// time, and the standard library keeps its constant-time P-256 scalar
// field internal. bigmod is the constant-time modular arithmetic the
// standard library's own RSA and ECDSA code grew from.
func p256AddModN(il, kpar, out *[32]byte) bool {
	// SetBytes fails when il ≥ n: BIP32/SLIP-10's "invalid key" verdict,
	// the one bit the specs branch on.
	a, err := bigmod.NewNat().SetBytes(il[:], p256N)
	if err != nil {
		return false
	}
	b, err := bigmod.NewNat().SetBytes(kpar[:], p256N)
	if err != nil {
		return false
	}
	a.Add(b, p256N)
	copy(out[:], a.Bytes(p256N))
	ok := a.IsZero() == 0
	a.SetUint(0)
	b.SetUint(0)
	return ok
}
