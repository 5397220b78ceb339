package bls

import (
	"fmt"

	bls12381 "github.com/consensys/gnark-crypto/ecc/bls12-381"
)

// Encoded sizes (the draft's minimal-pubkey-size variant, ZCash point
// compression).
const (
	PublicKeySize = bls12381.SizeOfG1AffineCompressed // 48
	SignatureSize = bls12381.SizeOfG2AffineCompressed // 96
)

// Domain separation tags of the proof-of-possession ciphersuite,
// draft-irtf-cfrg-bls-signature-05 section 4.2.3.
const (
	// SignatureDST is the ciphersuite ID used by Sign and Verify; the
	// consensus specification's bls.Sign uses it.
	SignatureDST = "BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
	// PopDST is the tag of PopProve/PopVerify (hash_pubkey_to_point).
	PopDST = "BLS_POP_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_"
)

// PublicKey is a compressed G1 point (48 bytes). Any 48 bytes convert to a
// PublicKey; Verify and PopVerify run KeyValidate on it, and ParsePublicKey
// validates up front.
type PublicKey [PublicKeySize]byte

// Signature is a compressed G2 point (96 bytes). Verify and PopVerify decode
// and subgroup-check it; ParseSignature does so up front.
type Signature [SignatureSize]byte

// g1Neg is -P1, the negated G1 generator, for the pairing check.
var g1Neg = func() bls12381.G1Affine {
	_, _, g1, _ := bls12381.Generators()
	g1.Neg(&g1)
	return g1
}()

// ParsePublicKey runs the draft's KeyValidate (section 2.5) on b: a 48-byte
// compressed encoding of a G1 point that is in the prime-order subgroup and
// is not the identity.
func ParsePublicKey(b []byte) (PublicKey, error) {
	if len(b) != PublicKeySize {
		return PublicKey{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidPublicKey, len(b), PublicKeySize)
	}
	pk := PublicKey(b)
	if _, err := pk.point(); err != nil {
		return PublicKey{}, err
	}
	return pk, nil
}

// ParseSignature checks that b is a 96-byte compressed encoding of a point
// of the G2 prime-order subgroup (the draft's signature_to_point and
// signature_subgroup_check). The identity passes, as in the draft; no
// signature by a valid key verifies as the identity.
func ParseSignature(b []byte) (Signature, error) {
	if len(b) != SignatureSize {
		return Signature{}, fmt.Errorf("%w: %d bytes, want %d", ErrInvalidSignature, len(b), SignatureSize)
	}
	sig := Signature(b)
	if _, err := sig.point(); err != nil {
		return Signature{}, err
	}
	return sig, nil
}

// point is pubkey_to_point plus KeyValidate. gnark-crypto's SetBytes
// decodes the compressed form (refusing coordinates >= p, bad flag bits, a
// non-zero body with the infinity flag, and x with no square root) and runs
// the subgroup check; only the identity is left for this function.
func (pk *PublicKey) point() (bls12381.G1Affine, error) {
	var p bls12381.G1Affine
	n, err := p.SetBytes(pk[:])
	if err != nil || n != PublicKeySize {
		return p, fmt.Errorf("%w: not a compressed point of the G1 subgroup", ErrInvalidPublicKey)
	}
	if p.IsInfinity() {
		return p, fmt.Errorf("%w: identity", ErrInvalidPublicKey)
	}
	return p, nil
}

// point is signature_to_point plus signature_subgroup_check.
func (sig *Signature) point() (bls12381.G2Affine, error) {
	var p bls12381.G2Affine
	n, err := p.SetBytes(sig[:])
	if err != nil || n != SignatureSize {
		return p, fmt.Errorf("%w: not a compressed point of the G2 subgroup", ErrInvalidSignature)
	}
	return p, nil
}

// Sign is the draft's Sign (section 3.3: CoreSign, section 2.6) in the
// proof-of-possession ciphersuite: Q = hash_to_point(msg) with SignatureDST
// (RFC 9380 BLS12381G2_XMD:SHA-256_SSWU_RO_), R = SK·Q. It is the consensus
// specification's bls.Sign. An unusable key (nil, zero value or wiped) gives
// ErrWiped; a zero scalar cannot be signed with.
func Sign(sk *SecretKey, msg []byte) (Signature, error) {
	return coreSign(sk, msg, SignatureDST)
}

// PopProve is the draft's PopProve (section 3.3.2): R = SK·Q with
// Q = hash_pubkey_to_point(PK), the hash of the 48-byte public key under
// PopDST.
func PopProve(sk *SecretKey) (Signature, error) {
	pk, err := sk.PublicKey()
	if err != nil {
		return Signature{}, err
	}
	return coreSign(sk, pk[:], PopDST)
}

func coreSign(sk *SecretKey, msg []byte, dst string) (Signature, error) {
	if !sk.valid() {
		return Signature{}, ErrWiped
	}
	q, err := bls12381.HashToG2(msg, []byte(dst))
	if err != nil {
		return Signature{}, fmt.Errorf("%w: hash to G2", errInternal)
	}
	s := sk.scalar()
	defer wipeBig(s)
	var r bls12381.G2Affine
	r.ScalarMultiplication(&q, s)
	return Signature(r.Bytes()), nil
}

// Verify is the draft's Verify (section 3.3: CoreVerify, section 2.7)
// in the proof-of-possession ciphersuite, the consensus specification's
// bls.Verify. It returns false for a signature that does not decode or is
// not in the G2 subgroup, a public key that fails KeyValidate (including the
// identity), and a pairing mismatch. It never panics.
func Verify(pk PublicKey, msg []byte, sig Signature) bool {
	return coreVerify(&pk, msg, &sig, SignatureDST)
}

// PopVerify is the draft's PopVerify (section 3.3.3): proof must be SK·Q
// for Q = hash_pubkey_to_point(PK) under PopDST, with the same checks as
// Verify.
func PopVerify(pk PublicKey, proof Signature) bool {
	return coreVerify(&pk, pk[:], &proof, PopDST)
}

func coreVerify(pk *PublicKey, msg []byte, sig *Signature, dst string) bool {
	// R = signature_to_point(signature), then signature_subgroup_check(R).
	r, err := sig.point()
	if err != nil {
		return false
	}
	// KeyValidate(PK), then xP = pubkey_to_point(PK).
	xP, err := pk.point()
	if err != nil {
		return false
	}
	// Q = hash_to_point(message)
	q, err := bls12381.HashToG2(msg, []byte(dst))
	if err != nil {
		return false
	}
	// C1 = e(xP, Q), C2 = e(P1, R), C1 == C2; computed as one
	// multi-pairing e(xP, Q)·e(-P1, R) == 1, which shares the final
	// exponentiation.
	ok, err := bls12381.PairingCheck([]bls12381.G1Affine{xP, g1Neg}, []bls12381.G2Affine{q, r})
	return err == nil && ok
}
