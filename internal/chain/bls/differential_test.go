package bls

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/consensys/gnark-crypto/ecc"
	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fr"
)

// No independent pure-Go BLS signature implementation is available to this
// module (blst needs cgo; gnark-crypto has no BLS signature package). This
// test recomputes every step on a second code path instead:
//
//   - public key and signature with gnark-crypto's multi-scalar
//     multiplication (Pippenger bucket method, fr.Element scalars), not the
//     GLV/GLS scalar multiplication with a big.Int that the package uses;
//   - verification as two separate pairings compared in GT,
//     e(pk, H(m)) == e(P1, sig) with bls12381.Pair, not the package's single
//     multi-pairing PairingCheck against -P1.
//
// The consensus-spec vectors pin the package to outside data; this test
// checks the same algebra by different routes over random keys.
func TestSignAndVerifyAgreeWithASecondCodePath(t *testing.T) {
	_, _, g1, _ := bls12381.Generators()
	rng := rand.New(rand.NewChaCha8([32]byte{'d', 'i', 'f', 'f'}))
	for i := range 6 {
		sk := randomKey(t, rng)
		msg := randomBytes(rng, 1+rng.IntN(64))
		pk, sig := mustPub(t, sk), mustSign(t, sk, msg)

		var s fr.Element
		if err := s.SetBytesCanonical(sk.b[:]); err != nil {
			t.Fatal(err)
		}
		var pk2 bls12381.G1Affine
		if _, err := pk2.MultiExp([]bls12381.G1Affine{g1}, []fr.Element{s}, ecc.MultiExpConfig{}); err != nil {
			t.Fatal(err)
		}
		if PublicKey(pk2.Bytes()) != pk {
			t.Errorf("case %d: PublicKey differs from the MSM computation", i)
		}
		h, err := bls12381.HashToG2(msg, []byte(SignatureDST))
		if err != nil {
			t.Fatal(err)
		}
		var sig2 bls12381.G2Affine
		if _, err := sig2.MultiExp([]bls12381.G2Affine{h}, []fr.Element{s}, ecc.MultiExpConfig{}); err != nil {
			t.Fatal(err)
		}
		if Signature(sig2.Bytes()) != sig {
			t.Errorf("case %d: Sign differs from the MSM computation", i)
		}

		pairingsEqual := func(pk bls12381.G1Affine, h, sig bls12381.G2Affine) bool {
			left, err := bls12381.Pair([]bls12381.G1Affine{pk}, []bls12381.G2Affine{h})
			if err != nil {
				t.Fatal(err)
			}
			right, err := bls12381.Pair([]bls12381.G1Affine{g1}, []bls12381.G2Affine{sig})
			if err != nil {
				t.Fatal(err)
			}
			return left.Equal(&right)
		}
		if !pairingsEqual(pk2, h, sig2) || !Verify(pk, msg, sig) {
			t.Errorf("case %d: explicit pairings and Verify disagree on a valid signature", i)
		}
		otherMsg := append(bytes.Clone(msg), 1)
		h2, _ := bls12381.HashToG2(otherMsg, []byte(SignatureDST))
		if pairingsEqual(pk2, h2, sig2) || Verify(pk, otherMsg, sig) {
			t.Errorf("case %d: a signature passes for another message", i)
		}
	}
}

// BLS is linear in the key: Sign(a, m) + Sign(b, m) = Sign(a+b, m) and
// PK(a) + PK(b) = PK(a+b). The sum key is built in the scalar field, so this
// checks Sign and PublicKey against an algebraic identity, not a stored value.
func TestSignAndPublicKeyAreLinearInTheKey(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{'l', 'i', 'n'}))
	for i := range 4 {
		a, b := randomKey(t, rng), randomKey(t, rng)
		var fa, fb, fc fr.Element
		_ = fa.SetBytesCanonical(a.b[:])
		_ = fb.SetBytesCanonical(b.b[:])
		fc.Add(&fa, &fb)
		if fc.IsZero() {
			continue
		}
		c := mustSecretKey(t, fc.Bytes())
		msg := randomBytes(rng, 32)

		var sa, sb, sc, sum bls12381.G2Affine
		for _, x := range []struct {
			sk *SecretKey
			p  *bls12381.G2Affine
		}{{a, &sa}, {b, &sb}, {c, &sc}} {
			sig := mustSign(t, x.sk, msg)
			if _, err := x.p.SetBytes(sig[:]); err != nil {
				t.Fatal(err)
			}
		}
		if sum.Add(&sa, &sb); !sum.Equal(&sc) {
			t.Errorf("case %d: Sign(a)+Sign(b) != Sign(a+b)", i)
		}

		var pa, pb, pc, psum bls12381.G1Affine
		for _, x := range []struct {
			sk *SecretKey
			p  *bls12381.G1Affine
		}{{a, &pa}, {b, &pb}, {c, &pc}} {
			pk := mustPub(t, x.sk)
			if _, err := x.p.SetBytes(pk[:]); err != nil {
				t.Fatal(err)
			}
		}
		if psum.Add(&pa, &pb); !psum.Equal(&pc) {
			t.Errorf("case %d: PK(a)+PK(b) != PK(a+b)", i)
		}
	}
}
