package bls

import (
	"bytes"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fp"
)

// randomKey derives a key from a random 32-byte seed, so that properties
// run over keys as the package makes them.
func randomKey(t testing.TB, rng *rand.Rand) *SecretKey {
	t.Helper()
	seed := randomBytes(rng, 32)
	sk, err := DeriveMaster(seed)
	if err != nil {
		t.Fatalf("DeriveMaster: %v", err)
	}
	return sk
}

func randomBytes(rng *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(rng.Uint32())
	}
	return b
}

func mustSign(t testing.TB, sk *SecretKey, msg []byte) Signature {
	t.Helper()
	sig, err := Sign(sk, msg)
	if err != nil {
		t.Fatalf("Sign: %v", err)
	}
	return sig
}

func mustPub(t testing.TB, sk *SecretKey) PublicKey {
	t.Helper()
	pk, err := sk.PublicKey()
	if err != nil {
		t.Fatalf("PublicKey: %v", err)
	}
	return pk
}

func TestSignVerifyRoundTripOverRandomKeys(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{'r', 't'}))
	for i := range 8 {
		sk, other := randomKey(t, rng), randomKey(t, rng)
		pk, otherPK := mustPub(t, sk), mustPub(t, other)
		msg := randomBytes(rng, rng.IntN(200))
		sig := mustSign(t, sk, msg)

		if !Verify(pk, msg, sig) {
			t.Fatalf("case %d: Verify of a fresh signature = false", i)
		}
		if _, err := ParsePublicKey(pk[:]); err != nil {
			t.Errorf("case %d: ParsePublicKey of PublicKey(): %v", i, err)
		}
		if _, err := ParseSignature(sig[:]); err != nil {
			t.Errorf("case %d: ParseSignature of Sign(): %v", i, err)
		}
		if again := mustSign(t, sk, msg); again != sig {
			t.Errorf("case %d: Sign is not deterministic", i)
		}
		if Verify(otherPK, msg, sig) {
			t.Errorf("case %d: signature verifies under another key", i)
		}
		otherMsg := append(bytes.Clone(msg), 0)
		if Verify(pk, otherMsg, sig) {
			t.Errorf("case %d: signature verifies for another message", i)
		}
		if len(msg) > 0 {
			flipped := bytes.Clone(msg)
			flipped[rng.IntN(len(flipped))] ^= 1 << rng.IntN(8)
			if Verify(pk, flipped, sig) {
				t.Errorf("case %d: signature verifies for a message with a flipped bit", i)
			}
		}
		for range 4 {
			bad := sig
			bad[rng.IntN(SignatureSize)] ^= 1 << rng.IntN(8)
			if Verify(pk, msg, bad) {
				t.Errorf("case %d: signature with a flipped bit verifies", i)
			}
			badPK := pk
			badPK[rng.IntN(PublicKeySize)] ^= 1 << rng.IntN(8)
			if Verify(badPK, msg, sig) {
				t.Errorf("case %d: public key with a flipped bit verifies", i)
			}
		}
	}
}

func TestPopProveVerifyRoundTrip(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{'p', 'o', 'p'}))
	for i := range 4 {
		sk, other := randomKey(t, rng), randomKey(t, rng)
		pk, otherPK := mustPub(t, sk), mustPub(t, other)
		proof, err := PopProve(sk)
		if err != nil {
			t.Fatalf("PopProve: %v", err)
		}
		if !PopVerify(pk, proof) {
			t.Fatalf("case %d: PopVerify of a fresh proof = false", i)
		}
		if PopVerify(otherPK, proof) {
			t.Errorf("case %d: proof verifies for another key", i)
		}
		// Domain separation: a signature on the public key's bytes is not a
		// proof of possession, and a proof is not a signature.
		if PopVerify(pk, mustSign(t, sk, pk[:])) {
			t.Errorf("case %d: Sign(sk, pk) passes PopVerify", i)
		}
		if Verify(pk, pk[:], proof) {
			t.Errorf("case %d: PopProve(sk) passes Verify(pk, pk)", i)
		}
	}
}

// infinityG1 and infinityG2 are the compressed encodings of the identity.
var (
	infinityG1 = PublicKey{0xc0}
	infinityG2 = Signature{0xc0}
)

