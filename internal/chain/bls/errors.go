package bls

import "errors"

// Sentinel errors. Callers match them with errors.Is; any wrapped detail
// (fmt.Errorf("%w: …")) names positions, lengths and limits, never key
// material.
var (
	// ErrInvalidSeed: a seed shorter than MinSeedLen or longer than MaxSeedLen.
	ErrInvalidSeed = errors.New("bls: invalid seed")
	// ErrInvalidPath: an EIP-2334 path that does not parse, is too short or
	// too deep, or is not under m/12381/3600.
	ErrInvalidPath = errors.New("bls: invalid derivation path")
	// ErrInvalidSecretKey: a secret key that is zero or not below the group
	// order r.
	ErrInvalidSecretKey = errors.New("bls: invalid secret key")
	// ErrInvalidPublicKey: bytes that fail KeyValidate (bad encoding, not on
	// the curve, not in the G1 subgroup, or the identity).
	ErrInvalidPublicKey = errors.New("bls: invalid public key")
	// ErrInvalidSignature: bytes that are not a compressed point of the G2
	// subgroup.
	ErrInvalidSignature = errors.New("bls: invalid signature")
	// ErrWiped: a SecretKey used after Wipe, its zero value, or nil.
	ErrWiped = errors.New("bls: secret key was wiped or never set")
	// errInternal: a failure of a primitive that cannot fail for the inputs
	// this package gives it (HKDF lengths, hash-to-curve DST length).
	errInternal = errors.New("bls: internal error")
)
