package enclave

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"errors"
	"fmt"
	"sync"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/hostlink"
	"github.com/niomon/niomon/internal/seal"
	"github.com/niomon/niomon/internal/wire"
)

// Genesis: a cluster is born in its DRK ceremony (DESIGN.md invariant 5).
//
// An enclave whose store holds no master key serves a temporary identity
// and three methods. The operator has the holders approve a genesis
// statement that names that identity (each holder checks the enclave's
// attestation first), then calls system_genesis with every holder's
// approval. The enclave makes the master key, the DRK, its shares (each
// encrypted to its holder's age recipient) and the escrow of the master
// key to the DRK, and answers with the shares and a transcript attested
// under the new cluster identity. It stores nothing yet. Only when the
// ceremony's client has checked that answer and kept the shares does it
// call system_genesis_confirm: then the master key (with the DRK in its
// own record) and the escrow are stored, and the cluster serves.
//
// So the master key never exists without its DRK; no app key decides who
// holds the DRK (every holder approves, with a key only they hold); an
// answer that does not reach its client leaves nothing behind; and one
// genesis enclave runs one ceremony (a retry is a new enclave process,
// with a new identity and new approvals).

// genesisState is an enclave waiting for its cluster's genesis.
type genesisState struct {
	identity wire.PrivateKey // temporary, until the cluster identity exists

	mu      sync.Mutex
	used    bool // system_genesis ran: approvals work once
	pending *pendingGenesis
}

// pendingGenesis is a genesis that answered and waits for its confirmation.
type pendingGenesis struct {
	mk           *seal.MasterKey
	sealedMaster []byte
	cluster      clusterRecord
	escrow       []byte // the signed escrow object
	trHash       [32]byte
}

// startGenesis serves the genesis methods under a temporary identity. A
// store that holds a DRK escrow but no master key is a cluster that lost
// its master record: a new genesis would replace the escrow, and the
// wallets with it, so it is refused with the way out.
func (e *Enclave) startGenesis(ctx context.Context, link *hostlink.Link) error {
	if _, err := link.Get(ctx, kindEscrow, escrowID); err == nil {
		return errors.New("the store holds a DRK escrow but no master key: recover the cluster with --recover (docs/disaster-recovery.md), " +
			"or move the store aside to make a new cluster")
	} else if !errors.Is(err, hostlink.ErrNotFound) {
		return fmt.Errorf("looking for a DRK escrow: %w", err)
	}
	id, err := wire.GeneratePrivateKey()
	if err != nil {
		return err
	}
	e.gen.Store(&genesisState{identity: id})
	e.serve(id, map[string]method{
		"system_genesis_attest":  e.systemGenesisAttest,
		"system_genesis":         e.systemGenesis,
		"system_genesis_confirm": e.systemGenesisConfirm,
		"system_ping":            e.systemPing,
	})
	e.log.Warn("GENESIS: this cluster has no master key yet; waiting for its DRK ceremony (docs/disaster-recovery.md)", "genesis_identity", id.Public().String())
	return nil
}

// systemGenesisAttest(nonce) → attestation document whose public key is
// the genesis identity: what holders check before they approve.
func (e *Enclave) systemGenesisAttest(_ context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p attestParams
	if err := wire.DecodeParams(req.Params, &p); err != nil || len(p.Nonce) > maxNonceLen {
		return nil, invalid("want [nonce bytes] with at most 512 bytes")
	}
	g := e.gen.Load()
	return e.cfg.Attester.Attest(p.Nonce, []byte(api.GenesisEnclaveTag), g.identity.Public().Bytes())
}

type ceremonyParams struct {
	_         struct{} `cbor:",toarray"`
	Statement []byte
	Approvals []api.Approval
}

