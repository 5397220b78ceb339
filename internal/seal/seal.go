// Package seal holds the enclave's key hierarchy and its sealed-object
// format.
//
// A cluster has one 256-bit master key, made inside an enclave. Every other
// cluster key is derived from it with HKDF-SHA256 (RFC 5869) under a fixed
// label, so that replicas and a recovered enclave agree on all of them
// without storing any: the cluster identity (the Noise static key clients
// pin) and one sealing key per object kind.
//
// A sealed object is XChaCha20-Poly1305 with a random 192-bit nonce, and
// associated data binding it to its kind, id and version. The runner stores
// blobs it cannot read, and a blob moved to another id, another kind or
// another version fails to open: swapping, replaying or truncating another
// user's blob fails closed (DESIGN.md invariant 4).
package seal

import (
	"crypto/ed25519"
	"crypto/hkdf"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"golang.org/x/crypto/chacha20poly1305"
)

// Labels of the derived keys. Changing one changes the cluster.
const (
	labelIdentity   = "niomon/secretd/v1/cluster-identity"
	labelReceiptKey = "niomon/secretd/v1/receipt-key"
	labelImportRoot = "niomon/secretd/v1/import-root"
	labelWitness    = "niomon/secretd/v2/witness-key"
	labelSealing    = "niomon/secretd/v1/seal/"
	hkdfSalt        = "niomon/secretd/v1/master"
)

// MasterKey is the cluster master key. It exists in plaintext only in
// enclave memory.
type MasterKey struct{ b [32]byte }

// GenerateMasterKey returns a new random master key.
func GenerateMasterKey() (*MasterKey, error) {
	k := new(MasterKey)
	if _, err := rand.Read(k.b[:]); err != nil {
		return nil, err
	}
	return k, nil
}

// MasterKeyFromBytes copies a 32-byte master key (as unsealed by a Sealer).
func MasterKeyFromBytes(b []byte) (*MasterKey, error) {
	if len(b) != 32 {
		return nil, errors.New("seal: master key must be 32 bytes")
	}
	k := new(MasterKey)
	copy(k.b[:], b)
	return k, nil
}

// Bytes returns a copy of the key for a Sealer to encrypt. The caller wipes it.
func (k *MasterKey) Bytes() []byte { return append([]byte(nil), k.b[:]...) }

// Wipe zeroes the key.
func (k *MasterKey) Wipe() { clear(k.b[:]) }

func (k *MasterKey) derive(label string) ([32]byte, error) {
	var out [32]byte
	b, err := hkdf.Key(sha256.New, k.b[:], []byte(hkdfSalt), label, len(out))
	if err != nil {
		return out, err
	}
	copy(out[:], b)
	clear(b)
	return out, nil
}

// IdentityScalar derives the X25519 private scalar of the cluster identity.
// The caller wipes it after building the key.
func (k *MasterKey) IdentityScalar() ([32]byte, error) { return k.derive(labelIdentity) }

// ReceiptKey derives the cluster's Ed25519 receipt key, which signs policy
// receipts, import keys and audit events.
func (k *MasterKey) ReceiptKey() (ed25519.PrivateKey, error) {
	seed, err := k.derive(labelReceiptKey)
	if err != nil {
		return nil, err
	}
	defer clear(seed[:])
	return ed25519.NewKeyFromSeed(seed[:]), nil
}

// WitnessKey derives the cluster's Ed25519 key toward its freshness
// witnesses: every enclave of the cluster signs its witness requests with
// it, and a witness moves the cluster's heads only when it asks.
func (k *MasterKey) WitnessKey() (ed25519.PrivateKey, error) {
	seed, err := k.derive(labelWitness)
	if err != nil {
		return nil, err
	}
	defer clear(seed[:])
	return ed25519.NewKeyFromSeed(seed[:]), nil
}

// ImportRoot derives the secret from which each request's HPKE import key
// pair is derived (RFC 9180 DeriveKeyPair), so that any replica can open
// an import encrypted to a key another replica handed out.
func (k *MasterKey) ImportRoot() (*ImportRoot, error) {
	b, err := k.derive(labelImportRoot)
	if err != nil {
		return nil, err
	}
	return &ImportRoot{b: b}, nil
}

