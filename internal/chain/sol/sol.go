// Package sol derives Solana addresses and makes Solana signatures inside
// the enclave.
//
//   - Address: the 32-byte ed25519 public key (RFC 8032) in base58 with the
//     Bitcoin alphabet, as Solana's Pubkey prints it.
//   - Signature: ed25519 (RFC 8032, pure Ed25519) over the message bytes. A
//     Solana transaction's signature covers its serialized message, so the
//     caller passes those bytes unchanged.
//   - Accounts: m/44'/501'/i'/0' (the path Phantom, Solflare, Trezor and the
//     Solana CLI use), derived with SLIP-10 ed25519 by package hd.
//
// ed25519 comes from the standard library and base58 from btcutil; what is
// here is the glue. The package is part of the enclave's trusted computing
// base; keep its imports to the standard library, base58 and hd.
package sol

import (
	"crypto/ed25519"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/niomon/niomon/internal/hd"
)

// Sentinel errors. Callers match them with errors.Is; the wrapped detail is a
// fixed phrase, never key material.
var (
	// ErrInvalidKey: a private or public key of the wrong length.
	ErrInvalidKey = errors.New("sol: invalid key")
	// ErrInvalidAddress: a string that is not the base58 form of 32 bytes.
	ErrInvalidAddress = errors.New("sol: invalid address")
	// ErrInvalidAccount: an account index of 2^31 or more (it must fit a
	// hardened BIP32 index).
	ErrInvalidAccount = errors.New("sol: invalid account index")
)

// MaxAddressLen is the longest base58 form of 32 bytes
// (ceil(256 / log2(58)) = 44 characters). ParseAddress rejects longer input
// before decoding, whose cost grows with the square of the length.
const MaxAddressLen = 44

// Address is a Solana account address: 32 bytes, usually an ed25519 public
// key. Program-derived addresses are deliberately not on the curve, so an
// Address need not be a valid public key.
type Address [32]byte

// AddressFromPublicKey returns the address of an ed25519 public key.
func AddressFromPublicKey(pub ed25519.PublicKey) (Address, error) {
	if len(pub) != ed25519.PublicKeySize {
		return Address{}, ErrInvalidKey
	}
	return Address(pub), nil
}

// ParseAddress parses the base58 form of an address. Exactly one string
// spells each address: the input must be what String returns (so no
// surplus leading '1's, which would stand for extra zero bytes). It does not
// check that the bytes are a point on the curve (see Address).
func ParseAddress(s string) (Address, error) {
	if len(s) == 0 || len(s) > MaxAddressLen {
		return Address{}, fmt.Errorf("%w: not 1 to %d characters", ErrInvalidAddress, MaxAddressLen)
	}
	b := base58.Decode(s) // empty on a character outside the alphabet
	if len(b) != len(Address{}) {
		return Address{}, fmt.Errorf("%w: not base58 of 32 bytes", ErrInvalidAddress)
	}
	a := Address(b)
	if a.String() != s {
		return Address{}, fmt.Errorf("%w: not in canonical form", ErrInvalidAddress)
	}
	return a, nil
}

// String returns the base58 form of the address.
func (a Address) String() string { return base58.Encode(a[:]) }

// PublicKey returns the address as an ed25519 public key.
func (a Address) PublicKey() ed25519.PublicKey { return append(ed25519.PublicKey(nil), a[:]...) }

// Signature is an RFC 8032 Ed25519 signature, R ‖ S, 64 bytes.
type Signature [64]byte

// String returns the base58 form of the signature (a Solana transaction id is
// the base58 of its first signature).
func (s Signature) String() string { return base58.Encode(s[:]) }

// Sign signs message with priv (pure Ed25519, RFC 8032 §5.1.6). For a
// transaction, message is the serialized message that the transaction's
// signatures cover.
//
// priv must come from a trusted source (hd.Node.Ed25519PrivateKey): Go's
// ed25519.PrivateKey carries its public key, which Sign hashes without
// recomputing it, and signing with a wrong public key half can leak the
// secret. Recomputing it would double the cost of every signature.
func Sign(priv ed25519.PrivateKey, message []byte) (Signature, error) {
	if len(priv) != ed25519.PrivateKeySize {
		return Signature{}, ErrInvalidKey
	}
	return Signature(ed25519.Sign(priv, message)), nil
}

// Verify reports whether sig is a valid signature of message by pub
// (crypto/ed25519: RFC 8032 with cofactorless verification, s < ℓ checked).
func Verify(pub ed25519.PublicKey, message []byte, sig Signature) bool {
	if len(pub) != ed25519.PublicKeySize {
		return false
	}
	return ed25519.Verify(pub, message, sig[:])
}

// AccountPath returns m/44'/501'/account'/0', the derivation path of Solana
// account number account (BIP44 purpose 44', SLIP-44 coin type 501',
// all hardened as SLIP-10 ed25519 requires).
func AccountPath(account uint32) (hd.Path, error) {
	if account >= hd.Hardened {
		return nil, ErrInvalidAccount
	}
	return hd.Path{44 | hd.Hardened, 501 | hd.Hardened, account | hd.Hardened, 0 | hd.Hardened}, nil
}
