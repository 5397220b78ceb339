package hd

import (
	"crypto/ecdh"
	"crypto/ed25519"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// publicKey writes the public key of the private key k on curve c in the
// 33-byte form SLIP-10 hashes for fingerprints: SEC1 compressed for
// secp256k1 and nist256p1, 0x00‖A (the 32-byte RFC 8032 key) for ed25519.
//
// Note on timing: decred's PubKey uses ScalarBaseMultNonConst, i.e. the
// secp256k1 base multiplication is not constant time. It is the library the
// design names and what btcd and go-ethereum's pure-Go path use; the
// P-256 (crypto/ecdh) and ed25519 paths are constant time.
func publicKey(c Curve, k *[32]byte, out *[33]byte) error {
	switch c {
	case Secp256k1:
		priv := secp256k1.PrivKeyFromBytes(k[:])
		copy(out[:], priv.PubKey().SerializeCompressed())
		priv.Zero()
		return nil
	case NIST256p1:
		priv, err := ecdh.P256().NewPrivateKey(k[:])
		if err != nil {
			// Unreachable: derivation only keeps keys in 1..n-1.
			return fmt.Errorf("%w: nist256p1 key out of range", ErrInvalidChild)
		}
		u := priv.PublicKey().Bytes() // 0x04 ‖ X ‖ Y
		out[0] = 0x02 | u[64]&1
		copy(out[1:], u[1:33])
		return nil
	case Ed25519:
		priv := ed25519.NewKeyFromSeed(k[:])
		out[0] = 0x00
		copy(out[1:], priv[ed25519.SeedSize:])
		clear(priv)
		return nil
	}
	return fmt.Errorf("%w: %v", ErrUnsupportedCurve, c)
}
