package hd

import (
	"crypto/pbkdf2"
	"crypto/sha512"
	"fmt"

	"golang.org/x/text/unicode/norm"
)

// Seed lengths allowed by BIP32 ("between 128 and 512 bits").
const (
	minSeedLen = 16
	maxSeedLen = 64
)

// bip39Iterations and bip39SeedLen are fixed by BIP39.
const (
	bip39Iterations = 2048
	bip39SeedLen    = 64
)

// Seed is a BIP32/SLIP-10 seed of 16 to 64 bytes (secret).
type Seed struct {
	b [maxSeedLen]byte
	n uint8 // bytes in use; 0 after Wipe
}

// NewSeed copies b into a new Seed; b must be 16 to 64 bytes long.
func NewSeed(b []byte) (*Seed, error) {
	if len(b) < minSeedLen || len(b) > maxSeedLen {
		return nil, fmt.Errorf("%w: %d bytes, BIP32 allows %d to %d", ErrInvalidSeed, len(b), minSeedLen, maxSeedLen)
	}
	s := &Seed{n: uint8(len(b))}
	copy(s.b[:], b)
	return s, nil
}

// bytes returns the seed bytes in use (aliasing s; do not keep).
func (s *Seed) bytes() []byte { return s.b[:s.n] }

// Use calls f with the seed bytes, for derivation schemes outside this
// package (EIP-2333 for BLS keys). f must not keep or copy the slice.
func (s *Seed) Use(f func(seed []byte) error) error {
	if s == nil || s.n < minSeedLen {
		return fmt.Errorf("%w: nil or wiped", ErrInvalidSeed)
	}
	return f(s.bytes())
}

// Wipe zeroes the seed. The Seed is unusable afterwards.
func (s *Seed) Wipe() {
	if s == nil {
		return
	}
	clear(s.b[:])
	s.n = 0
}

// bip39Seed computes the BIP39 seed of a phrase in any language: both the
// phrase and the passphrase are NFKD normalised, as BIP39 specifies. For the
// English phrases this package makes, NFKD changes nothing; the passphrase
// may be any Unicode text, and the same text typed on two keyboards (NFC on
// one, NFD on another) must give the same wallet.
//
// It returns nil only if PBKDF2 refuses to run, which happens when the
// process enforces FIPS 140-only mode (BIP39's salt can be shorter than
// that mode allows); the enclave does not run in that mode.
func bip39Seed(phrase, passphrase string) *Seed {
	salt := []byte("mnemonic" + norm.NFKD.String(passphrase))
	defer clear(salt)
	key, err := pbkdf2.Key(sha512.New, norm.NFKD.String(phrase), salt, bip39Iterations, bip39SeedLen)
	if err != nil {
		return nil
	}
	s := &Seed{n: bip39SeedLen}
	copy(s.b[:], key)
	clear(key)
	return s
}
