package enclave

import (
	"bytes"
	"context"
	"crypto/hkdf"
	"crypto/sha256"
	"errors"
	"fmt"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/wire"
)

// The cluster lives in one stored object, master/current: the master key
// sealed by the MasterSealer, and the cluster record (its DRK, holders
// and witnesses) sealed under a key derived from that master key. A
// cluster is born only in its genesis ceremony (genesis.go), which makes
// the master key, the DRK and the escrow together: there is no master key
// without a DRK, and nothing the operator can delete, forge or roll back
// in the store makes an enclave run a second ceremony for a key that
// exists. The object's version grows with each DRK rotation; it is the
// AEAD version of the cluster record.
const (
	kindMaster  = "master"
	masterID    = "current"
	kindCluster = "cluster" // the sealing kind of the cluster record
	kindWallet  = "wallet"
)

// MasterSealer protects the master key at rest, outside the enclave. In
// Nitro it is AWS KMS with the enclave's attestation document as the
// decryption recipient, so only an enclave with the expected measurements
// can unseal. That needs AWS and cannot run here.
type MasterSealer interface {
	Name() string
	// KeyID names the key this sealer seals with: not secret, and the
	// same for every enclave that uses that key. Stored beside the
	// sealed master key, it tells a master key sealed by another key
	// from a damaged one.
	KeyID() []byte
	Seal(ctx context.Context, mk *seal.MasterKey) ([]byte, error)
	Unseal(ctx context.Context, sealed []byte) (*seal.MasterKey, error)
}

// devSealer seals the master key to the dev sealing key the runner keeps in
// a file named DEV-ONLY-INSECURE-…: in dev mode the "enclave" is an
// ordinary process, so whoever has that file has the cluster.
type devSealer struct {
	k  *seal.Key
	id []byte
}

func newDevSealer(raw []byte) (*devSealer, error) {
	if len(raw) != 32 {
		return nil, errors.New("dev sealing key must be 32 bytes")
	}
	var b [32]byte
	copy(b[:], raw)
	defer clear(b[:])
	// Its name: an HKDF output under a label of its own, which says
	// nothing of the key.
	id, err := hkdf.Key(sha256.New, b[:], nil, "niomon/secretd/v1/dev-sealing-key-id", 16)
	if err != nil {
		return nil, err
	}
	k, err := seal.NewKey(&b, "dev_master_seal")
	if err != nil {
		return nil, err
	}
	return &devSealer{k: k, id: id}, nil
}

func (*devSealer) Name() string { return "dev" }

func (d *devSealer) KeyID() []byte { return d.id }

// devMasterVersion is the AEAD version of the dev-sealed master key; the
// key itself never changes.
const devMasterVersion = 1

func (d *devSealer) Seal(_ context.Context, mk *seal.MasterKey) ([]byte, error) {
	b := mk.Bytes()
	defer clear(b)
	return d.k.Seal(masterID, devMasterVersion, b)
}

func (d *devSealer) Unseal(_ context.Context, sealed []byte) (*seal.MasterKey, error) {
	b, err := d.k.Open(masterID, devMasterVersion, sealed)
	if err != nil {
		return nil, errSealerKeyOrDamaged
	}
	defer clear(b)
	return seal.MasterKeyFromBytes(b)
}

// The three ways a stored master key does not open.
var (
	// errSealerKey: another key sealed it (the record names its key).
	errSealerKey = errors.New("the cluster's master key was sealed with another key than this enclave's sealer's (dev: this data directory's " +
		"DEV-ONLY-INSECURE-master-sealing-key is not the one that sealed it). A replica that joined the cluster gets the master key only by joining: " +
		"start its runner with --join again (docs/secretd-operations.md). If the cluster's key is lost, recover the cluster from the DRK: " +
		"start the runner with --recover (docs/disaster-recovery.md)")
	// errMasterDamaged: this very key sealed it, and it does not open.
	errMasterDamaged = errors.New("the sealed master key in the store is damaged: it names this enclave's sealing key and does not open with it. " +
		"Restore the store (its master/current object) from a backup, or recover the cluster from the DRK: start the runner with --recover (docs/disaster-recovery.md)")
	// errSealerKeyOrDamaged: a record from before key IDs were stored.
	errSealerKeyOrDamaged = errors.New("the master key does not open with this sealer's key: either another key sealed it (dev: this data directory's " +
		"DEV-ONLY-INSECURE-master-sealing-key is not the one the cluster was made with; a replica that joined the cluster: start its runner with --join again), " +
		"or the stored master key is damaged. If the key is lost, recover the cluster from the DRK: start the runner with --recover (docs/disaster-recovery.md)")
)

