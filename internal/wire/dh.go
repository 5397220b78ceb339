package wire

import (
	"crypto/ecdh"
	"crypto/rand"
	"crypto/subtle"
	"errors"
	"io"

	"github.com/flynn/noise"
)

// dhKey is one of the two private keys a handshake uses (the static key and
// the ephemeral key), kept as a parsed crypto/ecdh key.
type dhKey struct{ priv *ecdh.PrivateKey }

// x25519 is a noise.DHFunc on crypto/ecdh.
//
// Why not noise.DH25519: it hands raw private-key bytes to
// curve25519.X25519, which builds an ecdh.PrivateKey and so computes the
// public key on every DH: two scalar multiplications where one suffices.
// flynn/noise only passes private keys to DH as bytes, so each handshake
// gets its own x25519 value that remembers the parsed forms of its static
// key and of the ephemeral key it generated, and looks them up by value
// (constant time). Any other private key falls back to parsing. The output
// is the same X25519 function, so it interoperates with noise.DH25519
// (cacophony vectors and interop tests check this).
type x25519 struct {
	static    *ecdh.PrivateKey
	staticRaw []byte
	eph       *ecdh.PrivateKey
	ephRaw    []byte
}

var _ noise.DHFunc = (*x25519)(nil)

func (d *x25519) GenerateKeypair(r io.Reader) (noise.DHKey, error) {
	if r == nil {
		r = rand.Reader
	}
	var seed [32]byte
	if _, err := io.ReadFull(r, seed[:]); err != nil {
		return noise.DHKey{}, err
	}
	k, err := ecdh.X25519().NewPrivateKey(seed[:])
	clear(seed[:])
	if err != nil {
		return noise.DHKey{}, err
	}
	d.eph, d.ephRaw = k, k.Bytes()
	return noise.DHKey{Private: d.ephRaw, Public: k.PublicKey().Bytes()}, nil
}

var errLowOrder = errors.New("wire: X25519 produced the all-zero value")

func (d *x25519) DH(privkey, pubkey []byte) ([]byte, error) {
	var k *ecdh.PrivateKey
	switch {
	case d.static != nil && subtle.ConstantTimeCompare(privkey, d.staticRaw) == 1:
		k = d.static
	case d.eph != nil && subtle.ConstantTimeCompare(privkey, d.ephRaw) == 1:
		k = d.eph
	default:
		var err error
		if k, err = ecdh.X25519().NewPrivateKey(privkey); err != nil {
			return nil, err
		}
	}
	pub, err := ecdh.X25519().NewPublicKey(pubkey)
	if err != nil {
		return nil, err
	}
	out, err := k.ECDH(pub)
	if err != nil {
		// crypto/ecdh refuses low-order points; say so without detail.
		return nil, errLowOrder
	}
	return out, nil
}

func (*x25519) DHLen() int     { return 32 }
func (*x25519) DHName() string { return "25519" }

// cipherSuite returns the Secretd suite (25519, AESGCM, SHA256) around a
// fresh x25519 that knows the static key s (which may be zero).
func cipherSuite(s dhKey) (noise.CipherSuite, *x25519) {
	d := &x25519{}
	if s.priv != nil {
		d.static, d.staticRaw = s.priv, s.priv.Bytes()
	}
	return noise.NewCipherSuite(d, noise.CipherAESGCM, noise.HashSHA256), d
}
