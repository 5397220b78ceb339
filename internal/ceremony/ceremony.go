// Package ceremony is the client side of secretd's Disaster Recovery Key
// ceremonies: the genesis that makes a cluster, and DRK rotations. It
// writes the statements holders approve, approves them on a holder's
// machine, runs a ceremony against an enclave and checks its answer
// before anything is kept. The enclave side is internal/enclave
// (genesis.go, escrow.go); docs/disaster-recovery.md is the runbook.
package ceremony

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/drk"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// StatementFile is what the operator hands every holder to approve. Its
// summary is for people to read; what a holder signs is Statement, which
// Approve decodes and shows itself.
type StatementFile struct {
	Kind        string `json:"kind"`
	Statement   []byte `json:"statement"`             // canonical CBOR of api.GenesisStatement or api.RotationStatement
	Attestation []byte `json:"attestation,omitempty"` // genesis: the genesis enclave's document
}

// ApprovalFile is one holder's approval of a statement.
type ApprovalFile struct {
	Kind      string `json:"kind"`
	Statement []byte `json:"statement_sha256"`
	Key       []byte `json:"key"`
	Signature []byte `json:"signature"`
}

func contextOf(kind string) (string, error) {
	switch kind {
	case api.KindGenesis:
		return api.GenesisContext, nil
	case api.KindDRKRotation:
		return api.RotationContext, nil
	}
	return "", fmt.Errorf("unknown statement kind %q", kind)
}

// HolderSpec reads "NAME=RECIPIENT=SIGNING_KEY" (the recipient and the
// base64 signing key that `secretd ceremony holder-key` prints).
func HolderSpec(s string) (api.HolderSpec, error) {
	parts := strings.Split(s, "=")
	// base64 may end in "=": rejoin what follows the recipient.
	if len(parts) < 3 || parts[0] == "" || !strings.HasPrefix(parts[1], "age1") {
		return api.HolderSpec{}, errors.New("want NAME=age1…=SIGNING_KEY (as holder-key prints them)")
	}
	key, err := base64.StdEncoding.DecodeString(strings.Join(parts[2:], "="))
	if err != nil || len(key) != ed25519.PublicKeySize {
		return api.HolderSpec{}, errors.New("the signing key is not 32 bytes of base64")
	}
	return api.HolderSpec{Name: parts[0], Recipient: parts[1], SigningKey: key}, nil
}

// WitnessSpec reads "NAME=KEY" (base64 Ed25519).
func WitnessSpec(s string) (api.WitnessSpec, error) {
	name, k, ok := strings.Cut(s, "=")
	key, err := base64.StdEncoding.DecodeString(k)
	if !ok || name == "" || err != nil || len(key) != ed25519.PublicKeySize {
		return api.WitnessSpec{}, errors.New("want NAME=KEY (a base64 Ed25519 key)")
	}
	return api.WitnessSpec{Name: name, Key: key}, nil
}

// NewGenesis asks the genesis enclave c (dialled to its genesis identity)
// for its attestation, checks it against p, and writes the statement
// every holder approves.
func NewGenesis(ctx context.Context, c *secretd.Client, genesisIdentity []byte, p *secretd.AttestationPolicy, st api.GenesisStatement) (*StatementFile, error) {
	nonce := make([]byte, 32)
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	var doc []byte
	if err := c.Call(ctx, "system_genesis_attest", []any{nonce}, &doc); err != nil {
		return nil, err
	}
	d, err := secretd.VerifyDocument(p, doc, nonce, genesisIdentity)
	if err != nil {
		return nil, fmt.Errorf("the genesis enclave: %w", err)
	}
	if string(d.UserData) != api.GenesisEnclaveTag {
		return nil, errors.New("the document is not a genesis enclave's")
	}
	st.Kind, st.GenesisIdentity = api.KindGenesis, genesisIdentity
	if st.Witnesses == nil {
		st.Witnesses = []api.WitnessSpec{}
	}
	b, err := wire.Marshal(st)
	if err != nil {
		return nil, err
	}
	return &StatementFile{Kind: api.KindGenesis, Statement: b, Attestation: doc}, nil
}

