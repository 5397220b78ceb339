package enclave

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/drk"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/wire"
)

// Disaster recovery (DESIGN.md invariant 5).
//
// A DRK is made inside an enclave, at genesis (genesis.go) or in a
// rotation approved by the current holders, and split k of n with
// Shamir's secret sharing (package drk: the commitment records each
// share's hash, so a wrong or short set of shares is detected and named).
// Each share leaves encrypted to its holder's age recipient; the master
// key is escrowed to the DRK, and the runner stores the escrow, signed by
// the receipt key. The current DRK is also in the master key's own sealed
// record, so the enclave never learns it from the escrow row.
//
// Recovery: an enclave started in recovery mode has no master key. It
// serves a temporary identity and an ephemeral recovery key, both in an
// attestation document that names the DRK of the escrow it found. Each
// holder checks that document themselves (the enclave's measurements and
// the DRK they hold a share of), then seals their share to that key; with
// k valid submissions the enclave rebuilds the DRK, opens the escrow,
// checks the master key derives the escrowed cluster identity, re-seals
// it for this enclave, and takes over the cluster identity. Until then it
// writes nothing.

const (
	kindEscrow   = "drk_escrow"
	escrowID     = "current"
	escrowFormat = 2
	// masterKeyVersion is the version of the master key; rotating it
	// (not implemented) must escrow each new version before using it.
	masterKeyVersion = 1
	kemName          = "MLKEM768-X25519"
)

// escrowRecord is what the runner stores: public, signed by the receipt
// key, and holding the master key only as HPKE ciphertext to the DRK.
type escrowRecord struct {
	Format     uint8  `cbor:"format"`
	Transcript []byte `cbor:"transcript"` // api.Transcript
	DRK        []byte `cbor:"drk"`
	Commitment []byte `cbor:"commitment"`
	Escrowed   []byte `cbor:"escrowed"`
}

type signedEscrow struct {
	Record    []byte `cbor:"record"`
	Signature []byte `cbor:"signature"`
}

func escrowInfo(identity []byte, version uint64) []byte {
	return binary.BigEndian.AppendUint64(append([]byte("niomon/secretd/v1/master-escrow\x00"), identity...), version)
}

// madeDRK is a new DRK: its cluster record, its signed escrow and the
// ceremony's answer (transcript and shares; the caller attests).
type madeDRK struct {
	cluster clusterRecord
	escrow  []byte
	result  api.CeremonyResult
}

// makeDRK makes a DRK for holders, splits it, escrows mk to it, encrypts
// each share to its holder, and completes tr (whose kind, identity,
// witnesses, statement, approvals and previous hash the caller set).
func (e *Enclave) makeDRK(mk *seal.MasterKey, signer *statementSigner, threshold int, holders []api.HolderSpec, tr *api.Transcript) (*madeDRK, error) {
	n := len(holders)
	split, err := drk.Generate(threshold, n)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range split.Shares {
			s.Wipe()
		}
	}()
	mb := mk.Bytes()
	escrowed, err := drk.Seal(split.Public, escrowInfo(tr.ClusterIdentity, masterKeyVersion), mb)
	clear(mb)
	if err != nil {
		return nil, err
	}
	fp := split.Public.Fingerprint()
	tr.KEM, tr.DRKFingerprint, tr.Threshold, tr.Count = kemName, fp[:], threshold, n
	tr.MasterVersion, tr.Time, tr.Holders = masterKeyVersion, e.cfg.Now().Unix(), nil
	var res api.CeremonyResult
	for i, h := range holders {
		f, err := drk.EncryptShareForHolder(split.Shares[i], h.Recipient)
		if err != nil {
			return nil, invalid(fmt.Sprintf("holder %q: not an age recipient", h.Name))
		}
		sf := split.Shares[i].Fingerprint()
		tr.Holders = append(tr.Holders, api.Holder{Index: split.Shares[i].Index(), Name: h.Name, Recipient: h.Recipient, SigningKey: h.SigningKey, ShareFingerprint: sf[:]})
		res.Shares = append(res.Shares, f)
	}
	if res.Transcript, err = wire.Marshal(tr); err != nil {
		return nil, err
	}
	commit, err := split.Commitment.MarshalBinary()
	if err != nil {
		return nil, err
	}
	rec, err := wire.Marshal(escrowRecord{Format: escrowFormat, Transcript: res.Transcript, DRK: split.Public.Bytes(), Commitment: commit, Escrowed: escrowed})
	if err != nil {
		return nil, err
	}
	blob, err := wire.Marshal(signedEscrow{Record: rec, Signature: signer.escrow(rec)})
	if err != nil {
		return nil, err
	}
	return &madeDRK{cluster: clusterRecord{Transcript: res.Transcript, DRK: split.Public.Bytes(), Commitment: commit}, escrow: blob, result: res}, nil
}

