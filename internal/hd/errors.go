package hd

import "errors"

// Sentinel errors. Callers match them with errors.Is; the wrapped detail
// (added with fmt.Errorf("%w: …")) names positions and counts, never secrets.
//
// The ParseMnemonic details are worded so that they contain no word of the
// BIP39 English list: an error string can then never be mistaken for, or
// leak, part of a phrase (a test checks this).
var (
	// ErrInvalidWords: a mnemonic length other than 12, 15, 18, 21 or 24 words.
	ErrInvalidWords = errors.New("hd: invalid mnemonic word count")
	// ErrInvalidMnemonic: a phrase that is not a valid English BIP39 mnemonic.
	ErrInvalidMnemonic = errors.New("hd: invalid mnemonic")
	// ErrInvalidEntropy: BIP39 entropy that is not 16, 20, 24, 28 or 32 bytes.
	ErrInvalidEntropy = errors.New("hd: invalid entropy length")
	// ErrInvalidSeed: a seed outside 16..64 bytes, nil, or wiped.
	ErrInvalidSeed = errors.New("hd: invalid seed")
	// ErrInvalidPath: a derivation path that does not parse or is too deep.
	ErrInvalidPath = errors.New("hd: invalid derivation path")
	// ErrInvalidChild: BIP32's rare invalid child (parse256(IL) >= n or a
	// zero key). BIP32 says to skip to the next index; the caller decides.
	ErrInvalidChild = errors.New("hd: invalid child key, use the next index")
	// ErrHardenedOnly: a non-hardened index on a curve that allows only
	// hardened derivation (ed25519, per SLIP-10).
	ErrHardenedOnly = errors.New("hd: curve supports hardened derivation only")
	// ErrUnsupportedCurve: an unknown curve, or an operation the curve lacks
	// (for example an xpub for ed25519).
	ErrUnsupportedCurve = errors.New("hd: unsupported curve")
	// ErrWiped: a Node used after Wipe, or its zero value.
	ErrWiped = errors.New("hd: key was wiped or never set")
)