// masterRecord is the stored form of master/current.
type masterRecord struct {
	Format  uint8  `cbor:"1,keyasint"`
	Sealer  string `cbor:"2,keyasint"`
	Sealed  []byte `cbor:"3,keyasint"` // the master key, sealed by the sealer
	Cluster []byte `cbor:"4,keyasint"` // clusterRecord, sealed under the master key at the object's version
	// SealerKey is the sealer's KeyID: absent in records written before
	// it was kept.
	SealerKey []byte `cbor:"5,keyasint,omitempty"`
}

const masterFormat = 2

// clusterRecord is what the master key's own record says of the cluster:
// its current DRK (public key and the share commitment) and the
// transcript that made it (holders, threshold, witnesses).
type clusterRecord struct {
	Transcript []byte `cbor:"1,keyasint"` // api.Transcript
	DRK        []byte `cbor:"2,keyasint"`
	Commitment []byte `cbor:"3,keyasint"`
}

// cluster is the booted cluster's record, parsed.
type cluster struct {
	version    uint64 // of master/current
	record     clusterRecord
	transcript api.Transcript
	trHash     [32]byte
}

func newCluster(version uint64, rec clusterRecord) (*cluster, error) {
	c := &cluster{version: version, record: rec}
	if err := wire.Unmarshal(rec.Transcript, &c.transcript); err != nil {
		return nil, errors.New("the cluster record's transcript is malformed")
	}
	c.trHash = sha256.Sum256(rec.Transcript)
	return c, nil
}

// readMaster fetches and parses master/current.
func readMaster(ctx context.Context, link *hostlink.Link) (*masterRecord, uint64, error) {
	obj, err := link.Get(ctx, kindMaster, masterID)
	if err != nil {
		return nil, 0, err
	}
	var rec masterRecord
	if err := wire.Unmarshal(obj.Blob, &rec); err != nil {
		return nil, 0, errors.New("the stored master key record is corrupt (not a master record)")
	}
	if rec.Format != masterFormat {
		return nil, 0, fmt.Errorf("the stored master key record has format %d; this enclave reads format %d. A dev data directory made by an older secretd cannot be used: move it aside", rec.Format, masterFormat)
	}
	return &rec, obj.Version, nil
}

// openCluster opens the cluster record of rec (at version) with mk.
func openCluster(mk *seal.MasterKey, version uint64, rec *masterRecord) (*cluster, error) {
	k, err := mk.SealingKey(kindCluster)
	if err != nil {
		return nil, err
	}
	pt, err := k.Open(masterID, version, rec.Cluster)
	if err != nil {
		return nil, errors.New("the cluster record does not open with the master key: the stored record was altered")
	}
	var cr clusterRecord
	if err := wire.Unmarshal(pt, &cr); err != nil {
		return nil, errors.New("the cluster record is malformed")
	}
	return newCluster(version, cr)
}

// sealedBy is the sealer that sealed a master key: its name and KeyID.
type sealedBy struct {
	name string
	key  []byte
}

func sealerOf(s MasterSealer) sealedBy { return sealedBy{s.Name(), s.KeyID()} }

// sealMaster builds master/current at version: sealedMaster as the sealer
// made it, and cr sealed under mk.
func sealMaster(mk *seal.MasterKey, sealer sealedBy, sealedMaster []byte, version uint64, cr *clusterRecord) (*hostlink.Object, error) {
	k, err := mk.SealingKey(kindCluster)
	if err != nil {
		return nil, err
	}
	pt, err := wire.Marshal(cr)
	if err != nil {
		return nil, err
	}
	blob, err := k.Seal(masterID, version, pt)
	if err != nil {
		return nil, err
	}
	b, err := wire.Marshal(masterRecord{Format: masterFormat, Sealer: sealer.name, Sealed: sealedMaster, Cluster: blob, SealerKey: sealer.key})
	if err != nil {
		return nil, err
	}
	return &hostlink.Object{Kind: kindMaster, ID: masterID, Version: version, Blob: b}, nil
}