// currentCluster returns the cluster record, first reading master/current
// again if another enclave of the cluster rotated the DRK since.
func (e *Enclave) currentCluster(ctx context.Context) (*cluster, error) {
	c := e.cluster.Load()
	l, err := e.link()
	if err != nil {
		return nil, err
	}
	rec, version, err := readMaster(ctx, l)
	if err != nil {
		return nil, err
	}
	if version == c.version {
		return c, nil
	}
	if version < c.version {
		return nil, errors.New("the stored master record is older than the one this enclave holds (the store was rolled back)")
	}
	nc, err := openCluster(e.master, version, rec)
	if err != nil {
		return nil, err
	}
	e.cluster.CompareAndSwap(c, nc)
	return nc, nil
}

// systemDRKRotate([statement, approvals]) → api.CeremonyResult: a new DRK
// for a new holder set, approved by at least the current threshold of
// current holders and by every new holder. The master key is escrowed to
// the new DRK; the old escrow is replaced. Old shares with a copy of the
// old escrow still open the master key: a rotation changes who can
// recover from now on, it does not revoke a quorum that already has.
func (e *Enclave) systemDRKRotate(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p ceremonyParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [statement bytes, [approval...]]")
	}
	var st api.RotationStatement
	if err := decodeStatement(p.Statement, &st); err != nil || st.Kind != api.KindDRKRotation {
		return nil, invalid("the statement is not a canonical DRK rotation statement")
	}
	e.rotateMu.Lock()
	defer e.rotateMu.Unlock()
	c, err := e.currentCluster(ctx)
	if err != nil {
		return nil, storageErr(err)
	}
	if !bytes.Equal(st.ClusterIdentity, e.identity.Public().Bytes()) {
		return nil, invalid("the statement is for another cluster")
	}
	if !bytes.Equal(st.DRK, c.transcript.DRKFingerprint) {
		return nil, &wire.RPCError{Code: wire.CodeConflict, Message: "the statement replaces a DRK that is not the cluster's current one"}
	}
	if err := validHolders(st.Threshold, st.Holders); err != nil {
		return nil, err
	}
	current := make([]api.HolderSpec, len(c.transcript.Holders))
	for i, h := range c.transcript.Holders {
		current[i] = api.HolderSpec{Name: h.Name, Recipient: h.Recipient, SigningKey: h.SigningKey}
	}
	if err := checkApprovals(api.RotationContext, p.Statement, p.Approvals, st.Holders, current, c.transcript.Threshold); err != nil {
		return nil, err
	}
	l, err := e.link()
	if err != nil {
		return nil, storageErr(err)
	}
	rec, version, err := readMaster(ctx, l)
	if err != nil {
		return nil, storageErr(err)
	}
	if version != c.version {
		return nil, &wire.RPCError{Code: wire.CodeConflict, Message: "the cluster record changed meanwhile; try again"}
	}
	tr := api.Transcript{
		Kind: api.KindDRKRotation, ClusterIdentity: st.ClusterIdentity, Witnesses: c.transcript.Witnesses, WitnessQuorum: c.transcript.WitnessQuorum,
		Statement: p.Statement, Approvals: p.Approvals, Previous: c.trHash[:],
	}
	made, err := e.makeDRK(e.master, e.signer, st.Threshold, st.Holders, &tr)
	if err != nil {
		return nil, err
	}
	// The new escrow first: whatever happens next, the escrow in the store
	// opens with a DRK whose shares went out.
	esc, err := l.Get(ctx, kindEscrow, escrowID)
	if err != nil {
		return nil, storageErr(err)
	}
	if err := l.Update(ctx, &hostlink.Object{Kind: kindEscrow, ID: escrowID, Version: esc.Version + 1, Blob: made.escrow}, esc.Version); err != nil {
		return nil, storageErr(err)
	}
	obj, err := sealMaster(e.master, sealedBy{rec.Sealer, rec.SealerKey}, rec.Sealed, version+1, &made.cluster)
	if err != nil {
		return nil, err
	}
	if err := l.Update(ctx, obj, version); err != nil {
		return nil, storageErr(err)
	}
	nc, err := newCluster(version+1, made.cluster)
	if err != nil {
		return nil, err
	}
	e.cluster.Store(nc)
	if made.result.Attestation, err = e.cfg.Attester.Attest(nil, nc.trHash[:], e.identity.Public().Bytes()); err != nil {
		return nil, err
	}
	e.log.Warn("DRK rotated", "threshold", st.Threshold, "holders", len(st.Holders), "requested_by", peer.Key.String())
	return made.result, nil
}

