// Package bls holds Ethereum validator keys inside the enclave: EIP-2333 key
// derivation, EIP-2334 paths, and BLS12-381 signatures as the Ethereum
// consensus specification uses them.
//
// Specifications implemented, with the sections cited at each function:
//
//   - ERC-2333, BLS12-381 Key Generation
//     (https://eips.ethereum.org/EIPS/eip-2333): derive_master_SK,
//     derive_child_SK, parent_SK_to_lamport_PK, IKM_to_lamport_SK and
//     HKDF_mod_r. These are glue over HKDF-SHA256 (RFC 5869, crypto/hkdf) and
//     SHA-256, written here.
//   - ERC-2334, BLS12-381 Deterministic Account Hierarchy
//     (https://eips.ethereum.org/EIPS/eip-2334): paths m/12381/3600/i/0 (the
//     withdrawal key) and m/12381/3600/i/0/0 (the signing key).
//   - draft-irtf-cfrg-bls-signature-05, BLS Signatures
//     (https://datatracker.ietf.org/doc/draft-irtf-cfrg-bls-signature/), the
//     proof-of-possession scheme with the minimal-pubkey-size variant: public
//     keys are 48-byte compressed G1 points, signatures 96-byte compressed G2
//     points, ciphersuite BLS_SIG_BLS12381G2_XMD:SHA-256_SSWU_RO_POP_. This
//     is the scheme of the consensus specification's bls.Sign / bls.Verify
//     (phase0/beacon-chain.md, "BLS signatures").
//
// Curve arithmetic, hash-to-curve (RFC 9380), point encoding and pairings
// come from gnark-crypto's ecc/bls12-381; this package writes none of them.
// It imports nothing else outside the standard library.
//
// A SecretKey keeps its scalar in a fixed array and has Wipe. Wiping is best
// effort: gnark-crypto's scalar multiplication takes a *big.Int and makes
// internal copies (GLV/GLS decomposition) that this package cannot clear, and
// crypto/hkdf keeps HMAC state of its own. Error strings never contain key
// material. Note also that gnark-crypto's scalar multiplication is not
// constant time (blst's is, but needs cgo).
//
// Ethereum deposits: the deposit "signature" that proves possession of a
// validator key is an ordinary Sign over the signing root of the
// DepositMessage (domain DOMAIN_DEPOSIT), not PopProve. PopProve and
// PopVerify implement the IETF draft's proof of possession (its own DST) for
// callers that need that construction.
package bls
