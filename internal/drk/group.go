package drk

import (
	"crypto/ecdh"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"math/big"

	"filippo.io/bigmod"
)

// The group is NIST P-256 (FIPS 186-5, SEC 2): prime order n, cofactor 1.
// The sharing polynomials have coefficients in Z_n, and a scalar's
// canonical encoding is 32 bytes big-endian, less than n.
//
// Why P-256 rather than circl's group package (Ristretto255 or P-256):
// circl's group package imports github.com/bwesterb/go-ristretto, which this
// module does not carry, so it does not build here. P-256 has constant-time
// code we already depend on for each operation that touches a secret:
//
//   - arithmetic mod n: filippo.io/bigmod (as internal/hd does);
//   - v·G: crypto/ecdh (PrivateKey.PublicKey);
//   - r·H and point addition: crypto/elliptic's P-256, which since Go 1.19
//     is a thin wrapper over the standard library's constant-time nistec
//     code. Its Add and ScalarMult are marked deprecated as a "low-level
//     unsafe API" because they take big.Int coordinates and panic on a
//     point off the curve; every point passed to them here was either
//     decoded with elliptic.UnmarshalCompressed (which validates it) or
//     computed by the curve itself. The coordinates of results are public
//     (commitments) or blinded (r·H), so their big.Int conversion leaks
//     nothing useful.
//
// Each library keeps its own copy of a scalar it was given; those copies
// cannot be wiped from Go, and become garbage when the call returns.

const (
	scalarLen = 32 // canonical scalar encoding
	pointLen  = 33 // SEC 1 compressed point encoding
)

var curve = elliptic.P256()

// p256N is the order n of P-256 (FIPS 186-5 / SP 800-186, section 3.2.1.3).
var p256N = func() *bigmod.Modulus {
	m, err := bigmod.NewModulus(curve.Params().N.Bytes())
	if err != nil {
		panic(err)
	}
	return m
}()

// labelPedersenH seeds the derivation of the second Pedersen generator.
const labelPedersenH = "niomon/drk/v1/pedersen-generator-H"

// pedersenH is the second generator H of the Pedersen commitments: the first
// valid point whose x-coordinate is SHA-256(labelPedersenH ‖ ctr) (ctr a
// 4-byte big-endian counter from 0) with an even y ("try and increment").
// Nobody knows log_G(H), which is what makes the commitments binding; a test
// pins its encoding.
var pedersenH = func() point {
	for ctr := uint32(0); ; ctr++ {
		h := sha256.New()
		h.Write([]byte(labelPedersenH))
		h.Write(binary.BigEndian.AppendUint32(nil, ctr))
		enc := append([]byte{2}, h.Sum(nil)...)
		if p, ok := decodePoint(enc); ok {
			return p
		}
	}
}()

// point is a public P-256 point in affine coordinates; (0, 0) is the
// identity, the crypto/elliptic convention.
type point struct{ x, y *big.Int }

// decodePoint parses a SEC 1 compressed point. The identity has no
// compressed encoding, so a decoded point is never the identity.
func decodePoint(b []byte) (point, bool) {
	if len(b) != pointLen {
		return point{}, false
	}
	x, y := elliptic.UnmarshalCompressed(curve, b)
	if x == nil {
		return point{}, false
	}
	return point{x, y}, true
}

func (p point) isIdentity() bool { return p.x.Sign() == 0 && p.y.Sign() == 0 }

// encode returns the compressed encoding; p must not be the identity.
func (p point) encode() []byte { return elliptic.MarshalCompressed(curve, p.x, p.y) }

// equal compares public points.
func (p point) equal(q point) bool { return p.x.Cmp(q.x) == 0 && p.y.Cmp(q.y) == 0 }

func add(p, q point) point {
	x, y := curve.Add(p.x, p.y, q.x, q.y) //nolint:staticcheck // see the group comment
	return point{x, y}
}

// mul returns k·p in constant time (nistec). k is 32 bytes big-endian.
func mul(p point, k []byte) point {
	x, y := curve.ScalarMult(p.x, p.y, k) //nolint:staticcheck // see the group comment
	return point{x, y}
}