// parseEscrow reads the stored escrow (its signature can only be checked
// once the master key, and so the receipt key, is known).
func parseEscrow(blob []byte) (*signedEscrow, *escrowRecord, *api.Transcript, error) {
	var se signedEscrow
	var rec escrowRecord
	var tr api.Transcript
	if err := wire.Unmarshal(blob, &se); err != nil {
		return nil, nil, nil, errors.New("the stored DRK escrow is malformed")
	}
	if err := wire.Unmarshal(se.Record, &rec); err != nil || rec.Format != escrowFormat {
		return nil, nil, nil, errors.New("the stored DRK escrow is malformed")
	}
	if err := wire.Unmarshal(rec.Transcript, &tr); err != nil {
		return nil, nil, nil, errors.New("the stored DRK escrow is malformed")
	}
	return &se, &rec, &tr, nil
}

// recovery is the state of an enclave started in recovery mode.
type recovery struct {
	identity wire.PrivateKey // temporary, until the cluster identity is back
	key      *drk.RecoveryKey
	signed   *signedEscrow
	escrow   *escrowRecord
	tr       *api.Transcript
	mu       sync.Mutex
}

// startRecovery loads the escrow and serves recovery methods.
func (e *Enclave) startRecovery(ctx context.Context, link *hostlink.Link) error {
	obj, err := link.Get(ctx, kindEscrow, escrowID)
	if errors.Is(err, hostlink.ErrNotFound) {
		return errors.New("recovery mode, but the store holds no DRK escrow: nothing to recover from")
	}
	if err != nil {
		return fmt.Errorf("loading the DRK escrow: %w", err)
	}
	se, rec, tr, err := parseEscrow(obj.Blob)
	if err != nil {
		return err
	}
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		return err
	}
	rk, err := drk.NewRecoveryKey()
	if err != nil {
		return err
	}
	e.rec.Store(&recovery{identity: id, key: rk, signed: se, escrow: rec, tr: tr})
	e.serve(id, map[string]method{
		"system_recovery_attest": e.systemRecoveryAttest,
		"system_recover":         e.systemRecover,
		"system_ping":            e.systemPing,
	})
	e.log.Warn("RECOVERY MODE: waiting for DRK shares", "threshold", tr.Threshold, "holders", tr.Count, "recovery_identity", id.Public().String())
	return nil
}

func (r *recovery) info() api.RecoveryInfo {
	h := sha256.Sum256(r.key.Public())
	return api.RecoveryInfo{RecoveryKeyHash: h[:], DRKFingerprint: r.tr.DRKFingerprint, ClusterIdentity: r.tr.ClusterIdentity, Threshold: r.tr.Threshold, Count: r.tr.Count}
}

// systemRecoveryAttest(nonce) → api.RecoveryAttestation: a document whose
// public key is the temporary identity and whose user data is the
// api.RecoveryInfo, and the recovery key it names.
func (e *Enclave) systemRecoveryAttest(_ context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p attestParams
	if err := wire.DecodeParams(req.Params, &p); err != nil || len(p.Nonce) > maxNonceLen {
		return nil, invalid("want [nonce bytes] with at most 512 bytes")
	}
	r := e.rec.Load()
	ud, err := wire.Marshal(r.info())
	if err != nil {
		return nil, err
	}
	doc, err := e.cfg.Attester.Attest(p.Nonce, ud, r.identity.Public().Bytes())
	if err != nil {
		return nil, err
	}
	return api.RecoveryAttestation{Document: doc, RecoveryKey: r.key.Public()}, nil
}

type recoverParams struct {
	_           struct{} `cbor:",toarray"`
	Submissions [][]byte
}

