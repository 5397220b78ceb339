package niomoncmd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
)

// defaultServer is the client's server when nothing else names one:
// niomon dev's, as its banner prints it.
const defaultServer = "http://localhost:8080"

// keyFileServer is the server recorded in the key file at path, or "".
func keyFileServer(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	var kf struct {
		Server string `json:"server"`
	}
	if json.Unmarshal(b, &kf) != nil {
		return ""
	}
	return kf.Server
}

// keyFile is the client's credential on disk (mode 0600): an API key, or
// a device session key made by "email login". The private key never
// leaves this file; stamps are made here.
type keyFile struct {
	Kind      string `json:"kind"`                 // api_key or session_key
	ExpiresAt int64  `json:"expires_at,omitempty"` // Unix seconds; session keys
	PKCS8     []byte `json:"pkcs8"`                // the P-256 private key
	// Server is the niomon server the key is used with.
	Server string `json:"server,omitempty"`
	// Wallet is the wallet (oid) the key was enrolled in: the client
	// shows no other wallet's addresses and stamps for no other wallet.
	// Set when the client creates, imports or rotates into a wallet, or
	// on first use for an older key file.
	Wallet string `json:"wallet,omitempty"`
	// Instance is the wallet instance (secretd's 16-byte id, fixed when
	// the wallet was made) and Version the highest policy version seen:
	// the client refuses any receipt, address or export of another
	// instance at the oid, and any receipt older than Version (a rolled
	// back store).
	Instance []byte `json:"instance,omitempty"`
	Version  uint64 `json:"version,omitempty"`
}

// minSessionKeyTTL is the shortest device session key lifetime the client
// accepts from a server; sessionKeyMargin is taken off the server's
// limit, so that a request stamped a little later, or by a clock a
// little ahead, still fits it.
const (
	minSessionKeyTTL = time.Hour
	sessionKeyMargin = policy.Window + time.Minute
)

// sessionKeyExpiry is when a new device session key expires, given the
// server's limit in seconds.
func sessionKeyExpiry(ttlSeconds int) (time.Time, error) {
	ttl := time.Duration(ttlSeconds) * time.Second
	if ttl < minSessionKeyTTL {
		return time.Time{}, fmt.Errorf("the server allows device keys a lifetime of only %v; refusing to make one that expires so soon", ttl)
	}
	return time.Now().Add(ttl - sessionKeyMargin), nil
}

// clientRights are what the client's key may do in the wallet policy.
var clientRights = []string{policy.RightSign, policy.RightExport, policy.RightPolicy}

// makeKey makes a new key of kind and saves it at path (which must not
// exist).
func makeKey(path, server, kind string, expires time.Time) (*secretd.P256Key, error) {
	return makeWalletKey(path, server, walletPin{}, kind, expires)
}

// walletPin is what a key file records of its wallet.
type walletPin struct {
	OID      string
	Instance []byte
	Version  uint64
}

func pinOf(rc *secretd.Receipt) walletPin {
	return walletPin{OID: rc.OID, Instance: rc.Instance, Version: rc.Version}
}

// makeWalletKey is makeKey for a key bound to wallet (its oid and pin).
func makeWalletKey(path, server string, wallet walletPin, kind string, expires time.Time) (*secretd.P256Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	k, err := secretd.P256KeyFrom(priv, kind, expires, clientRights...)
	if err != nil {
		return nil, err
	}
	if err := saveKey(path, server, wallet, priv, k.Credential()); err != nil {
		return nil, err
	}
	return k, nil
}

// saveKey writes k's private key to path, which must not exist, and
// flushes it to disk.
func saveKey(path, server string, wallet walletPin, priv *ecdsa.PrivateKey, cred policy.Credential) error {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return err
	}
	b, err := json.MarshalIndent(keyFile{Kind: cred.Kind, ExpiresAt: cred.ExpiresAt, PKCS8: der, Server: server,
		Wallet: wallet.OID, Instance: wallet.Instance, Version: wallet.Version}, "", "  ")
	clear(der)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("%s exists already; it is never overwritten (use another --key)", path)
		}
		return err
	}
	_, err = f.Write(append(b, '\n'))
	clear(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = syncDir(filepath.Dir(path))
	}
	return err
}

// syncDir flushes a directory, so that a file created or renamed in it
// survives a power loss.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// bindWallet records in the key file at path that its key belongs to the
// wallet of receipt rc (oid and instance), and the highest policy version
// seen. A key bound to another wallet or another instance, or a receipt
// older than one seen, is an error. The file is rewritten whole (written
// beside it, then renamed over it) when something changed.
func bindWallet(path string, rc *secretd.Receipt) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	defer clear(b)
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return fmt.Errorf("%s: not a niomon key file", path)
	}
	defer clear(kf.PKCS8)
	switch {
	case kf.Wallet != "" && kf.Wallet != rc.OID:
		return fmt.Errorf("the key at %s belongs to wallet %s, not %s", path, kf.Wallet, rc.OID)
	case kf.Instance != nil && !bytes.Equal(kf.Instance, rc.Instance):
		return fmt.Errorf("WARNING: the server answers for another wallet than the one the key at %s was enrolled in "+
			"(instance %x, not %x): the wallet at %s was replaced in secretd's store; do not use it", path, rc.Instance, kf.Instance, rc.OID)
	case rc.Version < kf.Version:
		return fmt.Errorf("WARNING: the cluster's receipt names policy version %d of your wallet, but this machine has seen version %d: "+
			"secretd's store was rolled back, and keys you removed may work again; do not use the wallet", rc.Version, kf.Version)
	case kf.Wallet == rc.OID && kf.Instance != nil && kf.Version == rc.Version:
		return nil
	}
	kf.Wallet, kf.Instance, kf.Version = rc.OID, rc.Instance, rc.Version
	out, err := json.MarshalIndent(kf, "", "  ")
	if err != nil {
		return err
	}
	defer clear(out)
	f, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	defer os.Remove(tmp) // gone after the rename
	_, err = f.Write(append(out, '\n'))
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		return err
	}
	return syncDir(filepath.Dir(path))
}

// loadKey reads a key file.
func loadKey(path string) (*secretd.P256Key, *keyFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, err
	}
	defer clear(b)
	var kf keyFile
	if err := json.Unmarshal(b, &kf); err != nil {
		return nil, nil, fmt.Errorf("%s: not a niomon key file", path)
	}
	defer clear(kf.PKCS8)
	k, err := x509.ParsePKCS8PrivateKey(kf.PKCS8)
	priv, ok := k.(*ecdsa.PrivateKey)
	if err != nil || !ok {
		return nil, nil, fmt.Errorf("%s: not a P-256 private key", path)
	}
	var exp time.Time
	if kf.ExpiresAt != 0 {
		exp = time.Unix(kf.ExpiresAt, 0)
	}
	key, err := secretd.P256KeyFrom(priv, kf.Kind, exp, clientRights...)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", path, err)
	}
	return key, &kf, nil
}