// boot brings the enclave up on the first host link, in the mode its
// runner asks for: load the cluster (or wait for its genesis ceremony if
// there is none), get it from a running enclave of the cluster (join), or
// start disaster recovery. It runs once; later host links find it done.
func (e *Enclave) boot(ctx context.Context, link *hostlink.Link, hello *hostlink.Hello) error {
	e.bootMu.Lock()
	defer e.bootMu.Unlock()
	if e.isBooted() || e.rec.Load() != nil || e.gen.Load() != nil {
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
		return errors.New("dev mode needs the runner's dev sealing key: start the runner with --dev too")
	case len(hello.DevSealingKey) > 0:
		return errors.New("refusing a dev sealing key outside dev mode: start the runner without --dev, or the enclave with --dev")
	}
	e.sealer = sealer

	ctx, cancel := context.WithTimeout(ctx, bootTimeout)
	defer cancel()
	if hello.Mode == hostlink.ModeJoin {
		mk, err := e.join(ctx, link)
		if err != nil {
			return fmt.Errorf("joining the cluster: %w", err)
		}
		rec, version, err := readMaster(ctx, link)
		if err != nil {
			mk.Wipe()
			return fmt.Errorf("joining the cluster: reading its master record: %w", err)
		}
		c, err := openCluster(mk, version, rec)
		if err != nil {
			mk.Wipe()
			return fmt.Errorf("joining the cluster: %w", err)
		}
		if err := e.useMaster(mk, c); err != nil {
			return err
		}
		e.log.Info("enclave joined the cluster", "cluster_identity", e.identity.Public().String())
		return nil
	}
	if hello.Mode != hostlink.ModeNormal && hello.Mode != hostlink.ModeRecover {
		return fmt.Errorf("unknown boot mode %q", hello.Mode)
	}
	rec, version, err := readMaster(ctx, link)
	switch {
	case errors.Is(err, hostlink.ErrNotFound) && hello.Mode == hostlink.ModeRecover:
		return e.startRecovery(ctx, link)
	case errors.Is(err, hostlink.ErrNotFound):
		return e.startGenesis(ctx, link)
	case err != nil:
		return fmt.Errorf("loading the master key: %w", err)
	}
	if rec.Sealer != sealer.Name() {
		if hello.Mode == hostlink.ModeRecover {
			return e.startRecovery(ctx, link)
		}
		return fmt.Errorf("the stored master key is sealed by %q, this enclave uses %q; to move a cluster to another sealer, recover it from the DRK (--recover)", rec.Sealer, sealer.Name())
	}
	otherKey := len(rec.SealerKey) > 0 && !bytes.Equal(rec.SealerKey, sealer.KeyID())
	var mk *seal.MasterKey
	if !otherKey {
		mk, err = sealer.Unseal(ctx, rec.Sealed)
	}
	if otherKey || err != nil {
		switch {
		case hello.Mode == hostlink.ModeRecover:
			return e.startRecovery(ctx, link)
		case otherKey:
			return errSealerKey
		case !errors.Is(err, errSealerKeyOrDamaged):
			return err
		case len(rec.SealerKey) > 0:
			return errMasterDamaged
		}
		return err
	}
	if hello.Mode == hostlink.ModeRecover {
		// A --recover left on after a recovery: the master key opens, so
		// there is nothing to recover.
		e.log.Warn("--recover: the master key opens with this enclave's sealer, so there is nothing to recover; booting normally (remove --recover)")
	}
	c, err := openCluster(mk, version, rec)
	if err != nil {
		mk.Wipe()
		return err
	}
	if err := e.useMaster(mk, c); err != nil {
		return err
	}
	e.log.Info("enclave booted", "sealer", sealer.Name(), "cluster_identity", e.identity.Public().String())
	return nil
}

// useMaster derives the cluster's keys from mk, which the enclave then
// keeps (for joins and DRK rotations), and starts serving the cluster.
// The caller holds bootMu.
func (e *Enclave) useMaster(mk *seal.MasterKey, c *cluster) (err error) {
	defer func() {
		if err != nil {
			mk.Wipe()
		}
	}()
	id, err := identityOf(mk)
	if err != nil {
		return err
	}
	if string(c.transcript.ClusterIdentity) != string(id.Public().Bytes()) {
		return errors.New("the cluster record names another cluster identity than the master key derives")
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
	if ws := c.transcript.Witnesses; len(ws) > 0 {
		f, err := newFreshness(e, mk, ws, c.transcript.WitnessQuorum)
		if err != nil {
			return err
		}
		e.fresh = f
		go f.run(e.runCtx)
	}
	e.identity, e.walletK, e.signer, e.importRoot, e.master = id, wk, &statementSigner{k: rk}, ir, mk
	e.cluster.Store(c)
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