// systemRecover([[sealed share]...]) → api.RecoverResult. On any failure
// nothing is written and the enclave keeps waiting.
func (e *Enclave) systemRecover(ctx context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p recoverParams
	if err := wire.DecodeParams(req.Params, &p); err != nil || len(p.Submissions) > maxHolders {
		return nil, invalid("want [[sealed share]...] with at most 16 shares")
	}
	r := e.rec.Load()
	r.mu.Lock()
	defer r.mu.Unlock()
	if e.isBooted() {
		return nil, &wire.RPCError{Code: wire.CodeExists, Message: "already recovered"}
	}
	shares := make([]*drk.Share, 0, len(p.Submissions))
	defer func() {
		for _, s := range shares {
			s.Wipe()
		}
	}()
	for i, sub := range p.Submissions {
		s, err := r.key.OpenShare(sub, api.RecoveryContext(r.key.Public()))
		if err != nil {
			return nil, invalid(fmt.Sprintf("submission %d does not open with this enclave's recovery key", i+1))
		}
		shares = append(shares, s)
	}
	pub, err := drk.ParsePublicKey(r.escrow.DRK)
	if err != nil {
		return nil, errors.New("the stored DRK public key is malformed")
	}
	var commit drk.Commitment
	if err := commit.UnmarshalBinary(r.escrow.Commitment); err != nil {
		return nil, errors.New("the stored DRK commitment is malformed")
	}
	k, err := drk.Recover(pub, commit, shares)
	if err != nil {
		// drk's errors name counts and share indexes, never secrets.
		return nil, &wire.RPCError{Code: wire.CodeInvalidParams, Message: "the shares do not rebuild the DRK: " + err.Error()}
	}
	defer k.Wipe()
	mb, err := k.Open(escrowInfo(r.tr.ClusterIdentity, r.tr.MasterVersion), r.escrow.Escrowed)
	if err != nil {
		return nil, &wire.RPCError{Code: wire.CodeUnavailable, Message: "the escrowed master key does not open with the rebuilt DRK"}
	}
	mk, err := seal.MasterKeyFromBytes(mb)
	clear(mb)
	if err != nil {
		return nil, err
	}
	if err := checkRecovered(mk, r); err != nil {
		mk.Wipe()
		return nil, &wire.RPCError{Code: wire.CodeUnavailable, Message: err.Error()}
	}
	l, err := e.link()
	if err != nil {
		mk.Wipe()
		return nil, storageErr(err)
	}
	c, err := e.reseal(ctx, l, mk, r)
	if err != nil {
		mk.Wipe()
		return nil, fmt.Errorf("re-sealing the recovered master key: %w", err)
	}
	e.bootMu.Lock()
	err = e.useMaster(mk, c)
	e.bootMu.Unlock()
	if err != nil {
		return nil, err
	}
	r.key.Wipe()
	e.announceAll()
	e.log.Warn("RECOVERED: serving the cluster identity again", "cluster_identity", e.identity.Public().String())
	return api.RecoverResult{ClusterIdentity: e.identity.Public().Bytes()}, nil
}

// checkRecovered: the master key must derive the identity the escrow
// names, and its receipt key must verify the escrow's signature, so a
// runner that swapped in another escrow is caught before anything is
// written.
func checkRecovered(mk *seal.MasterKey, r *recovery) error {
	id, err := identityOf(mk)
	if err != nil || !bytes.Equal(id.Public().Bytes(), r.tr.ClusterIdentity) {
		return errors.New("the recovered master key does not derive the escrowed cluster identity")
	}
	rk, err := mk.ReceiptKey()
	if err != nil {
		return err
	}
	defer clear(rk)
	if !ed25519.Verify(rk.Public().(ed25519.PublicKey), append([]byte(api.EscrowContext), r.signed.Record...), r.signed.Signature) {
		return errors.New("the escrow was not signed by the recovered cluster")
	}
	return nil
}

// reseal stores the master key sealed by this enclave's sealer in place of
// the record the lost sealer made, keeping the cluster record (or, if the
// store lost master/current too, rebuilding it from the escrow, whose
// signature checkRecovered verified).
func (e *Enclave) reseal(ctx context.Context, l *hostlink.Link, mk *seal.MasterKey, r *recovery) (*cluster, error) {
	sealed, err := e.sealer.Seal(ctx, mk)
	if err != nil {
		return nil, err
	}
	rec, version, err := readMaster(ctx, l)
	var cr clusterRecord
	switch {
	case errors.Is(err, hostlink.ErrNotFound):
		cr = clusterRecord{Transcript: r.escrow.Transcript, DRK: r.escrow.DRK, Commitment: r.escrow.Commitment}
		obj, err := sealMaster(mk, sealerOf(e.sealer), sealed, 1, &cr)
		if err != nil {
			return nil, err
		}
		if err := l.Create(ctx, obj); err != nil {
			return nil, err
		}
		return newCluster(1, cr)
	case err != nil:
		// A record this enclave cannot read is replaced like a lost one
		// only if it is not the cluster's; that cannot be told, so stop.
		return nil, err
	}
	c, err := openCluster(mk, version, rec)
	if err != nil {
		return nil, err
	}
	obj, err := sealMaster(mk, sealerOf(e.sealer), sealed, version+1, &c.record)
	if err != nil {
		return nil, err
	}
	if err := l.Update(ctx, obj, version); err != nil {
		return nil, err
	}
	return newCluster(version+1, c.record)
}
