package oidcop

import (
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/niomon/niomon/internal/authdb"
)

// Signing keys. ID tokens are signed with ES256 keys that every server
// sharing the database shares: each is stored sealed (AES-256-GCM under a
// key derived from the server's token key, the key id as additional
// data), so the database alone cannot sign.
//
// Rotation: a new key is made when the newest is older than KeyRotation.
// A new key is published (in the key set, read from the database on every
// request) at once, but signs only once it is keyPublishLead old, so
// relying parties that cached the key set before it existed have
// refetched it by then. A key stays published for KeyRotation after it
// stopped signing, far longer than any token it signed lives.

// Lifetimes of keys.
const (
	KeyRotation    = 30 * 24 * time.Hour
	keyPublishLead = time.Hour
	keyCacheFor    = time.Minute
)

type signingKey struct {
	id   string
	priv *ecdsa.PrivateKey
}

func (k *signingKey) SignatureAlgorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k *signingKey) Key() any                                    { return k.priv }
func (k *signingKey) ID() string                                  { return k.id }

type publicKey struct {
	id  string
	pub *ecdsa.PublicKey
}

func (k publicKey) ID() string                         { return k.id }
func (k publicKey) Algorithm() jose.SignatureAlgorithm { return jose.ES256 }
func (k publicKey) Use() string                        { return "sig" }
func (k publicKey) Key() any                           { return k.pub }

// keyring keeps the signing keys.
type keyring struct {
	db   *authdb.DB
	aead cipher.AEAD
	now  func() time.Time
	log  *slog.Logger

	mu      sync.Mutex
	current *signingKey
	until   time.Time // current is re-read after this
}

func newKeyring(db *authdb.DB, d Digester, now func() time.Time, log *slog.Logger) *keyring {
	k := d.Digest(purposeKeySeal, "aes-256-gcm")
	defer clear(k[:])
	b, err := aes.NewCipher(k[:])
	if err != nil {
		panic(err) // a 32-byte key is always valid
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		panic(err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &keyring{db: db, aead: g, now: now, log: log}
}

func (r *keyring) seal(id string, priv *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, err
	}
	defer clear(der)
	nonce := make([]byte, r.aead.NonceSize(), r.aead.NonceSize()+len(der)+r.aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return r.aead.Seal(nonce, nonce, der, []byte(id)), nil
}

func (r *keyring) open(k authdb.OIDCKey) (*ecdsa.PrivateKey, error) {
	n := r.aead.NonceSize()
	if len(k.Sealed) < n+r.aead.Overhead() {
		return nil, errors.New("a sealed signing key is too short")
	}
	der, err := r.aead.Open(nil, k.Sealed[:n], k.Sealed[n:], []byte(k.ID))
	if err != nil {
		return nil, errors.New("a signing key does not open under this server's token key (another token key, or the row was edited)")
	}
	defer clear(der)
	key, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, errors.New("a sealed signing key is malformed")
	}
	priv, ok := key.(*ecdsa.PrivateKey)
	if !ok || priv.Curve != elliptic.P256() {
		return nil, errors.New("a sealed signing key is not a P-256 key")
	}
	return priv, nil
}

// signing returns the key to sign with, making the first key, or the next
// one when the newest is due for rotation.
func (r *keyring) signing(ctx context.Context) (*signingKey, error) {
	now := r.now()
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil && now.Before(r.until) {
		return r.current, nil
	}
	keys, err := r.db.ListOIDCKeys(ctx)
	if err != nil {
		return nil, err
	}
	if len(keys) == 0 || now.Sub(keys[0].CreatedAt) >= KeyRotation {
		k, err := r.add(ctx, now)
		if err != nil {
			return nil, err
		}
		keys = append([]authdb.OIDCKey{k}, keys...)
		if _, err := r.db.DeleteOIDCKeysBefore(ctx, now.Add(-2*KeyRotation)); err != nil {
			return nil, err
		}
	}
	opened := r.usable(keys)
	if len(opened) == 0 { // none opens (edited rows, or another token key)
		k, err := r.add(ctx, now)
		if err != nil {
			return nil, err
		}
		if opened = r.usable([]authdb.OIDCKey{k}); len(opened) == 0 {
			return nil, errors.New("a new signing key does not open")
		}
	}
	// The newest key published long enough; the newest of all if none is.
	pick := opened[0]
	for _, k := range opened {
		if now.Sub(k.CreatedAt) >= keyPublishLead {
			pick = k
			break
		}
	}
	priv, err := r.open(pick.OIDCKey)
	if err != nil {
		return nil, err
	}
	r.current, r.until = &signingKey{id: pick.ID, priv: priv}, now.Add(keyCacheFor)
	return r.current, nil
}

// openedKey is a stored key that opens under this server's token key.
type openedKey struct {
	authdb.OIDCKey
	pub *ecdsa.PublicKey
}

// usable is keys that open, in order; the others are logged and skipped
// (one bad row must not stop every sign-in).
func (r *keyring) usable(keys []authdb.OIDCKey) []openedKey {
	out := make([]openedKey, 0, len(keys))
	for _, k := range keys {
		priv, err := r.open(k)
		if err != nil {
			r.log.Error("oidc: a stored signing key is skipped", "key", k.ID, "err", err)
			continue
		}
		out = append(out, openedKey{OIDCKey: k, pub: &priv.PublicKey})
	}
	return out
}

func (r *keyring) add(ctx context.Context, now time.Time) (authdb.OIDCKey, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return authdb.OIDCKey{}, err
	}
	id := authdb.NewOIDCID()
	sealed, err := r.seal(id, priv)
	if err != nil {
		return authdb.OIDCKey{}, err
	}
	k := authdb.OIDCKey{ID: id, Sealed: sealed, CreatedAt: now}
	if err := r.db.AddOIDCKey(ctx, k); err != nil {
		return authdb.OIDCKey{}, fmt.Errorf("storing a new signing key: %w", err)
	}
	return k, nil
}

// published lists the public keys of every stored key.
func (r *keyring) published(ctx context.Context) ([]op.Key, error) {
	keys, err := r.db.ListOIDCKeys(ctx)
	if err != nil {
		return nil, err
	}
	out := []op.Key{}
	for _, k := range r.usable(keys) {
		out = append(out, publicKey{id: k.ID, pub: k.pub})
	}
	return out, nil
}
