package wire

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"
)

// ErrBadKey reports a key that is not a 32-byte X25519 key in standard base64.
// It never includes the rejected text, which may be a private key.
var ErrBadKey = errors.New("wire: key must be 32 bytes in standard base64")

// PublicKey is an X25519 public key: a Noise static key. The cluster identity
// and every static_key client are named by one.
type PublicKey [32]byte

// ParsePublicKey decodes a base64 (standard alphabet, padded) public key.
func ParsePublicKey(s string) (PublicKey, error) {
	var p PublicKey
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != len(p) {
		return p, ErrBadKey
	}
	copy(p[:], b)
	return p, nil
}

// String returns the key in standard base64, the form the published client
// and the operator configuration use.
func (p PublicKey) String() string { return base64.StdEncoding.EncodeToString(p[:]) }

// Bytes returns the key as a slice.
func (p PublicKey) Bytes() []byte { return p[:] }

// Equal compares in constant time.
func (p PublicKey) Equal(o PublicKey) bool { return subtle.ConstantTimeCompare(p[:], o[:]) == 1 }

// IsZero reports whether p is the all-zero key.
func (p PublicKey) IsZero() bool { return p == PublicKey{} }

// PrivateKey is an X25519 static private key. It keeps the parsed
// crypto/ecdh key so that a Diffie-Hellman costs one scalar multiplication:
// rebuilding an ecdh.PrivateKey from bytes recomputes its public key.
type PrivateKey struct {
	k *ecdh.PrivateKey
}

// GeneratePrivateKey returns a new random static key.
func GeneratePrivateKey() (PrivateKey, error) {
	k, err := ecdh.X25519().GenerateKey(rand.Reader)
	if err != nil {
		return PrivateKey{}, err
	}
	return PrivateKey{k: k}, nil
}

// NewPrivateKey wraps a 32-byte X25519 scalar. The caller should wipe its
// copy of the bytes.
func NewPrivateKey(scalar *[32]byte) (PrivateKey, error) {
	k, err := ecdh.X25519().NewPrivateKey(scalar[:])
	if err != nil {
		return PrivateKey{}, ErrBadKey
	}
	return PrivateKey{k: k}, nil
}

// ParsePrivateKey decodes a base64 private key, as found in a key file.
func ParsePrivateKey(s string) (PrivateKey, error) {
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil || len(b) != 32 {
		return PrivateKey{}, ErrBadKey
	}
	var scalar [32]byte
	copy(scalar[:], b)
	clear(b)
	defer clear(scalar[:])
	return NewPrivateKey(&scalar)
}

// IsZero reports whether k holds no key.
func (k PrivateKey) IsZero() bool { return k.k == nil }

// Public returns the matching public key.
func (k PrivateKey) Public() PublicKey {
	var p PublicKey
	copy(p[:], k.k.PublicKey().Bytes())
	return p
}

// MarshalBase64 returns the private key in the key-file form. Only key files
// written with mode 0600 should ever hold its result.
func (k PrivateKey) MarshalBase64() string {
	return base64.StdEncoding.EncodeToString(k.k.Bytes())
}

func (k PrivateKey) dhKey() dhKey { return dhKey{priv: k.k} }
