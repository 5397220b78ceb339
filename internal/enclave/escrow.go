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
// The DRK ceremony makes the Disaster Recovery Key here, splits it k of n
// with Shamir's secret sharing (package drk: the escrow records each
// share's hash, so a wrong or short set of shares is detected and named),
// encrypts each share to its holder's age
// recipient, and escrows the master key to the DRK. The runner stores the
// escrow; nothing secret leaves in plaintext.
//
// Recovery: an enclave started in recovery mode has no master key. It
// serves a temporary identity and an ephemeral recovery key. Each holder
// opens their share on their own machine and seals it to that key; with
// k valid submissions the enclave rebuilds the DRK, opens the escrow,
// checks the master key derives the escrowed cluster identity, re-seals it
// for this enclave, and takes over the cluster identity. Until then it
// writes nothing.

const (
	kindEscrow   = "drk_escrow"
	escrowID     = "current"
	escrowFormat = 1
	// masterKeyVersion is the version of the master key; rotating it
	// (a later change) must escrow each new version before using it.
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

type ceremonyParams struct {
	_         struct{} `cbor:",toarray"`
	Threshold int
	Holders   [][]string // [name, age recipient]
}

// systemDRKCeremony([threshold, [[name, age recipient]...]]) →
// api.CeremonyResult. It runs once per cluster: a second ceremony would let
// whoever runs it hold a full set of shares, so rotating the DRK needs a
// quorum of the current holders (not implemented; refused).
func (e *Enclave) systemDRKCeremony(ctx context.Context, peer wire.Peer, req wire.Request) (any, error) {
	var p ceremonyParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [threshold int, [[name, age recipient]...]]")
	}
	n := len(p.Holders)
	if n < 2 || n > maxHolders || p.Threshold < 2 || p.Threshold > n {
		return nil, invalid(fmt.Sprintf("want 2..%d holders and a threshold of 2..holders", maxHolders))
	}
	for i, h := range p.Holders {
		if len(h) != 2 || h[0] == "" || len(h[0]) > 64 || h[1] == "" {
			return nil, invalid("each holder is [name (1..64 bytes), age recipient]")
		}
		for _, o := range p.Holders[:i] {
			if o[0] == h[0] {
				return nil, invalid("holder names must differ")
			}
		}
	}
	if e.escrowed.Load() {
		return nil, &wire.RPCError{Code: wire.CodeExists, Message: "this cluster already has a DRK; rotation needs the current holders and is not supported yet"}
	}
	split, err := drk.Generate(p.Threshold, n)
	if err != nil {
		return nil, err
	}
	defer func() {
		for _, s := range split.Shares {
			s.Wipe()
		}
	}()
	id := e.identity.Public().Bytes()
	mb := e.master.Bytes()
	escrowed, err := drk.Seal(split.Public, escrowInfo(id, masterKeyVersion), mb)
	clear(mb)
	if err != nil {
		return nil, err
	}
	tr := api.Transcript{
		ClusterIdentity: id, KEM: kemName, Threshold: p.Threshold, Count: n,
		MasterVersion: masterKeyVersion, Time: e.cfg.Now().Unix(),
	}
	fp := split.Public.Fingerprint()
	tr.DRKFingerprint = fp[:]
	res := api.CeremonyResult{}
	for i, h := range p.Holders {
		f, err := drk.EncryptShareForHolder(split.Shares[i], h[1])
		if err != nil {
			return nil, invalid(fmt.Sprintf("holder %q: not an age recipient", h[0]))
		}
		sf := split.Shares[i].Fingerprint()
		tr.Holders = append(tr.Holders, api.Holder{Index: split.Shares[i].Index(), Name: h[0], Recipient: h[1], ShareFingerprint: sf[:]})
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
	blob, err := wire.Marshal(signedEscrow{Record: rec, Signature: e.signer.escrow(rec)})
	if err != nil {
		return nil, err
	}
	l, err := e.link()
	if err != nil {
		return nil, storageErr(err)
	}
	if err := l.Create(ctx, &hostlink.Object{Kind: kindEscrow, ID: escrowID, Version: 1, Blob: blob}); err != nil {
		if errors.Is(err, hostlink.ErrExists) {
			return nil, &wire.RPCError{Code: wire.CodeExists, Message: "this cluster already has a DRK"}
		}
		return nil, storageErr(err)
	}
	e.escrowed.Store(true)
	h := sha256.Sum256(res.Transcript)
	if res.Attestation, err = e.cfg.Attester.Attest(nil, h[:], id); err != nil {
		return nil, err
	}
	e.log.Info("DRK ceremony done", "threshold", p.Threshold, "holders", n, "requested_by", peer.Key.String())
	return res, nil
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
	sealer   MasterSealer
	mu       sync.Mutex
}

// startRecovery loads the escrow and serves recovery methods.
func (e *Enclave) startRecovery(ctx context.Context, link *hostlink.Link, sealer MasterSealer) error {
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
	e.rec = &recovery{identity: id, key: rk, signed: se, escrow: rec, tr: tr, sealer: sealer}
	e.serve(id, map[string]method{
		"system_recovery_attest": e.systemRecoveryAttest,
		"system_recover":         e.systemRecover,
		"system_ping":            e.systemPing,
	})
	e.log.Warn("RECOVERY MODE: waiting for DRK shares", "threshold", tr.Threshold, "holders", tr.Count, "recovery_identity", id.Public().String())
	return nil
}

func (e *Enclave) recoveryInfo() api.RecoveryInfo {
	r := e.rec
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
	ud, err := wire.Marshal(e.recoveryInfo())
	if err != nil {
		return nil, err
	}
	doc, err := e.cfg.Attester.Attest(p.Nonce, ud, e.rec.identity.Public().Bytes())
	if err != nil {
		return nil, err
	}
	return api.RecoveryAttestation{Document: doc, RecoveryKey: e.rec.key.Public()}, nil
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
	r := e.rec
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
	if err := e.checkRecovered(mk, r); err != nil {
		mk.Wipe()
		return nil, &wire.RPCError{Code: wire.CodeUnavailable, Message: err.Error()}
	}
	l, err := e.link()
	if err != nil {
		mk.Wipe()
		return nil, storageErr(err)
	}
	if err := reseal(ctx, l, r.sealer, mk); err != nil {
		mk.Wipe()
		return nil, fmt.Errorf("re-sealing the recovered master key: %w", err)
	}
	e.bootMu.Lock()
	err = e.useMaster(ctx, l, mk)
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
func (e *Enclave) checkRecovered(mk *seal.MasterKey, r *recovery) error {
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

// reseal stores the master key sealed by this enclave's sealer, replacing
// the record the lost sealer made.
func reseal(ctx context.Context, l *hostlink.Link, sealer MasterSealer, mk *seal.MasterKey) error {
	sealed, err := sealer.Seal(ctx, mk)
	if err != nil {
		return err
	}
	blob, err := wire.Marshal(masterRecord{Sealer: sealer.Name(), Sealed: sealed})
	if err != nil {
		return err
	}
	obj, err := l.Get(ctx, kindMaster, masterID)
	switch {
	case errors.Is(err, hostlink.ErrNotFound):
		return l.Create(ctx, &hostlink.Object{Kind: kindMaster, ID: masterID, Version: 1, Blob: blob})
	case err != nil:
		return err
	}
	return l.Update(ctx, &hostlink.Object{Kind: kindMaster, ID: masterID, Version: obj.Version + 1, Blob: blob}, obj.Version)
}