// mulBase returns v·G in constant time. It reports false for v = 0 or v ≥ n.
func mulBase(v *[scalarLen]byte) (point, bool) {
	k, err := ecdh.P256().NewPrivateKey(v[:])
	if err != nil {
		return point{}, false
	}
	b := k.PublicKey().Bytes() // 0x04 ‖ x ‖ y
	return point{new(big.Int).SetBytes(b[1:33]), new(big.Int).SetBytes(b[33:65])}, true
}

// pedersen returns the commitment v·G + r·H. It reports false unless
// 0 < v < n and r < n.
func pedersen(v, r *[scalarLen]byte) (point, bool) {
	if !validScalar(r) {
		return point{}, false
	}
	vg, ok := mulBase(v)
	if !ok {
		return point{}, false
	}
	return add(vg, mul(pedersenH, r[:])), true
}

// evalCommitment returns Σ_j x^j·C_j (Horner's rule). x and the points are
// public.
func evalCommitment(cs []point, x int) point {
	acc := cs[len(cs)-1]
	k := make([]byte, scalarLen)
	k[scalarLen-1] = byte(x)
	for j := len(cs) - 2; j >= 0; j-- {
		acc = add(mul(acc, k), cs[j])
	}
	return acc
}

// Scalars. They live as canonical [32]byte (what is stored, encoded and
// wiped) and are loaded into bigmod.Nat for arithmetic.

// validScalar reports whether s < n.
func validScalar(s *[scalarLen]byte) bool {
	x, err := bigmod.NewNat().SetBytes(s[:], p256N)
	if err != nil {
		return false
	}
	wipeNat(x)
	return true
}

// loadScalar returns s as a Nat; s must be < n.
func loadScalar(s *[scalarLen]byte) (*bigmod.Nat, bool) {
	x, err := bigmod.NewNat().SetBytes(s[:], p256N)
	return x, err == nil
}

// storeScalar writes x to dst.
func storeScalar(dst *[scalarLen]byte, x *bigmod.Nat) {
	b := x.Bytes(p256N)
	copy(dst[:], b)
	clear(b)
}

// smallNat returns the public integer v mod n.
func smallNat(v int) *bigmod.Nat {
	return bigmod.NewNat().SetUint(uint(v)).ExpandFor(p256N)
}

func wipeNat(x *bigmod.Nat) {
	if x != nil {
		clear(x.Bits())
	}
}

// randomScalar sets dst to a uniformly random scalar in [1, n-1] by
// rejection sampling (the rejection probability is about 2^-32).
func randomScalar(dst *[scalarLen]byte) error {
	for {
		if _, err := rand.Read(dst[:]); err != nil {
			return err
		}
		x, err := bigmod.NewNat().SetBytes(dst[:], p256N)
		if err != nil {
			continue
		}
		zero := x.IsZero()
		wipeNat(x)
		if zero == 0 {
			return nil
		}
	}
}

// evalPoly returns Σ_j c_j·x^j mod n in constant time (Horner's rule).
func evalPoly(c []*bigmod.Nat, x int) *bigmod.Nat {
	xn := smallNat(x)
	acc := smallNat(0).Add(c[len(c)-1], p256N)
	for j := len(c) - 2; j >= 0; j-- {
		acc.Mul(xn, p256N).Add(c[j], p256N)
	}
	return acc
}

// lagrangeAtZero returns the Lagrange coefficients λ_i = Π_{j≠i} x_j/(x_j-x_i)
// mod n for the distinct public nodes xs, so that f(0) = Σ λ_i·f(x_i).
func lagrangeAtZero(xs []int) []*bigmod.Nat {
	out := make([]*bigmod.Nat, len(xs))
	for i, xi := range xs {
		num, den := smallNat(1), smallNat(1)
		for j, xj := range xs {
			if j == i {
				continue
			}
			num.Mul(smallNat(xj), p256N)
			den.Mul(smallNat(xj).Sub(smallNat(xi), p256N), p256N)
		}
		// The nodes are public, so a variable-time inverse is fine; den is
		// non-zero because the nodes are distinct and smaller than n.
		inv, ok := bigmod.NewNat().InverseVarTime(den, p256N)
		if !ok {
			panic("drk: Lagrange denominator not invertible")
		}
		out[i] = num.Mul(inv.ExpandFor(p256N), p256N)
	}
	return out
}