// ImportRoot is the import-key secret.
type ImportRoot struct{ b [32]byte }

// Wipe zeroes the root.
func (r *ImportRoot) Wipe() { clear(r.b[:]) }

// KeyMaterial returns the input keying material of the import key named
// id: HKDF-SHA256(root, info = id). The caller wipes it.
func (r *ImportRoot) KeyMaterial(id []byte) ([]byte, error) {
	return hkdf.Key(sha256.New, r.b[:], nil, "niomon/secretd/v1/import-key/"+string(id), 32)
}

// SealingKey derives the sealing key for one object kind.
func (k *MasterKey) SealingKey(kind string) (*Key, error) {
	if !validKind(kind) {
		return nil, fmt.Errorf("seal: bad object kind %q", kind)
	}
	raw, err := k.derive(labelSealing + kind)
	if err != nil {
		return nil, err
	}
	defer clear(raw[:])
	return NewKey(&raw, kind)
}

// Key seals and opens objects of one kind. It keeps the raw key, not an
// AEAD built from it, so that Wipe can zero it: the AEAD (a struct that
// copies the key) is built per call, which costs a copy of 32 bytes.
type Key struct {
	kind string
	raw  [32]byte
}

// NewKey builds a sealing key for one kind from 32 bytes of key material.
func NewKey(raw *[32]byte, kind string) (*Key, error) {
	return &Key{kind: kind, raw: *raw}, nil
}

// Wipe zeroes the key; it opens nothing afterwards.
func (k *Key) Wipe() { clear(k.raw[:]) }

func (k *Key) aead() (interface {
	Seal(dst, nonce, plaintext, ad []byte) []byte
	Open(dst, nonce, ciphertext, ad []byte) ([]byte, error)
}, error) {
	return chacha20poly1305.NewX(k.raw[:])
}

// Format of a sealed blob: 1 version byte, 24-byte nonce, ciphertext+tag.
const (
	blobVersion = 1
	nonceLen    = chacha20poly1305.NonceSizeX
	overhead    = 1 + nonceLen + chacha20poly1305.Overhead
)

// ErrOpen is the one error for a blob that does not open: wrong key, wrong
// binding, or tampering. It carries no detail on purpose.
var ErrOpen = errors.New("seal: sealed object does not open")

// Seal encrypts plaintext bound to (kind, id, version).
func (k *Key) Seal(id string, version uint64, plaintext []byte) ([]byte, error) {
	ad, err := associatedData(k.kind, id, version)
	if err != nil {
		return nil, err
	}
	a, err := k.aead()
	if err != nil {
		return nil, err
	}
	out := make([]byte, 1+nonceLen, overhead+len(plaintext))
	out[0] = blobVersion
	if _, err := rand.Read(out[1:]); err != nil {
		return nil, err
	}
	return a.Seal(out, out[1:1+nonceLen], plaintext, ad), nil
}

// Open decrypts a blob that must be bound to (kind, id, version).
func (k *Key) Open(id string, version uint64, blob []byte) ([]byte, error) {
	if len(blob) < overhead || blob[0] != blobVersion {
		return nil, ErrOpen
	}
	ad, err := associatedData(k.kind, id, version)
	if err != nil {
		return nil, ErrOpen
	}
	a, err := k.aead()
	if err != nil {
		return nil, ErrOpen
	}
	pt, err := a.Open(nil, blob[1:1+nonceLen], blob[1+nonceLen:], ad)
	if err != nil {
		return nil, ErrOpen
	}
	return pt, nil
}

// associatedData is the canonical CBOR array [domain, kind, id, version]:
// unambiguous for any id, unlike a plain concatenation.
func associatedData(kind, id string, version uint64) ([]byte, error) {
	return adMode.Marshal([]any{"niomon/secretd/v1/sealed", kind, id, version})
}

var adMode, _ = cbor.CoreDetEncOptions().EncMode()

func validKind(kind string) bool {
	if len(kind) == 0 || len(kind) > 32 {
		return false
	}
	for _, c := range kind {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}