// NewRotation writes the statement of a DRK rotation of the cluster whose
// identity and current DRK fingerprint are given.
func NewRotation(clusterIdentity, currentDRK []byte, threshold int, holders []api.HolderSpec) (*StatementFile, error) {
	b, err := wire.Marshal(api.RotationStatement{Kind: api.KindDRKRotation, ClusterIdentity: clusterIdentity, DRK: currentDRK, Threshold: threshold, Holders: holders})
	if err != nil {
		return nil, err
	}
	return &StatementFile{Kind: api.KindDRKRotation, Statement: b}, nil
}

// Expect is what a holder requires of what they approve.
type Expect struct {
	// Policy checks the genesis enclave's attestation (its PCRs).
	Policy *secretd.AttestationPolicy
	// DRK, for a rotation, is the fingerprint of the DRK the holder holds
	// a share of now (from their transcript); nil for a holder new to the
	// cluster.
	DRK []byte
}

// Approve checks a statement on a holder's machine and signs it with the
// holder's key (derived from their age identity). It returns the
// approval and a description of what was approved, for the holder to
// read. A genesis statement must come with a document of a genesis
// enclave that passes e.Policy and names the statement's genesis
// identity, and must list the holder; a rotation must list the holder
// or (for a current holder) replace the DRK the holder expects.
func Approve(sf *StatementFile, ageIdentity string, e Expect) (*ApprovalFile, string, error) {
	ctxStr, err := contextOf(sf.Kind)
	if err != nil {
		return nil, "", err
	}
	recipient, sk, err := drk.HolderKeys(ageIdentity)
	if err != nil {
		return nil, "", err
	}
	pub := sk.Public().(ed25519.PublicKey)
	var summary strings.Builder
	listed := func(hs []api.HolderSpec) bool {
		for _, h := range hs {
			if h.Recipient == recipient && bytes.Equal(h.SigningKey, pub) {
				return true
			}
		}
		return false
	}
	switch sf.Kind {
	case api.KindGenesis:
		var st api.GenesisStatement
		if err := canonical(sf.Statement, &st); err != nil || st.Kind != api.KindGenesis {
			return nil, "", errors.New("not a canonical genesis statement")
		}
		if e.Policy == nil {
			return nil, "", errors.New("a genesis approval needs an attestation policy (the PCRs to expect)")
		}
		d, err := secretd.VerifyDocument(e.Policy, sf.Attestation, nil, st.GenesisIdentity)
		if err != nil {
			return nil, "", fmt.Errorf("the genesis enclave: %w", err)
		}
		if string(d.UserData) != api.GenesisEnclaveTag {
			return nil, "", errors.New("the attestation is not a genesis enclave's")
		}
		if !listed(st.Holders) {
			return nil, "", errors.New("you are not among the statement's holders (your recipient and signing key)")
		}
		fmt.Fprintf(&summary, "genesis of a new cluster by enclave %s (module %s, PCR0 %x)\n", base64.StdEncoding.EncodeToString(st.GenesisIdentity), d.ModuleID, d.PCRs[0])
		describe(&summary, st.Threshold, st.Holders)
		for _, w := range st.Witnesses {
			fmt.Fprintf(&summary, "  witness %s %s\n", w.Name, base64.StdEncoding.EncodeToString(w.Key))
		}
		if len(st.Witnesses) > 0 {
			n, k := len(st.Witnesses), st.WitnessQuorum
			fmt.Fprintf(&summary, "  witness quorum %d of %d: tolerates %d colluding with the operator, %d unreachable\n", k, n, max(2*k-n-1, 0), n-k)
		}
	case api.KindDRKRotation:
		var st api.RotationStatement
		if err := canonical(sf.Statement, &st); err != nil || st.Kind != api.KindDRKRotation {
			return nil, "", errors.New("not a canonical rotation statement")
		}
		if e.DRK != nil && !bytes.Equal(e.DRK, st.DRK) {
			return nil, "", fmt.Errorf("the rotation replaces DRK %x, not the one you hold a share of (%x)", st.DRK, e.DRK)
		}
		if e.DRK == nil && !listed(st.Holders) {
			return nil, "", errors.New("you are not among the new holders, and no current DRK was given (--transcript)")
		}
		fmt.Fprintf(&summary, "rotation of the DRK %x of cluster %s to\n", st.DRK, base64.StdEncoding.EncodeToString(st.ClusterIdentity))
		describe(&summary, st.Threshold, st.Holders)
	}
	h := sha256.Sum256(sf.Statement)
	return &ApprovalFile{Kind: sf.Kind, Statement: h[:], Key: pub, Signature: ed25519.Sign(sk, append([]byte(ctxStr), sf.Statement...))}, summary.String(), nil
}

