package enclave

import (
	"context"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/wire"
)

// The master key is stored by the runner as one sealed object. Its
// version is the master-key version; the disaster-recovery escrow of each
// version (a later object kind) must exist before that version is used.
const (
	kindMaster    = "master"
	masterID      = "current"
	masterVersion = 1
	kindWallet    = "wallet"
)

// MasterSealer protects the master key at rest, outside the enclave. In
// Nitro it is AWS KMS with the enclave's attestation document as the
// decryption recipient, so only an enclave with the expected measurements
// can unseal. That needs AWS and cannot run here.
type MasterSealer interface {
	Name() string
	Seal(ctx context.Context, mk *seal.MasterKey) ([]byte, error)
	Unseal(ctx context.Context, sealed []byte) (*seal.MasterKey, error)
}

// devSealer seals the master key to the dev sealing key the runner keeps in
// a file named DEV-ONLY-INSECURE-…: in dev mode the "enclave" is an
// ordinary process, so whoever has that file has the cluster.
type devSealer struct{ k *seal.Key }

func newDevSealer(raw []byte) (*devSealer, error) {
	if len(raw) != 32 {
		return nil, errors.New("dev sealing key must be 32 bytes")
	}
	var b [32]byte
	copy(b[:], raw)
	defer clear(b[:])
	k, err := seal.NewKey(&b, "dev_master_seal")
	if err != nil {
		return nil, err
	}
	return &devSealer{k: k}, nil
}

func (*devSealer) Name() string { return "dev" }

func (d *devSealer) Seal(_ context.Context, mk *seal.MasterKey) ([]byte, error) {
	b := mk.Bytes()
	defer clear(b)
	return d.k.Seal(masterID, masterVersion, b)
}

func (d *devSealer) Unseal(_ context.Context, sealed []byte) (*seal.MasterKey, error) {
	b, err := d.k.Open(masterID, masterVersion, sealed)
	if err != nil {
		return nil, errors.New("the master key does not open with this dev sealing key")
	}
	defer clear(b)
	return seal.MasterKeyFromBytes(b)
}

// masterRecord is the stored form of the sealed master key.
type masterRecord struct {
	Sealer string `cbor:"1,keyasint"`
	Sealed []byte `cbor:"2,keyasint"`
}

// boot brings the enclave up on the first host link, in the mode its
// runner asks for: load the cluster's master key (making one for a new
// cluster), get it from a running enclave of the cluster (join), or start
// disaster recovery. It runs once; later host links find it done.
func (e *Enclave) boot(ctx context.Context, link *hostlink.Link, hello *hostlink.Hello) error {
	e.bootMu.Lock()
	defer e.bootMu.Unlock()
	if e.isBooted() || e.rec != nil {
		return nil
	}
	sealer := e.cfg.MasterSealer
	switch {
	case e.cfg.Dev && len(hello.DevSealingKey) > 0:
		var err error
		if sealer, err = newDevSealer(hello.DevSealingKey); err != nil {
			return err
		}
	case e.cfg.Dev:
		return errors.New("dev mode needs the runner's dev sealing key")
	case len(hello.DevSealingKey) > 0:
		return errors.New("refusing a dev sealing key outside dev mode")
	}

	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	switch hello.Mode {
	case hostlink.ModeRecover:
		return e.startRecovery(ctx, link, sealer)
	case hostlink.ModeJoin:
		mk, err := e.join(ctx, link)
		if err != nil {
			return fmt.Errorf("joining the cluster: %w", err)
		}
		if err := e.useMaster(ctx, link, mk); err != nil {
			return err
		}
		e.log.Info("enclave joined the cluster", "cluster_identity", e.identity.Public().String())
		return nil
	case hostlink.ModeNormal:
	default:
		return fmt.Errorf("unknown boot mode %q", hello.Mode)
	}
	mk, created, err := loadOrCreateMaster(ctx, link, sealer)
	if err != nil {
		return err
	}
	if err := e.useMaster(ctx, link, mk); err != nil {
		return err
	}
	e.log.Info("enclave booted", "new_cluster", created, "sealer", sealer.Name(), "cluster_identity", e.identity.Public().String())
	return nil
}

func loadOrCreateMaster(ctx context.Context, link *hostlink.Link, sealer MasterSealer) (*seal.MasterKey, bool, error) {
	for range 2 {
		obj, err := link.Get(ctx, kindMaster, masterID)
		switch {
		case err == nil:
			var rec masterRecord
			if err := wire.Unmarshal(obj.Blob, &rec); err != nil {
				return nil, false, errors.New("stored master key record is malformed")
			}
			if rec.Sealer != sealer.Name() {
				return nil, false, fmt.Errorf("stored master key is sealed by %q, this enclave uses %q", rec.Sealer, sealer.Name())
			}
			mk, err := sealer.Unseal(ctx, rec.Sealed)
			return mk, false, err
		case !errors.Is(err, hostlink.ErrNotFound):
			return nil, false, fmt.Errorf("loading the master key: %w", err)
		}
		mk, err := seal.GenerateMasterKey()
		if err != nil {
			return nil, false, err
		}
		sealed, err := sealer.Seal(ctx, mk)
		if err != nil {
			mk.Wipe()
			return nil, false, err
		}
		blob, err := wire.Marshal(masterRecord{Sealer: sealer.Name(), Sealed: sealed})
		if err != nil {
			mk.Wipe()
			return nil, false, err
		}
		err = link.Create(ctx, &hostlink.Object{Kind: kindMaster, ID: masterID, Version: masterVersion, Blob: blob})
		if err == nil {
			return mk, true, nil
		}
		mk.Wipe()
		if !errors.Is(err, hostlink.ErrExists) {
			return nil, false, fmt.Errorf("storing the master key: %w", err)
		}
		// Another enclave created the cluster first: load its key.
	}
	return nil, false, errors.New("master key creation raced twice")
}

// useMaster derives the cluster's keys from mk, which the enclave then
// keeps (for joins and the escrow), and starts serving the cluster.
func (e *Enclave) useMaster(ctx context.Context, link *hostlink.Link, mk *seal.MasterKey) (err error) {
	defer func() {
		if err != nil {
			mk.Wipe()
		}
	}()
	id, err := identityOf(mk)
	if err != nil {
		return err
	}
	wk, err := mk.SealingKey(kindWallet)
	if err != nil {
		return err
	}
	rk, err := mk.ReceiptKey()
	if err != nil {
		return err
	}
	ir, err := mk.ImportRoot()
	if err != nil {
		return err
	}
	_, err = link.Get(ctx, kindEscrow, escrowID)
	switch {
	case err == nil:
		e.escrowed.Store(true)
	case !errors.Is(err, hostlink.ErrNotFound):
		return fmt.Errorf("looking for the DRK escrow: %w", err)
	}
	e.identity, e.walletK, e.signer, e.importRoot, e.master = id, wk, &statementSigner{k: rk}, ir, mk
	close(e.booted)
	e.serve(id, e.methods)
	return nil
}

// identityOf derives the cluster identity from a master key.
func identityOf(mk *seal.MasterKey) (wire.PrivateKey, error) {
	scalar, err := mk.IdentityScalar()
	if err != nil {
		return wire.PrivateKey{}, err
	}
	defer clear(scalar[:])
	return wire.NewPrivateKey(&scalar)
}