// systemGenesis([statement, approvals]) → api.CeremonyResult.
func (e *Enclave) systemGenesis(_ context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p ceremonyParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [statement bytes, [approval...]]")
	}
	var st api.GenesisStatement
	if err := decodeStatement(p.Statement, &st); err != nil || st.Kind != api.KindGenesis {
		return nil, invalid("the statement is not a canonical genesis statement")
	}
	g := e.gen.Load()
	if !bytes.Equal(st.GenesisIdentity, g.identity.Public().Bytes()) {
		return nil, invalid("the statement is for another genesis enclave (its genesis identity differs)")
	}
	if err := validHolders(st.Threshold, st.Holders); err != nil {
		return nil, err
	}
	if err := validWitnesses(st.Witnesses, st.WitnessQuorum); err != nil {
		return nil, err
	}
	if len(st.Witnesses) == 0 && !e.cfg.Dev {
		// Without witnesses nothing tells an enclave that starts that the
		// store was rolled back (fresh.go).
		return nil, invalid("a cluster outside dev mode needs freshness witnesses")
	}
	// Every holder agrees to hold a share of this cluster's DRK.
	if err := checkApprovals(api.GenesisContext, p.Statement, p.Approvals, st.Holders, nil, 0); err != nil {
		return nil, err
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.used {
		return nil, &wire.RPCError{Code: wire.CodeExists, Message: "this genesis enclave has run its ceremony; for another, restart the enclave (new identity, new approvals)"}
	}
	g.used = true

	mk, err := seal.GenerateMasterKey()
	if err != nil {
		return nil, err
	}
	id, err := identityOf(mk)
	if err != nil {
		mk.Wipe()
		return nil, err
	}
	rk, err := mk.ReceiptKey()
	if err != nil {
		mk.Wipe()
		return nil, err
	}
	signer := &statementSigner{k: rk}
	defer signer.wipe()
	tr := api.Transcript{
		Kind: api.KindGenesis, ClusterIdentity: id.Public().Bytes(), Witnesses: st.Witnesses, WitnessQuorum: st.WitnessQuorum,
		Statement: p.Statement, Approvals: p.Approvals,
	}
	made, err := e.makeDRK(mk, signer, st.Threshold, st.Holders, &tr)
	if err != nil {
		mk.Wipe()
		return nil, err
	}
	sealed, err := e.sealer.Seal(context.Background(), mk)
	if err != nil {
		mk.Wipe()
		return nil, fmt.Errorf("sealing the master key: %w", err)
	}
	g.pending = &pendingGenesis{mk: mk, sealedMaster: sealed, cluster: made.cluster, escrow: made.escrow, trHash: sha256.Sum256(made.result.Transcript)}
	if made.result.Attestation, err = e.cfg.Attester.Attest(nil, g.pending.trHash[:], tr.ClusterIdentity); err != nil {
		return nil, err
	}
	e.log.Info("genesis ceremony answered; waiting for its confirmation", "cluster_identity", id.Public().String(), "threshold", st.Threshold, "holders", len(st.Holders))
	return made.result, nil
}

type confirmParams struct {
	_          struct{} `cbor:",toarray"`
	Transcript []byte   // SHA-256 of the transcript the client checked
}

// systemGenesisConfirm([transcript hash]) → cluster identity: store the
// escrow and the master key, and serve the cluster.
func (e *Enclave) systemGenesisConfirm(ctx context.Context, _ wire.Peer, req wire.Request) (any, error) {
	var p confirmParams
	if err := wire.DecodeParams(req.Params, &p); err != nil {
		return nil, invalid("want [transcript hash]")
	}
	g := e.gen.Load()
	g.mu.Lock()
	defer g.mu.Unlock()
	pg := g.pending
	if pg == nil {
		return nil, &wire.RPCError{Code: wire.CodeNotFound, Message: "no genesis waits for a confirmation"}
	}
	if !bytes.Equal(p.Transcript, pg.trHash[:]) {
		return nil, invalid("that is not the transcript of this genesis")
	}
	l, err := e.link()
	if err != nil {
		return nil, storageErr(err)
	}
	// The escrow first: a master key is never stored without it.
	if err := l.Create(ctx, &hostlink.Object{Kind: kindEscrow, ID: escrowID, Version: 1, Blob: pg.escrow}); err != nil {
		return nil, fmt.Errorf("storing the DRK escrow: %w", err)
	}
	const version = 1
	obj, err := sealMaster(pg.mk, sealerOf(e.sealer), pg.sealedMaster, version, &pg.cluster)
	if err != nil {
		return nil, err
	}
	if err := l.Create(ctx, obj); err != nil {
		return nil, fmt.Errorf("storing the master key: %w", err)
	}
	c, err := newCluster(version, pg.cluster)
	if err != nil {
		return nil, err
	}
	e.bootMu.Lock()
	err = e.useMaster(pg.mk, c)
	e.bootMu.Unlock()
	g.pending = nil
	if err != nil {
		return nil, err
	}
	e.announceAll()
	e.log.Warn("GENESIS DONE: serving the new cluster", "cluster_identity", e.identity.Public().String())
	return e.identity.Public().Bytes(), nil
}

