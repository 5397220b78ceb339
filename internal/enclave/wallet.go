package enclave

import (
	"context"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/wire"
)

// walletVersion is the version of a new wallet object; policy changes will
// bump it (the version is in the AEAD associated data, so an old blob
// cannot be replayed over a newer one).
const walletVersion = 1

// walletRecord is the plaintext of a sealed wallet object. It holds the
// BIP39 entropy, not the seed: the mnemonic can be shown again on export,
// and the seed follows from it.
type walletRecord struct {
	Format     uint8      `cbor:"1,keyasint"`
	Entropy    []byte     `cbor:"2,keyasint"`
	Attributes [][]string `cbor:"3,keyasint"`
	PolicyID   string     `cbor:"4,keyasint"`
	CreatedAt  int64      `cbor:"5,keyasint"` // Unix seconds
	Imported   bool       `cbor:"6,keyasint,omitempty"`
}

const walletFormat = 1

func (e *Enclave) storeWallet(ctx context.Context, oid string, m *hd.Mnemonic, attrs [][]string, policyID string, imported bool) error {
	if attrs == nil {
		attrs = [][]string{}
	}
	rec := walletRecord{Format: walletFormat, Entropy: m.Entropy(), Attributes: attrs, PolicyID: policyID, CreatedAt: e.cfg.Now().Unix(), Imported: imported}
	defer clear(rec.Entropy)
	pt, err := wire.Marshal(rec)
	if err != nil {
		return err
	}
	defer clear(pt)
	blob, err := e.walletK.Seal(oid, walletVersion, pt)
	if err != nil {
		return err
	}
	l, err := e.link()
	if err != nil {
		return storageErr(err)
	}
	if err := l.Create(ctx, &hostlink.Object{Kind: kindWallet, ID: oid, Version: walletVersion, Blob: blob}); err != nil {
		return storageErr(err)
	}
	return nil
}

// errCorrupt is what a client hears when a stored wallet does not open:
// the runner lost or altered it. It is not an internal error of ours.
var errCorrupt = &wire.RPCError{Code: wire.CodeUnavailable, Message: "stored wallet does not authenticate"}

// loadWallet fetches and unseals oid and derives its BIP32 master node.
func (e *Enclave) loadWallet(ctx context.Context, oid string) (*unsealed, error) {
	l, err := e.link()
	if err != nil {
		return nil, err
	}
	obj, err := l.Get(ctx, kindWallet, oid)
	if err != nil {
		return nil, err
	}
	pt, err := e.walletK.Open(oid, obj.Version, obj.Blob)
	if err != nil {
		e.log.Warn("a stored wallet failed authentication", "oid_len", len(oid))
		return nil, errCorrupt
	}
	defer clear(pt)
	var rec walletRecord
	if err := wire.Unmarshal(pt, &rec); err != nil || rec.Format != walletFormat {
		return nil, errors.New("sealed wallet record is malformed")
	}
	defer clear(rec.Entropy)
	m, err := hd.MnemonicFromEntropy(rec.Entropy)
	if err != nil {
		return nil, fmt.Errorf("sealed wallet entropy: %w", err)
	}
	defer m.Wipe()
	seed := m.Seed("")
	defer seed.Wipe()
	master, err := hd.NewMaster(seed, hd.Secp256k1)
	if err != nil {
		return nil, err
	}
	return &unsealed{master: master}, nil
}