func describe(w *strings.Builder, threshold int, hs []api.HolderSpec) {
	fmt.Fprintf(w, "  threshold %d of %d holders:\n", threshold, len(hs))
	for _, h := range hs {
		fmt.Fprintf(w, "  holder %s %s %s\n", h.Name, h.Recipient, base64.StdEncoding.EncodeToString(h.SigningKey))
	}
}

func canonical(b []byte, v any) error {
	if err := wire.Unmarshal(b, v); err != nil {
		return err
	}
	again, err := wire.Marshal(v)
	if err != nil || !bytes.Equal(again, b) {
		return errors.New("not canonical")
	}
	return nil
}

// Result is a ceremony's answer, checked.
type Result struct {
	Raw        api.CeremonyResult
	Transcript api.Transcript
	Document   *secretd.Document
}

// check verifies a ceremony answer: the transcript runs sf's statement
// with the approvals given, the attestation is of an enclave p accepts,
// names the transcript's cluster identity and covers the transcript, and
// there is one share per holder.
func check(sf *StatementFile, approvals []api.Approval, res api.CeremonyResult, p *secretd.AttestationPolicy) (*Result, error) {
	var tr api.Transcript
	if err := wire.UnmarshalResult(res.Transcript, &tr); err != nil {
		return nil, fmt.Errorf("the enclave's transcript is malformed: %w", err)
	}
	if tr.Kind != sf.Kind || !bytes.Equal(tr.Statement, sf.Statement) || len(tr.Approvals) != len(approvals) {
		return nil, errors.New("the transcript is not of the statement and approvals sent")
	}
	d, err := secretd.VerifyDocument(p, res.Attestation, nil, tr.ClusterIdentity)
	if err != nil {
		return nil, err
	}
	if h := sha256.Sum256(res.Transcript); !bytes.Equal(d.UserData, h[:]) {
		return nil, errors.New("the attestation does not cover this transcript")
	}
	if len(res.Shares) != len(tr.Holders) || tr.Count != len(tr.Holders) {
		return nil, errors.New("the enclave returned a share count that does not match the transcript")
	}
	return &Result{Raw: res, Transcript: tr, Document: d}, nil
}

func approvalsOf(files []*ApprovalFile, sf *StatementFile) ([]api.Approval, error) {
	h := sha256.Sum256(sf.Statement)
	out := make([]api.Approval, len(files))
	for i, a := range files {
		if a.Kind != sf.Kind || !bytes.Equal(a.Statement, h[:]) {
			return nil, fmt.Errorf("approval %d is of another statement", i+1)
		}
		out[i] = api.Approval{Key: a.Key, Signature: a.Signature}
	}
	return out, nil
}

// Genesis runs a genesis on the genesis enclave c and checks the answer
// against p. Nothing is stored until Confirm.
func Genesis(ctx context.Context, c *secretd.Client, sf *StatementFile, files []*ApprovalFile, p *secretd.AttestationPolicy) (*Result, error) {
	approvals, err := approvalsOf(files, sf)
	if err != nil {
		return nil, err
	}
	var res api.CeremonyResult
	if err := c.Call(ctx, "system_genesis", []any{sf.Statement, approvals}, &res); err != nil {
		return nil, err
	}
	return check(sf, approvals, res, p)
}

// Confirm tells the genesis enclave that the answer was checked and kept:
// it stores the cluster and serves it. It returns the cluster identity.
func Confirm(ctx context.Context, c *secretd.Client, r *Result) ([]byte, error) {
	h := sha256.Sum256(r.Raw.Transcript)
	var id []byte
	if err := c.Call(ctx, "system_genesis_confirm", []any{h[:]}, &id); err != nil {
		return nil, err
	}
	if !bytes.Equal(id, r.Transcript.ClusterIdentity) {
		return nil, errors.New("the enclave serves another identity than its transcript names")
	}
	return id, nil
}