// decodeStatement decodes a statement strictly and requires its canonical
// encoding, so that one statement has one byte string to approve.
func decodeStatement(b []byte, v any) error {
	if len(b) > maxStatement {
		return errors.New("statement too large")
	}
	if err := wire.Unmarshal(b, v); err != nil {
		return err
	}
	again, err := wire.Marshal(v)
	if err != nil || !bytes.Equal(again, b) {
		return errors.New("not canonical")
	}
	return nil
}

func validHolders(threshold int, hs []api.HolderSpec) error {
	n := len(hs)
	if n < 2 || n > maxHolders || threshold < 2 || threshold > n {
		return invalid(fmt.Sprintf("want 2..%d holders and a threshold of 2..holders", maxHolders))
	}
	for i, h := range hs {
		if h.Name == "" || len(h.Name) > maxHolderName || h.Recipient == "" || len(h.SigningKey) != ed25519.PublicKeySize {
			return invalid("each holder is a name (1..64 bytes), an age recipient and a 32-byte Ed25519 signing key")
		}
		for _, o := range hs[:i] {
			if o.Name == h.Name || bytes.Equal(o.SigningKey, h.SigningKey) || o.Recipient == h.Recipient {
				return invalid("holders must differ in name, recipient and signing key")
			}
		}
	}
	return nil
}

func validWitnesses(ws []api.WitnessSpec, quorum int) error {
	if len(ws) > maxWitnesses {
		return invalid(fmt.Sprintf("at most %d witnesses", maxWitnesses))
	}
	for i, w := range ws {
		if w.Name == "" || len(w.Name) > maxHolderName || len(w.Key) != ed25519.PublicKeySize {
			return invalid("each witness is a name (1..64 bytes) and a 32-byte Ed25519 key")
		}
		for _, o := range ws[:i] {
			if o.Name == w.Name || bytes.Equal(o.Key, w.Key) {
				return invalid("witnesses must differ in name and key")
			}
		}
	}
	if (len(ws) == 0 && quorum != 0) || (len(ws) > 0 && (quorum*2 <= len(ws) || quorum > len(ws))) {
		return invalid("the witness quorum must be more than half of the witnesses, and at most all of them")
	}
	return nil
}

// checkApprovals verifies approvals of statement b under context: every
// key in all must have approved, at least quorum keys of some must have,
// and no other key may appear.
func checkApprovals(context string, b []byte, approvals []api.Approval, all []api.HolderSpec, some []api.HolderSpec, quorum int) error {
	if len(approvals) > 2*maxHolders {
		return invalid("too many approvals")
	}
	msg := append([]byte(context), b...)
	approved := map[string]bool{}
	for _, a := range approvals {
		if len(a.Key) != ed25519.PublicKeySize || !ed25519.Verify(a.Key, msg, a.Signature) {
			return &wire.RPCError{Code: wire.CodeUnauthorized, Message: "an approval does not verify"}
		}
		approved[string(a.Key)] = true
	}
	known := map[string]bool{}
	for _, h := range all {
		known[string(h.SigningKey)] = true
		if !approved[string(h.SigningKey)] {
			return &wire.RPCError{Code: wire.CodeUnauthorized, Message: fmt.Sprintf("holder %q has not approved", h.Name)}
		}
	}
	n := 0
	for _, h := range some {
		known[string(h.SigningKey)] = true
		if approved[string(h.SigningKey)] {
			n++
		}
	}
	if n < quorum {
		return &wire.RPCError{Code: wire.CodeUnauthorized, Message: fmt.Sprintf("%d of the current holders approved; %d must", n, quorum)}
	}
	for k := range approved {
		if !known[k] {
			return &wire.RPCError{Code: wire.CodeUnauthorized, Message: "an approval is by a key that is no holder's"}
		}
	}
	return nil
}
