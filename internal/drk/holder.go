package drk

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/sha256"
	"fmt"
	"strings"

	"filippo.io/age"
)

// A holder approves ceremonies (a genesis, a DRK rotation) with an Ed25519
// key derived from their age identity, so that one secret file is all a
// holder keeps: HKDF-SHA256 (RFC 5869) of the identity string with the
// label below gives the Ed25519 seed (RFC 8032). The key is not the age
// key: an approval signature and a share decryption never share a key.
const holderSigningLabel = "niomon/secretd/v2/holder-signing-key"

// HolderKeys returns the holder's age recipient (what their share is
// encrypted to) and Ed25519 signing key, from their age identity
// ("AGE-SECRET-KEY-1…" or "AGE-SECRET-KEY-PQ-1…"). It runs on the
// holder's machine.
func HolderKeys(identity string) (recipient string, signing ed25519.PrivateKey, err error) {
	identity = strings.TrimSpace(identity)
	id, err := parseAgeIdentity(identity)
	if err != nil {
		return "", nil, err
	}
	switch i := id.(type) {
	case *age.X25519Identity:
		recipient = i.Recipient().String()
	case *age.HybridIdentity:
		recipient = i.Recipient().String()
	default:
		return "", nil, fmt.Errorf("%w: unsupported age identity", ErrMalformed)
	}
	seed, err := hkdf.Key(sha256.New, []byte(identity), nil, holderSigningLabel, ed25519.SeedSize)
	if err != nil {
		return "", nil, err
	}
	defer clear(seed)
	return recipient, ed25519.NewKeyFromSeed(seed), nil
}