// Rotate runs a DRK rotation on the cluster c and checks the answer.
func Rotate(ctx context.Context, c *secretd.Client, sf *StatementFile, files []*ApprovalFile, p *secretd.AttestationPolicy) (*Result, error) {
	approvals, err := approvalsOf(files, sf)
	if err != nil {
		return nil, err
	}
	var res api.CeremonyResult
	if err := c.Call(ctx, "system_drk_rotate", []any{sf.Statement, approvals}, &res); err != nil {
		return nil, err
	}
	return check(sf, approvals, res, p)
}

// Save writes a checked result into dir (which must not exist): one age
// file per holder, the transcript (CBOR and JSON) and the attestation.
// It returns the printable transcript.
func Save(r *Result, dir string) ([]byte, error) {
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, err
	}
	for i, h := range r.Transcript.Holders {
		name := fmt.Sprintf("share-%d-%s.age", h.Index, safeName(h.Name))
		if err := writeSynced(filepath.Join(dir, name), r.Raw.Shares[i], 0o600); err != nil {
			return nil, err
		}
	}
	human := TranscriptJSON(&r.Transcript, r.Document)
	for name, b := range map[string][]byte{"transcript.cbor": r.Raw.Transcript, "attestation.cbor": r.Raw.Attestation, "transcript.json": human} {
		if err := writeSynced(filepath.Join(dir, name), b, 0o644); err != nil {
			return nil, err
		}
	}
	return human, nil
}

func writeSynced(path string, b []byte, mode os.FileMode) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, mode)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

func safeName(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || r == '_' {
			return r
		}
		return '_'
	}, s)
}

// TranscriptJSON is the printable transcript: what holders and auditors
// compare.
func TranscriptJSON(tr *api.Transcript, d *secretd.Document) []byte {
	type holder struct {
		Index            int    `json:"index"`
		Name             string `json:"name"`
		Recipient        string `json:"recipient"`
		SigningKey       string `json:"signing_key"`
		ShareFingerprint string `json:"share_fingerprint"`
	}
	type witness struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	}
	t := struct {
		Kind            string    `json:"kind"`
		ClusterIdentity string    `json:"cluster_identity"`
		KEM             string    `json:"kem"`
		DRKFingerprint  string    `json:"drk_fingerprint"`
		Threshold       int       `json:"threshold"`
		Count           int       `json:"count"`
		MasterVersion   uint64    `json:"master_version"`
		Time            string    `json:"time"`
		Previous        string    `json:"previous,omitempty"`
		Holders         []holder  `json:"holders"`
		Witnesses       []witness `json:"witnesses"`
		WitnessQuorum   int       `json:"witness_quorum"`
		Approvals       int       `json:"approvals"`
		Attestation     struct {
			ModuleID  string `json:"module_id"`
			Timestamp string `json:"timestamp"`
			PCR0      string `json:"pcr0"`
		} `json:"attestation"`
	}{
		Kind: tr.Kind, ClusterIdentity: base64.StdEncoding.EncodeToString(tr.ClusterIdentity), KEM: tr.KEM,
		DRKFingerprint: hex.EncodeToString(tr.DRKFingerprint), Threshold: tr.Threshold, Count: tr.Count,
		MasterVersion: tr.MasterVersion, Time: time.Unix(tr.Time, 0).UTC().Format(time.RFC3339),
		Previous: hex.EncodeToString(tr.Previous), WitnessQuorum: tr.WitnessQuorum, Approvals: len(tr.Approvals),
		Witnesses: []witness{},
	}
	for _, h := range tr.Holders {
		t.Holders = append(t.Holders, holder{h.Index, h.Name, h.Recipient, base64.StdEncoding.EncodeToString(h.SigningKey), hex.EncodeToString(h.ShareFingerprint)})
	}
	for _, w := range tr.Witnesses {
		t.Witnesses = append(t.Witnesses, witness{w.Name, base64.StdEncoding.EncodeToString(w.Key)})
	}
	if d != nil {
		t.Attestation.ModuleID = d.ModuleID
		t.Attestation.Timestamp = d.Timestamp.UTC().Format(time.RFC3339)
		t.Attestation.PCR0 = hex.EncodeToString(d.PCRs[0])
	}
	b, _ := json.MarshalIndent(t, "", "  ")
	return b
}

// ReadJSON reads a statement or approval file.
func ReadJSON(path string, v any) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// WriteJSON writes a statement or approval file, which must not exist.
func WriteJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return writeSynced(path, append(b, '\n'), 0o644)
}
