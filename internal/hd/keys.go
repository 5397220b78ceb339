package hd

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"fmt"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Secp256k1PrivateKey returns the node's key as a decred secp256k1 key, for
// signing. The caller owns the result and should call its Zero method.
func (n *Node) Secp256k1PrivateKey() (*secp256k1.PrivateKey, error) {
	if n == nil || !n.curve.valid() {
		return nil, ErrWiped
	}
	if n.curve != Secp256k1 {
		return nil, fmt.Errorf("%w: node is %v, not secp256k1", ErrUnsupportedCurve, n.curve)
	}
	return secp256k1.PrivKeyFromBytes(n.key[:]), nil
}

// Ed25519PrivateKey returns the node's key as an ed25519 private key (the
// RFC 8032 seed expanded with its public key), for signing. The caller owns
// the result and should clear it.
func (n *Node) Ed25519PrivateKey() (ed25519.PrivateKey, error) {
	if n == nil || !n.curve.valid() {
		return nil, ErrWiped
	}
	if n.curve != Ed25519 {
		return nil, fmt.Errorf("%w: node is %v, not ed25519", ErrUnsupportedCurve, n.curve)
	}
	// An ed25519.PrivateKey is seed ‖ public key. The node computed the
	// public key from the seed when it was derived; rebuilding it with
	// NewKeyFromSeed would cost a second scalar multiplication per use.
	k := make(ed25519.PrivateKey, ed25519.PrivateKeySize)
	copy(k, n.key[:])
	copy(k[ed25519.SeedSize:], n.pub[1:])
	return k, nil
}

// P256PrivateKey returns the node's key as a crypto/ecdsa P-256 key, for
// signing. The caller owns the result.
func (n *Node) P256PrivateKey() (*ecdsa.PrivateKey, error) {
	if n == nil || !n.curve.valid() {
		return nil, ErrWiped
	}
	if n.curve != NIST256p1 {
		return nil, fmt.Errorf("%w: node is %v, not nist256p1", ErrUnsupportedCurve, n.curve)
	}
	return ecdsa.ParseRawPrivateKey(elliptic.P256(), n.key[:])
}
