package btc

import "errors"

// Sentinel errors. Callers match them with errors.Is; the wrapped detail is a
// fixed phrase, never key material.
var (
	// ErrInvalidKey: a nil or zero private key, or a public key not on the curve.
	ErrInvalidKey = errors.New("btc: invalid key")
	// ErrInvalidNetwork: the zero Network or an unknown human-readable part.
	ErrInvalidNetwork = errors.New("btc: unknown network")
	// ErrInvalidAddress: a string that is not a valid segwit address (BIP173,
	// BIP350) of a known network.
	ErrInvalidAddress = errors.New("btc: invalid address")
	// ErrInvalidSighashType: a sighash type byte the signature kind does not
	// allow.
	ErrInvalidSighashType = errors.New("btc: invalid sighash type")
	// ErrInvalidTweak: the BIP341 tweak is not below the group order, or the
	// tweaked key is zero or infinity. The odds are about 2^-128; BIP341 says
	// to fail.
	ErrInvalidTweak = errors.New("btc: taproot tweak out of range")
	// ErrSigningFailed: the signing library failed (a zero nonce or an
	// out-of-range challenge hash, odds about 2^-128).
	ErrSigningFailed = errors.New("btc: signing failed")
)