func TestVerifyRejectsTheIdentityPublicKey(t *testing.T) {
	sk := mustSecretKey(t, [SecretKeySize]byte{31: 3})
	msg := []byte("identity")
	if Verify(infinityG1, msg, mustSign(t, sk, msg)) {
		t.Errorf("Verify with the identity public key and a real signature = true")
	}
	// e(O, Q) == e(P1, O) holds for the identity pair: KeyValidate must stop it.
	if Verify(infinityG1, msg, infinityG2) {
		t.Errorf("Verify with the identity public key and signature = true")
	}
	if PopVerify(infinityG1, infinityG2) {
		t.Errorf("PopVerify with the identity public key and proof = true")
	}
	if _, err := ParsePublicKey(infinityG1[:]); !errors.Is(err, ErrInvalidPublicKey) || !strings.Contains(err.Error(), "identity") {
		t.Errorf("ParsePublicKey(identity) error = %v, want ErrInvalidPublicKey naming the identity", err)
	}
	// The identity is a subgroup element: it parses as a signature, and
	// does not verify under a real key.
	if _, err := ParseSignature(infinityG2[:]); err != nil {
		t.Errorf("ParseSignature(identity): %v", err)
	}
	if Verify(mustPub(t, sk), msg, infinityG2) {
		t.Errorf("Verify of the identity signature under a real key = true")
	}
}

// offSubgroupG1 finds a point on E(Fp): y² = x³ + 4 outside the r-order
// subgroup (almost every curve point is: the cofactor is about 2^126).
func offSubgroupG1(t testing.TB) bls12381.G1Affine {
	t.Helper()
	_, b := bls12381.CurveCoefficients()
	var p bls12381.G1Affine
	for i := uint64(1); i < 1000; i++ {
		p.X.SetUint64(i)
		var y2 fp.Element
		y2.Square(&p.X).Mul(&y2, &p.X).Add(&y2, &b)
		if p.Y.Sqrt(&y2) == nil {
			continue
		}
		if p.IsOnCurve() && !p.IsInSubGroup() {
			return p
		}
	}
	t.Fatal("no off-subgroup G1 point found")
	return p
}

// offSubgroupG2 does the same on the twist E'(Fp2): y² = x³ + 4(1+u).
func offSubgroupG2(t testing.TB) bls12381.G2Affine {
	t.Helper()
	var p bls12381.G2Affine
	bTwist := p.X
	bTwist.A0.SetUint64(4)
	bTwist.A1.SetUint64(4)
	for i := uint64(1); i < 1000; i++ {
		p.X.A0.SetUint64(i)
		p.X.A1.SetUint64(1)
		y2 := p.X
		y2.Square(&p.X).Mul(&y2, &p.X).Add(&y2, &bTwist)
		if y2.Legendre() != 1 {
			continue
		}
		p.Y.Sqrt(&y2)
		if p.IsOnCurve() && !p.IsInSubGroup() {
			return p
		}
	}
	t.Fatal("no off-subgroup G2 point found")
	return p
}

func TestVerifyRejectsPointsOutsideTheSubgroup(t *testing.T) {
	sk := mustSecretKey(t, [SecretKeySize]byte{31: 5})
	pk := mustPub(t, sk)
	msg := []byte("subgroup")
	sig := mustSign(t, sk, msg)

	g1 := offSubgroupG1(t)
	badPK := PublicKey(g1.Bytes())
	if _, err := ParsePublicKey(badPK[:]); !errors.Is(err, ErrInvalidPublicKey) {
		t.Errorf("ParsePublicKey(off-subgroup G1 point) error = %v, want ErrInvalidPublicKey", err)
	}
	if Verify(badPK, msg, sig) {
		t.Errorf("Verify with an off-subgroup public key = true")
	}
	if PopVerify(badPK, sig) {
		t.Errorf("PopVerify with an off-subgroup public key = true")
	}

	g2 := offSubgroupG2(t)
	badSig := Signature(g2.Bytes())
	if _, err := ParseSignature(badSig[:]); !errors.Is(err, ErrInvalidSignature) {
		t.Errorf("ParseSignature(off-subgroup G2 point) error = %v, want ErrInvalidSignature", err)
	}
	if Verify(pk, msg, badSig) {
		t.Errorf("Verify with an off-subgroup signature = true")
	}
	// Adding an off-subgroup component to a valid signature must not pass.
	var good bls12381.G2Affine
	if _, err := good.SetBytes(sig[:]); err != nil {
		t.Fatal(err)
	}
	var mixed bls12381.G2Affine
	mixed.Add(&good, &g2)
	if Verify(pk, msg, Signature(mixed.Bytes())) {
		t.Errorf("Verify of signature + off-subgroup point = true")
	}
}

