package btc

import (
	"crypto/rand"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

// SighashType is the byte that follows a signature in a witness and names
// which parts of the transaction the digest covers. The digest passed to the
// Sign functions must have been computed with the same type.
type SighashType byte

// Sighash types (BIP143 for ECDSA, BIP341 "Common signature message" for
// Schnorr).
const (
	// SighashDefault is BIP341's 0x00: like ALL, but the byte is omitted and
	// the signature stays 64 bytes. Schnorr only.
	SighashDefault      SighashType = 0x00
	SighashAll          SighashType = 0x01
	SighashNone         SighashType = 0x02
	SighashSingle       SighashType = 0x03
	SighashAnyoneCanPay SighashType = 0x80
)

// validBase reports whether t is ALL, NONE or SINGLE, with or without
// ANYONECANPAY: the types both ECDSA (standardness, SCRIPT_VERIFY_STRICTENC)
// and BIP341 (consensus) accept.
func (t SighashType) validBase() bool {
	b := t &^ SighashAnyoneCanPay
	return b >= SighashAll && b <= SighashSingle
}

// DERSignature is an ECDSA signature in strict DER (BIP66) with low S
// (BIP146 LOW_S), without the sighash byte.
type DERSignature []byte

// SignECDSA signs a 32-byte sighash digest (BIP143 for witness version 0)
// with ECDSA: RFC 6979 deterministic nonce, S normalised to the lower half
// of the order, strict DER. Identical inputs give identical signatures.
func SignECDSA(priv *btcec.PrivateKey, digest [32]byte) (DERSignature, error) {
	if !validPrivateKey(priv) {
		return nil, ErrInvalidKey
	}
	return ecdsa.Sign(priv, digest[:]).Serialize(), nil
}

// WithSighash returns the witness element: the DER signature followed by
// the sighash byte. t must be ALL, NONE or SINGLE, optionally with
// ANYONECANPAY (SighashDefault is taproot-only).
func (s DERSignature) WithSighash(t SighashType) ([]byte, error) {
	if !t.validBase() {
		return nil, ErrInvalidSighashType
	}
	return append(append(make([]byte, 0, len(s)+1), s...), byte(t)), nil
}

// VerifyECDSA reports whether sig is a valid strict-DER, low-S signature of
// digest by pub. High-S signatures are rejected because Bitcoin's
// standardness rules reject them (BIP146).
func VerifyECDSA(pub *btcec.PublicKey, digest [32]byte, sig DERSignature) bool {
	if !validPublicKey(pub) {
		return false
	}
	parsed, err := ecdsa.ParseDERSignature(sig)
	if err != nil {
		return false
	}
	s := parsed.S()
	if s.IsOverHalfOrder() {
		return false
	}
	return parsed.Verify(digest[:], pub)
}

// SchnorrSignature is a BIP340 signature: bytes(R) ‖ bytes(s), 64 bytes.
type SchnorrSignature [64]byte

// WithSighash returns the witness element (BIP341 "Taproot key path
// spending signature validation"): the 64-byte signature alone for
// SighashDefault, else the signature and the sighash byte (65 bytes).
func (s SchnorrSignature) WithSighash(t SighashType) ([]byte, error) {
	if t == SighashDefault {
		return append([]byte(nil), s[:]...), nil
	}
	if !t.validBase() {
		return nil, ErrInvalidSighashType
	}
	return append(append(make([]byte, 0, 65), s[:]...), byte(t)), nil
}

// SignSchnorr makes a BIP340 signature of digest with priv, untweaked:
// it verifies under XOnly(priv.PubKey()). Use SignTaprootKeyPath to spend
// a P2TR output.
//
// aux is BIP340's auxiliary random data a. nil means 32 fresh bytes from
// crypto/rand, which BIP340 recommends ("Default Signing", footnote on
// synthetic nonces) because it protects against fault and side-channel
// attacks on the deterministic nonce; pass a value only to reproduce a
// signature (test vectors).
func SignSchnorr(priv *btcec.PrivateKey, digest [32]byte, aux *[32]byte) (SchnorrSignature, error) {
	if !validPrivateKey(priv) {
		return SchnorrSignature{}, ErrInvalidKey
	}
	return signBIP340(priv, &digest, aux)
}

// SignTaprootKeyPath makes the BIP340 signature that spends a P2TR output by
// its key path (BIP341): it signs digest (the BIP341 signature message hash)
// with the tweaked key of taproot_tweak_seckey, so that it verifies under
// TaprootOutputKey(priv.PubKey(), merkleRoot). merkleRoot is nil for a
// key-path-only output (BIP86). aux is as for SignSchnorr.
func SignTaprootKeyPath(priv *btcec.PrivateKey, merkleRoot *[32]byte, digest [32]byte, aux *[32]byte) (SchnorrSignature, error) {
	if !validPrivateKey(priv) {
		return SchnorrSignature{}, ErrInvalidKey
	}
	tweaked, err := tweakPrivateKey(priv, merkleRoot)
	if err != nil {
		return SchnorrSignature{}, err
	}
	defer tweaked.Zero()
	return signBIP340(tweaked, &digest, aux)
}

// signBIP340 signs with btcec's BIP340 implementation.
//
// CustomNonce(a) selects BIP340's own nonce derivation (steps 6–8 of
// "Default Signing": t = d xor hash_aux(a), k = hash_nonce(t ‖ P ‖ m));
// without it btcec uses an RFC 6979 nonce instead, whose signatures differ
// from every other BIP340 signer's for the same a.
//
// FastSign skips btcec's verification of the fresh signature (BIP340
// "Default Signing" step 14), which BIP340 recommends against computation
// faults but allows to omit when the cost matters: here the verification
// would almost triple the time per signature (compare BenchmarkSignSchnorr
// with BenchmarkBtcecSchnorrSignVerified). The risk it guards against is a
// faulty signature under a nonce that is reused for a correct one; with fresh
// aux randomness (aux == nil, the enclave's case) no nonce repeats across
// calls. Callers that pass a fixed aux get deterministic nonces and should
// verify the result themselves if faults are a concern.
func signBIP340(priv *btcec.PrivateKey, digest *[32]byte, aux *[32]byte) (SchnorrSignature, error) {
	var a [32]byte
	if aux != nil {
		a = *aux
	} else {
		rand.Read(a[:]) // never fails (crypto/rand, Go ≥ 1.24)
	}
	sig, err := schnorr.Sign(priv, digest[:], schnorr.CustomNonce(a), schnorr.FastSign())
	if err != nil {
		return SchnorrSignature{}, ErrSigningFailed
	}
	return SchnorrSignature(sig.Serialize()), nil
}

// VerifySchnorr reports whether sig is a valid BIP340 signature of the 32-byte
// message digest under pub. It is false for a pub that is not an x
// coordinate on the curve, and for r ≥ p or s ≥ n.
func VerifySchnorr(pub XOnlyPublicKey, digest [32]byte, sig SchnorrSignature) bool {
	pk, err := schnorr.ParsePubKey(pub[:])
	if err != nil {
		return false
	}
	s, err := schnorr.ParseSignature(sig[:])
	if err != nil {
		return false
	}
	return s.Verify(digest[:], pk)
}

func validPrivateKey(priv *btcec.PrivateKey) bool {
	return priv != nil && !priv.Key.IsZero()
}
