package btc

import (
	"crypto/sha256"
	"errors"

	"github.com/btcsuite/btcd/btcec/v2"
)

// A second BIP340 implementation, for tests only: a transcription of the
// BIP's reference code (bip-0340/reference.py, "Default Signing" and
// "Verification") onto btcec's field and group arithmetic, with its own
// tagged hash. It shares the curve arithmetic with btcec but none of the
// protocol logic (nonce derivation, parity rules, challenge, range checks).
//
// It exists because btcec v2.3.5 takes only 32-byte messages, so the four
// BIP340 vectors with other message lengths (15–18, added 2022-12) cannot go
// through this package's digest API. The reference is checked against all 19
// vectors, and then this package is checked against the reference, byte for
// byte, on random keys, digests and aux values.

func refTaggedHash(tag string, msgs ...[]byte) [32]byte {
	th := sha256.Sum256([]byte(tag))
	h := sha256.New()
	h.Write(th[:])
	h.Write(th[:])
	for _, m := range msgs {
		h.Write(m)
	}
	return [32]byte(h.Sum(nil))
}

// refSign is BIP340 "Default Signing" for a message of any length.
func refSign(seckey [32]byte, msg []byte, aux [32]byte) ([64]byte, error) {
	var d0 btcec.ModNScalar
	if overflow := d0.SetBytes(&seckey); overflow != 0 || d0.IsZero() {
		return [64]byte{}, errors.New("secret key out of range")
	}
	var p btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&d0, &p)
	p.ToAffine()
	d := d0
	if p.Y.IsOdd() {
		d.Negate()
	}
	db := d.Bytes()
	ha := refTaggedHash("BIP0340/aux", aux[:])
	var t [32]byte
	for i := range t {
		t[i] = db[i] ^ ha[i]
	}
	px := p.X.Bytes()
	rnd := refTaggedHash("BIP0340/nonce", t[:], px[:], msg)
	var k0 btcec.ModNScalar
	k0.SetBytes(&rnd) // int(rand) mod n
	if k0.IsZero() {
		return [64]byte{}, errors.New("zero nonce")
	}
	var r btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&k0, &r)
	r.ToAffine()
	k := k0
	if r.Y.IsOdd() {
		k.Negate()
	}
	rx := r.X.Bytes()
	eb := refTaggedHash("BIP0340/challenge", rx[:], px[:], msg)
	var e btcec.ModNScalar
	e.SetBytes(&eb)
	s := new(btcec.ModNScalar).Mul2(&e, &d).Add(&k)
	var sig [64]byte
	copy(sig[:32], rx[:])
	sb := s.Bytes()
	copy(sig[32:], sb[:])
	if !refVerify([32]byte(px[:]), msg, sig) {
		return [64]byte{}, errors.New("fresh signature does not verify")
	}
	return sig, nil
}

// refVerify is BIP340 "Verification" for a message of any length.
func refVerify(pk [32]byte, msg []byte, sig [64]byte) bool {
	// P = lift_x(int(pk)); fail if pk ≥ p or x is not on the curve.
	var px, py btcec.FieldVal
	if overflow := px.SetByteSlice(pk[:]); overflow {
		return false
	}
	if !btcec.DecompressY(&px, false, &py) {
		return false
	}
	// r = int(sig[0:32]); fail if r ≥ p. s = int(sig[32:64]); fail if s ≥ n.
	var r btcec.FieldVal
	if overflow := r.SetByteSlice(sig[:32]); overflow {
		return false
	}
	var s btcec.ModNScalar
	if overflow := s.SetByteSlice(sig[32:]); overflow {
		return false
	}
	// e = int(hash_challenge(bytes(r) ‖ bytes(P) ‖ m)) mod n.
	eb := refTaggedHash("BIP0340/challenge", sig[:32], pk[:], msg)
	var e btcec.ModNScalar
	e.SetBytes(&eb)
	// R = s·G − e·P.
	one := new(btcec.FieldVal).SetInt(1)
	p := btcec.MakeJacobianPoint(&px, &py, one)
	var sG, eP, rr btcec.JacobianPoint
	btcec.ScalarBaseMultNonConst(&s, &sG)
	btcec.ScalarMultNonConst(&e, &p, &eP)
	eP.ToAffine()
	eP.Y.Negate(1).Normalize()
	btcec.AddNonConst(&sG, &eP, &rr)
	// Fail if R is infinity, has odd y, or x(R) ≠ r.
	if rr.Z.Normalize().IsZero() || (rr.X.Normalize().IsZero() && rr.Y.Normalize().IsZero()) {
		return false
	}
	rr.ToAffine()
	if rr.Y.IsOdd() {
		return false
	}
	return rr.X.Equals(r.Normalize())
}