func TestParseRejectsMalformedEncodings(t *testing.T) {
	sk := mustSecretKey(t, [SecretKeySize]byte{31: 9})
	pk := mustPub(t, sk)
	sig := mustSign(t, sk, []byte("encodings"))

	// p, the base field modulus, as a 48-byte x coordinate: not canonical.
	pBytes := fp.Modulus().FillBytes(make([]byte, 48))
	xIsP := PublicKey(pBytes)
	xIsP[0] |= 0x80

	withFlags := func(b []byte, flags byte) []byte {
		c := bytes.Clone(b)
		c[0] = c[0]&0x1f | flags
		return c
	}
	pkTests := []struct {
		name string
		in   []byte
	}{
		{"rejects the uncompressed flag", withFlags(pk[:], 0x00)},
		{"rejects all three flag bits", withFlags(pk[:], 0xe0)},
		{"rejects infinity with a non-zero body", append([]byte{0xc0}, bytes.Repeat([]byte{1}, 47)...)},
		{"rejects infinity with the sign bit", withFlags(make([]byte, 48), 0xe0)},
		{"rejects x = p", xIsP[:]},
		{"rejects 47 bytes", pk[:47]},
		{"rejects 49 bytes", append(pk[:], 0)},
		{"rejects 96 bytes", bytes.Repeat(pk[:], 2)},
	}
	for _, tt := range pkTests {
		t.Run("public key "+tt.name, func(t *testing.T) {
			if _, err := ParsePublicKey(tt.in); !errors.Is(err, ErrInvalidPublicKey) {
				t.Errorf("ParsePublicKey error = %v, want ErrInvalidPublicKey", err)
			}
			if len(tt.in) == PublicKeySize && Verify(PublicKey(tt.in), []byte("encodings"), sig) {
				t.Errorf("Verify = true")
			}
		})
	}
	sigTests := []struct {
		name string
		in   []byte
	}{
		{"rejects the uncompressed flag", withFlags(sig[:], 0x00)},
		{"rejects all three flag bits", withFlags(sig[:], 0xe0)},
		{"rejects infinity with a non-zero body", append([]byte{0xc0}, bytes.Repeat([]byte{1}, 95)...)},
		{"rejects 95 bytes", sig[:95]},
		{"rejects 97 bytes", append(sig[:], 0)},
	}
	for _, tt := range sigTests {
		t.Run("signature "+tt.name, func(t *testing.T) {
			if _, err := ParseSignature(tt.in); !errors.Is(err, ErrInvalidSignature) {
				t.Errorf("ParseSignature error = %v, want ErrInvalidSignature", err)
			}
			if len(tt.in) == SignatureSize && Verify(pk, []byte("encodings"), Signature(tt.in)) {
				t.Errorf("Verify = true")
			}
		})
	}
}

// Invariant 1 of DESIGN.md: no key material in logs or error strings.
func TestSecretKeyNeverPrints(t *testing.T) {
	kb := [SecretKeySize]byte{0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 31: 0x11}
	sk := mustSecretKey(t, kb)
	secretHex := hex.EncodeToString(kb[:])
	outputs := []string{
		fmt.Sprint(sk), fmt.Sprint(*sk),
		fmt.Sprintf("%v %+v %#v %s %q %x %X %d %T", sk, sk, sk, sk, sk, sk, sk, sk, sk),
		fmt.Sprintf("%v %+v %#v %s %q %x %X %d", *sk, *sk, *sk, *sk, *sk, *sk, *sk, *sk),
		fmt.Sprintf("%+v %#v", struct{ K SecretKey }{*sk}, struct{ K *SecretKey }{sk}),
	}
	for _, out := range outputs {
		low := strings.ToLower(out)
		if strings.Contains(low, secretHex[:8]) || strings.Contains(out, "18 52 86") || strings.Contains(out, "[18") {
			t.Errorf("formatted output leaks key bytes: %q", out)
		}
	}
	if !strings.Contains(fmt.Sprint(sk), "redacted") {
		t.Errorf("fmt.Sprint(sk) = %q, want the redacted placeholder", fmt.Sprint(sk))
	}

	rPlus := rBytes
	rPlus[31]++
	_, err := SecretKeyFromBytes(&rPlus)
	seed := bytes.Repeat([]byte{0xab}, 20)
	_, err2 := DeriveMaster(seed)
	for _, e := range []error{err, err2} {
		if e == nil {
			t.Fatalf("want an error")
		}
		if s := strings.ToLower(e.Error()); strings.Contains(s, hex.EncodeToString(rPlus[:4])) || strings.Contains(s, "abab") {
			t.Errorf("error string leaks input bytes: %q", e)
		}
	}
}
