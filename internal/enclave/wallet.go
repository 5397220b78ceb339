package enclave

import (
	"context"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// A new wallet object has version 1; each policy change writes the next
// version. The version is in the AEAD associated data, so an older blob
// cannot be passed off as the current one under its own version number.
const walletVersion = 1

// walletRecord is the plaintext of a sealed wallet object. It holds the
// BIP39 entropy, not the seed: the mnemonic can be exported again, and the
// seed follows from it.
type walletRecord struct {
	Format     uint8         `cbor:"1,keyasint"`
	Entropy    []byte        `cbor:"2,keyasint"`
	Attributes [][]string    `cbor:"3,keyasint"`
	PolicyID   string        `cbor:"4,keyasint"`
	CreatedAt  int64         `cbor:"5,keyasint"` // Unix seconds
	Imported   bool          `cbor:"6,keyasint,omitempty"`
	Policy     policy.Policy `cbor:"7,keyasint"`
	// Creator is the static_key of the app that created the wallet: the
	// one app that may read its public keys without a user credential.
	Creator []byte `cbor:"8,keyasint"`
}

const walletFormat = 1

func (r *walletRecord) wipe() { clear(r.Entropy) }

// sealWallet seals rec as version of oid.
func (e *Enclave) sealWallet(oid string, version uint64, rec *walletRecord) (*hostlink.Object, error) {
	pt, err := wire.Marshal(rec)
	if err != nil {
		return nil, err
	}
	defer clear(pt)
	blob, err := e.walletK.Seal(oid, version, pt)
	if err != nil {
		return nil, err
	}
	return &hostlink.Object{Kind: kindWallet, ID: oid, Version: version, Blob: blob}, nil
}

// createWallet stores a new wallet for mnemonic m; an existing oid is an
// error, never an overwrite.
func (e *Enclave) createWallet(ctx context.Context, creator wire.PublicKey, oid string, m *hd.Mnemonic, attrs [][]string, policyID string, p policy.Policy, imported bool) error {
	// "Every master-key version is escrowed before it is used": a cluster
	// that requires it makes no wallet before its DRK ceremony.
	if e.cfg.RequireEscrow && !e.escrowed.Load() {
		return &wire.RPCError{Code: wire.CodeUnavailable, Message: "the cluster's master key is not escrowed yet: run the DRK ceremony first"}
	}
	if attrs == nil {
		attrs = [][]string{}
	}
	if p.Credentials == nil {
		p.Credentials = []policy.Credential{}
	}
	rec := walletRecord{Format: walletFormat, Entropy: m.Entropy(), Attributes: attrs, PolicyID: policyID, CreatedAt: e.cfg.Now().Unix(), Imported: imported, Policy: p, Creator: creator.Bytes()}
	defer rec.wipe()
	obj, err := e.sealWallet(oid, walletVersion, &rec)
	if err != nil {
		return err
	}
	l, err := e.link()
	if err != nil {
		return storageErr(err)
	}
	if err := l.Create(ctx, obj); err != nil {
		return storageErr(err)
	}
	return nil
}

// errCorrupt is what a client hears when a stored wallet does not open:
// the runner lost, altered or swapped it. It is not an internal error of
// ours.
var errCorrupt = &wire.RPCError{Code: wire.CodeUnavailable, Message: "stored wallet does not authenticate"}

// readWallet fetches and unseals oid's record. The caller wipes it.
func (e *Enclave) readWallet(ctx context.Context, oid string) (*walletRecord, uint64, error) {
	l, err := e.link()
	if err != nil {
		return nil, 0, err
	}
	obj, err := l.Get(ctx, kindWallet, oid)
	if err != nil {
		return nil, 0, err
	}
	pt, err := e.walletK.Open(oid, obj.Version, obj.Blob)
	if err != nil {
		e.log.Warn("a stored wallet failed authentication", "oid_len", len(oid))
		return nil, 0, errCorrupt
	}
	defer clear(pt)
	var rec walletRecord
	if err := wire.Unmarshal(pt, &rec); err != nil || rec.Format != walletFormat {
		rec.wipe()
		return nil, 0, errors.New("sealed wallet record is malformed")
	}
	return &rec, obj.Version, nil
}

// loadWallet unseals oid for the cache: its seed and policy.
func (e *Enclave) loadWallet(ctx context.Context, oid string) (*unsealed, error) {
	rec, version, err := e.readWallet(ctx, oid)
	if err != nil {
		return nil, err
	}
	defer rec.wipe()
	m, err := hd.MnemonicFromEntropy(rec.Entropy)
	if err != nil {
		return nil, fmt.Errorf("sealed wallet entropy: %w", err)
	}
	defer m.Wipe()
	p := rec.Policy
	if err := p.Prepare(); err != nil {
		return nil, fmt.Errorf("sealed wallet policy: %w", err)
	}
	var creator wire.PublicKey
	copy(creator[:], rec.Creator)
	return &unsealed{seed: m.Seed(""), masters: make(map[hd.Curve]*hd.Node), policy: &p, version: version, creator: creator}, nil
}

// filler returns the cache's loader for oid.
func (e *Enclave) filler(ctx context.Context, oid string) func() (*unsealed, error) {
	return func() (*unsealed, error) { return e.loadWallet(ctx, oid) }
}

// errNotYours is what an app hears about a wallet another app created:
// the same as for a wallet that does not exist, so apps cannot probe each
// other's users.
var errNotYours = errNotFound

// requireCreator lets peer read oid's public data only if peer created it.
func (e *Enclave) requireCreator(ctx context.Context, peer wire.Peer, oid string) error {
	v, err := e.cache.view(oid, e.filler(ctx, oid))
	if err != nil {
		return storageErr(err)
	}
	if !v.creator.Equal(peer.Key) {
		return errNotYours
	}
	return nil
}
