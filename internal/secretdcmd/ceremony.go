package secretdcmd

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
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/ceremony"
	"github.com/niomon/niomon/internal/drk"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

const ceremonyUsage = `secretd ceremony: the Disaster Recovery Key (docs/disaster-recovery.md).

Genesis (a new cluster is born in its DRK ceremony):
  secretd ceremony holder-key --out FILE
        (holder) make an age identity; prints the recipient and the signing key to give the operator
  secretd ceremony genesis-statement --server ADDR --identity GENESIS_B64 --key FILE
        --holder NAME=age1...=SIGNING_KEY (x n) [--threshold 3] [--witness NAME=KEY ... --witness-quorum K]
        ATTESTATION_FLAGS --out statement.json
        write the statement every holder approves
  secretd ceremony approve --statement statement.json --age-identity FILE ATTESTATION_FLAGS
        [--transcript transcript.json] --out approval.json
        (holder) check a statement (and the genesis enclave's attestation) and approve it
  secretd ceremony genesis --server ADDR --identity GENESIS_B64 --key FILE --statement statement.json
        --approval FILE (x n) ATTESTATION_FLAGS --out DIR
        make the cluster: master key, DRK, shares, escrow; check the answer, keep it, then confirm

DRK rotation (a quorum of the current holders and every new holder approve):
  secretd ceremony rotate-statement --server ADDR --identity CLUSTER_B64 --key FILE
        --holder NAME=age1...=SIGNING_KEY (x n) [--threshold 3] ATTESTATION_FLAGS --out statement.json
  secretd ceremony rotate --server ADDR --identity CLUSTER_B64 --key FILE --statement statement.json
        --approval FILE ... ATTESTATION_FLAGS --out DIR

Shares and recovery:
  secretd ceremony paper --share FILE.age --age-identity FILE
        (holder) print a share in its paper form, with its fingerprint
  secretd ceremony recovery-key --server ADDR --identity RECOVERY_B64 --key FILE ATTESTATION_FLAGS --out FILE
        fetch a recovering enclave's attested recovery key, for the holders
  secretd ceremony submit-share (--share FILE.age --age-identity FILE | --paper FILE)
        --recovery FILE ATTESTATION_FLAGS (--transcript transcript.json | --drk HEX) --out FILE
        (holder) check the recovering enclave yourself, then seal your share to it
  secretd ceremony recover --server ADDR --identity RECOVERY_B64 --key FILE ATTESTATION_FLAGS SUBMISSION...
        hand the sealed shares to the recovering enclave

ATTESTATION_FLAGS: --pcr I=HEX (repeat; a Nitro enclave needs PCR0, PCR1 and PCR2), or --allow-dev
to accept a dev enclave's document (signed by the public dev root: drills only).
`

func cmdCeremony(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, ceremonyUsage)
		return usagef("a ceremony step is required")
	}
	steps := map[string]func(context.Context, []string, io.Writer, io.Writer) error{
		"holder-key":        ceremonyHolderKey,
		"genesis-statement": ceremonyGenesisStatement,
		"approve":           ceremonyApprove,
		"genesis":           ceremonyGenesis,
		"rotate-statement":  ceremonyRotateStatement,
		"rotate":            ceremonyRotate,
		"paper":             ceremonyPaper,
		"recovery-key":      ceremonyRecoveryKey,
		"submit-share":      ceremonySubmitShare,
		"recover":           ceremonyRecover,
	}
	if f, ok := steps[args[0]]; ok {
		return f(ctx, args[1:], stdout, stderr)
	}
	switch args[0] {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, ceremonyUsage)
		return nil
	case "drk":
		return usagef("\"ceremony drk\" is gone: a cluster's DRK is made at its genesis (genesis-statement, approve, genesis), and replaced by rotation")
	}
	return usagef("unknown ceremony step %q", args[0])
}

// enclaveFlags are how a ceremony step reaches an enclave.
type enclaveFlags struct {
	server, identity, key string
}

func (f *enclaveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "127.0.0.1:9000", "runner address")
	fs.StringVar(&f.identity, "identity", "", "the enclave's identity (base64): the cluster identity, or the genesis_identity or recovery_identity the runner printed")
	fs.StringVar(&f.key, "key", "", "client key file allowed by the runner")
}

func (f *enclaveFlags) dial(ctx context.Context) (*secretd.Client, error) {
	if f.identity == "" || f.key == "" {
		return nil, usagef("--identity and --key are required")
	}
	key, err := secretd.LoadKeyFile(f.key)
	if err != nil {
		return nil, fmt.Errorf("--key: %w", err)
	}
	return secretd.Dial(ctx, f.server, secretd.Options{Identity: f.identity, Key: key, PoolSize: 1})
}

func (f *enclaveFlags) identityBytes() ([]byte, error) {
	id, err := wire.ParsePublicKey(f.identity)
	if err != nil {
		return nil, usagef("--identity: %v", err)
	}
	return id.Bytes(), nil
}

// attestFlags are what a step requires of an enclave's attestation.
type attestFlags struct {
	pcrs     pcrList
	allowDev bool
}

func (a *attestFlags) register(fs *flag.FlagSet) {
	fs.Var(&a.pcrs, "pcr", "I=HEX: the value PCR I must have (repeat; a Nitro enclave needs 0, 1 and 2)")
	fs.BoolVar(&a.allowDev, "allow-dev", false, "accept a dev enclave's attestation (public dev root): drills only")
}

// policy is the attestation policy the flags say. Outside dev, an enclave
// is trusted only for the measurements pinned.
func (a *attestFlags) policy() (*secretd.AttestationPolicy, error) {
	p := &secretd.AttestationPolicy{AllowDev: a.allowDev, PCRs: map[int][]byte(a.pcrs), MaxAge: 24 * time.Hour}
	if !a.allowDev {
		for _, i := range []int{0, 1, 2} {
			if _, ok := a.pcrs[i]; !ok {
				return nil, usagef("--pcr %d=HEX is required: a Nitro enclave is trusted only for the image, kernel and application it measures (or --allow-dev for a drill)", i)
			}
		}
	}
	return p, nil
}

type pcrList map[int][]byte

func (p *pcrList) String() string { return fmt.Sprint(len(*p), " PCRs") }
func (p *pcrList) Set(v string) error {
	i, h, ok := strings.Cut(v, "=")
	n, err := strconv.Atoi(i)
	if !ok || err != nil || n < 0 || n > 31 {
		return errors.New("want I=HEX")
	}
	b, err := hex.DecodeString(h)
	if err != nil || len(b) != 48 {
		return errors.New("a PCR is 48 bytes of hex (SHA-384)")
	}
	if *p == nil {
		*p = map[int][]byte{}
	}
	(*p)[n] = b
	return nil
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

func holderSpecs(list []string) ([]api.HolderSpec, error) {
	out := make([]api.HolderSpec, len(list))
	for i, v := range list {
		h, err := ceremony.HolderSpec(v)
		if err != nil {
			return nil, usagef("--holder %d: %v", i+1, err)
		}
		out[i] = h
	}
	return out, nil
}

// ceremonyHolderKey makes a holder's age identity (as age-keygen does), so
// holders need no other tool, and prints the two public halves the
// operator lists: the recipient shares are encrypted to, and the key
// approvals are signed with (derived from the same identity).
func ceremonyHolderKey(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony holder-key", stderr)
	out := fs.String("out", "", "file for the age identity (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required")
	}
	id, err := age.GenerateX25519Identity()
	if err != nil {
		return err
	}
	text := fmt.Sprintf("# Niomon DRK holder identity. Keep it secret; keep a backup.\n# public key: %s\n%s\n", id.Recipient(), id)
	if err := writeNew(*out, []byte(text)); err != nil {
		return err
	}
	return printHolder(stdout, id.String())
}

func printHolder(w io.Writer, identity string) error {
	rcpt, sk, err := drk.HolderKeys(identity)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "recipient: %s\n", rcpt)
	fmt.Fprintf(w, "signing_key: %s\n", base64.StdEncoding.EncodeToString(sk.Public().(ed25519.PublicKey)))
	fmt.Fprintf(w, "holder: NAME=%s=%s\n", rcpt, base64.StdEncoding.EncodeToString(sk.Public().(ed25519.PublicKey)))
	return nil
}

// readAgeIdentity reads the AGE-SECRET-KEY line of an identity file.
func readAgeIdentity(path string) (string, error) {
	if path == "" {
		return "", usagef("--age-identity is required")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	defer clear(b)
	for _, line := range strings.Split(string(b), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			return line, nil
		}
	}
	return "", errors.New("--age-identity: no AGE-SECRET-KEY line")
}

func ceremonyGenesisStatement(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony genesis-statement", stderr)
	var ef enclaveFlags
	ef.register(fs)
	var af attestFlags
	af.register(fs)
	var holders, witnesses stringList
	fs.Var(&holders, "holder", "NAME=age1…=SIGNING_KEY, as holder-key prints it; repeat once per holder (5 by default)")
	fs.Var(&witnesses, "witness", "NAME=KEY: a freshness witness's Ed25519 key (base64); repeat")
	threshold := fs.Int("threshold", 3, "shares needed to recover")
	quorum := fs.Int("witness-quorum", 0, "k: witnesses that acknowledge each change and that reads need (more than half; 2k-n-1 may collude, n-k be unreachable)")
	out := fs.String("out", "", "the statement file to write (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || len(holders) < 2 {
		return usagef("--out and at least two --holder are required")
	}
	hs, err := holderSpecs(holders)
	if err != nil {
		return err
	}
	ws := []api.WitnessSpec{}
	for i, v := range witnesses {
		w, err := ceremony.WitnessSpec(v)
		if err != nil {
			return usagef("--witness %d: %v", i+1, err)
		}
		ws = append(ws, w)
	}
	p, err := af.policy()
	if err != nil {
		return err
	}
	id, err := ef.identityBytes()
	if err != nil {
		return err
	}
	c, err := ef.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	sf, err := ceremony.NewGenesis(ctx, c, id, p, api.GenesisStatement{Threshold: *threshold, Holders: hs, Witnesses: ws, WitnessQuorum: *quorum})
	if err != nil {
		return err
	}
	if err := ceremony.WriteJSON(*out, sf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "statement: %s\n", *out)
	return nil
}

func ceremonyRotateStatement(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony rotate-statement", stderr)
	var ef enclaveFlags
	ef.register(fs)
	var af attestFlags
	af.register(fs)
	var holders stringList
	fs.Var(&holders, "holder", "a new holder NAME=age1…=SIGNING_KEY; repeat")
	threshold := fs.Int("threshold", 3, "shares needed to recover")
	out := fs.String("out", "", "the statement file to write (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || len(holders) < 2 {
		return usagef("--out and at least two --holder are required")
	}
	hs, err := holderSpecs(holders)
	if err != nil {
		return err
	}
	keys, err := ef.attestedKeys(ctx, &af)
	if err != nil {
		return err
	}
	id, _ := ef.identityBytes()
	sf, err := ceremony.NewRotation(id, keys.DRK, *threshold, hs)
	if err != nil {
		return err
	}
	if err := ceremony.WriteJSON(*out, sf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "statement: %s\ndrk_replaced: %x\n", *out, keys.DRK)
	return nil
}

// attestedKeys asks a running cluster for its attested keys and DRK.
func (f *enclaveFlags) attestedKeys(ctx context.Context, af *attestFlags) (*api.AttestedKeys, error) {
	p, err := af.policy()
	if err != nil {
		return nil, err
	}
	c, err := f.dial(ctx)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	nonce := make([]byte, 32)
	rand.Read(nonce)
	doc, err := c.Attest(ctx, nonce)
	if err != nil {
		return nil, err
	}
	id, err := f.identityBytes()
	if err != nil {
		return nil, err
	}
	d, err := secretd.VerifyDocument(p, doc, nonce, id)
	if err != nil {
		return nil, err
	}
	var keys api.AttestedKeys
	if err := wire.UnmarshalResult(d.UserData, &keys); err != nil || len(keys.DRK) != 32 {
		return nil, errors.New("the cluster's document names no DRK")
	}
	return &keys, nil
}

func ceremonyApprove(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony approve", stderr)
	var af attestFlags
	af.register(fs)
	statement := fs.String("statement", "", "the statement file the operator sent")
	identity := fs.String("age-identity", "", "your age identity file")
	transcript := fs.String("transcript", "", "rotation, as a current holder: your transcript.json (the DRK you hold a share of)")
	out := fs.String("out", "", "the approval file to write (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *statement == "" || *out == "" {
		return usagef("--statement and --out are required")
	}
	var sf ceremony.StatementFile
	if err := ceremony.ReadJSON(*statement, &sf); err != nil {
		return err
	}
	id, err := readAgeIdentity(*identity)
	if err != nil {
		return err
	}
	var e ceremony.Expect
	if sf.Kind == api.KindGenesis {
		if e.Policy, err = af.policy(); err != nil {
			return err
		}
	}
	if *transcript != "" {
		if e.DRK, err = transcriptDRK(*transcript); err != nil {
			return err
		}
	}
	a, summary, err := ceremony.Approve(&sf, id, e)
	if err != nil {
		return err
	}
	if err := ceremony.WriteJSON(*out, a); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "You approved:\n%s", summary)
	fmt.Fprintf(stdout, "approval: %s\n", *out)
	return nil
}

// transcriptDRK reads the DRK fingerprint of a transcript.json.
func transcriptDRK(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var t struct {
		DRK string `json:"drk_fingerprint"`
	}
	if err := json.Unmarshal(b, &t); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	fp, err := hex.DecodeString(t.DRK)
	if err != nil || len(fp) != 32 {
		return nil, fmt.Errorf("%s: no DRK fingerprint", path)
	}
	return fp, nil
}

func readApprovals(paths []string) ([]*ceremony.ApprovalFile, error) {
	out := make([]*ceremony.ApprovalFile, len(paths))
	for i, p := range paths {
		out[i] = new(ceremony.ApprovalFile)
		if err := ceremony.ReadJSON(p, out[i]); err != nil {
			return nil, err
		}
	}
	return out, nil
}

func ceremonyGenesis(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCeremony(ctx, "genesis", args, stdout, stderr)
}

func ceremonyRotate(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	return runCeremony(ctx, "rotate", args, stdout, stderr)
}

// runCeremony runs a genesis or a rotation: the answer is checked and
// written to --out before a genesis is confirmed, so a cluster never
// exists whose shares were not kept.
func runCeremony(ctx context.Context, step string, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony "+step, stderr)
	var ef enclaveFlags
	ef.register(fs)
	var af attestFlags
	af.register(fs)
	statement := fs.String("statement", "", "the statement file")
	var approvals stringList
	fs.Var(&approvals, "approval", "a holder's approval file; repeat")
	out := fs.String("out", "", "directory for the encrypted shares and the transcript (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *statement == "" || *out == "" || len(approvals) == 0 {
		return usagef("--statement, --out and the --approval files are required")
	}
	p, err := af.policy()
	if err != nil {
		return err
	}
	var sf ceremony.StatementFile
	if err := ceremony.ReadJSON(*statement, &sf); err != nil {
		return err
	}
	files, err := readApprovals(approvals)
	if err != nil {
		return err
	}
	if _, err := os.Stat(*out); err == nil {
		return fmt.Errorf("%s exists; a ceremony writes a new directory", *out)
	}
	c, err := ef.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var r *ceremony.Result
	if step == "genesis" {
		r, err = ceremony.Genesis(ctx, c, &sf, files, p)
	} else {
		r, err = ceremony.Rotate(ctx, c, &sf, files, p)
	}
	if err != nil {
		if step == "genesis" {
			return fmt.Errorf("%w (nothing was stored: restart the genesis enclave, and have the holders approve its new identity)", err)
		}
		return err
	}
	human, err := ceremony.Save(r, *out)
	if err != nil {
		return fmt.Errorf("keeping the shares: %w (nothing was stored: restart the genesis enclave and run the ceremony again)", err)
	}
	if step == "genesis" {
		id, err := ceremony.Confirm(ctx, c, r)
		if err != nil {
			return fmt.Errorf("confirming the genesis: %w (the shares in %s belong to no cluster unless a confirmation succeeds)", err, *out)
		}
		fmt.Fprintf(stdout, "cluster_identity: %s\n", base64.StdEncoding.EncodeToString(id))
	}
	_, err = stdout.Write(append(human, '\n'))
	return err
}

// readShare opens a holder's share from its age file or its paper form.
func readShare(shareFile, identityFile, paperFile string) (*drk.Share, error) {
	if paperFile != "" {
		b, err := os.ReadFile(paperFile)
		if err != nil {
			return nil, err
		}
		defer clear(b)
		return drk.ParsePaper(string(b))
	}
	if shareFile == "" || identityFile == "" {
		return nil, usagef("--share with --age-identity, or --paper, is required")
	}
	f, err := os.ReadFile(shareFile)
	if err != nil {
		return nil, err
	}
	identity, err := readAgeIdentity(identityFile)
	if err != nil {
		return nil, err
	}
	return drk.DecryptHolderShare(f, identity)
}

func ceremonyPaper(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony paper", stderr)
	share := fs.String("share", "", "your encrypted share (share-N-NAME.age)")
	identity := fs.String("age-identity", "", "your age identity file")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	s, err := readShare(*share, *identity, "")
	if err != nil {
		return err
	}
	defer s.Wipe()
	fp := s.Fingerprint()
	fmt.Fprintln(stdout, s.Paper())
	_, err = fmt.Fprintf(stdout, "share_fingerprint: %s\n", hex.EncodeToString(fp[:]))
	return err
}

// recoveryFile is what ceremony recovery-key writes for the holders: the
// recovering enclave's attestation document and the recovery key it
// names. Holders check it themselves; they need no client key.
type recoveryFile struct {
	Identity    []byte `json:"recovery_identity"`
	Document    []byte `json:"attestation"`
	RecoveryKey []byte `json:"recovery_key"`
}

func ceremonyRecoveryKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony recovery-key", stderr)
	var ef enclaveFlags
	ef.register(fs)
	var af attestFlags
	af.register(fs)
	out := fs.String("out", "", "the file to hand the holders (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" {
		return usagef("--out is required: the holders check this file themselves")
	}
	p, err := af.policy()
	if err != nil {
		return err
	}
	c, err := ef.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var ra api.RecoveryAttestation
	if err := c.Call(ctx, "system_recovery_attest", []any{[]byte(nil)}, &ra); err != nil {
		return err
	}
	id, err := ef.identityBytes()
	if err != nil {
		return err
	}
	rf := recoveryFile{Identity: id, Document: ra.Document, RecoveryKey: ra.RecoveryKey}
	info, err := checkRecoveryFile(&rf, p)
	if err != nil {
		return err
	}
	if err := ceremony.WriteJSON(*out, rf); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recovery_file: %s\n", *out)
	fmt.Fprintf(stdout, "drk_fingerprint: %s\n", hex.EncodeToString(info.DRKFingerprint))
	fmt.Fprintf(stdout, "cluster_identity: %s\n", base64.StdEncoding.EncodeToString(info.ClusterIdentity))
	fmt.Fprintf(stdout, "threshold: %d of %d\n", info.Threshold, info.Count)
	return nil
}

// checkRecoveryFile verifies a recovery file against p: the document is
// of an enclave p accepts, names the recovery identity, and its
// recovery info names the recovery key in the file.
func checkRecoveryFile(rf *recoveryFile, p *secretd.AttestationPolicy) (*api.RecoveryInfo, error) {
	d, err := secretd.VerifyDocument(p, rf.Document, nil, rf.Identity)
	if err != nil {
		return nil, fmt.Errorf("the recovering enclave: %w", err)
	}
	var info api.RecoveryInfo
	if err := wire.UnmarshalResult(d.UserData, &info); err != nil {
		return nil, errors.New("the recovering enclave's document carries no recovery info")
	}
	if h := sha256.Sum256(rf.RecoveryKey); !bytes.Equal(h[:], info.RecoveryKeyHash) {
		return nil, errors.New("the recovery key is not the one the enclave attested")
	}
	return &info, nil
}

func ceremonySubmitShare(_ context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony submit-share", stderr)
	var af attestFlags
	af.register(fs)
	share := fs.String("share", "", "your encrypted share (share-N-NAME.age)")
	identity := fs.String("age-identity", "", "your age identity file")
	paper := fs.String("paper", "", "a file holding your share's paper form, instead of --share")
	recovery := fs.String("recovery", "", "the recovery file the operator sent (from ceremony recovery-key)")
	transcript := fs.String("transcript", "", "your transcript.json: the DRK you hold a share of")
	drkHex := fs.String("drk", "", "instead of --transcript: the DRK fingerprint (hex)")
	out := fs.String("out", "", "where to write the sealed share (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *recovery == "" || *out == "" {
		return usagef("--recovery and --out are required")
	}
	var want []byte
	var err error
	switch {
	case *transcript != "":
		want, err = transcriptDRK(*transcript)
	case *drkHex != "":
		want, err = hex.DecodeString(*drkHex)
		if err == nil && len(want) != 32 {
			err = errors.New("--drk is 32 bytes of hex")
		}
	default:
		return usagef("--transcript or --drk is required: you check the DRK the enclave recovers")
	}
	if err != nil {
		return err
	}
	p, err := af.policy()
	if err != nil {
		return err
	}
	var rf recoveryFile
	if err := ceremony.ReadJSON(*recovery, &rf); err != nil {
		return err
	}
	info, err := checkRecoveryFile(&rf, p)
	if err != nil {
		return err
	}
	if !bytes.Equal(info.DRKFingerprint, want) {
		return fmt.Errorf("the enclave recovers DRK %x, not the one you hold a share of (%x): do not submit", info.DRKFingerprint, want)
	}
	s, err := readShare(*share, *identity, *paper)
	if err != nil {
		return err
	}
	defer s.Wipe()
	if d := s.DRK(); !bytes.Equal(d[:], want) {
		return fmt.Errorf("your share is of DRK %x, not %x", d[:], want)
	}
	sealed, err := drk.SealShareForRecovery(s, rf.RecoveryKey, api.RecoveryContext(rf.RecoveryKey))
	if err != nil {
		return err
	}
	if err := writeNew(*out, sealed); err != nil {
		return err
	}
	fp := s.Fingerprint()
	fmt.Fprintf(stdout, "sealed share %d (fingerprint %s) for cluster %s to %s\n", s.Index(), hex.EncodeToString(fp[:]), base64.StdEncoding.EncodeToString(info.ClusterIdentity), *out)
	return nil
}

func ceremonyRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony recover", stderr)
	var ef enclaveFlags
	ef.register(fs)
	var af attestFlags
	af.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usagef("name the sealed share files")
	}
	p, err := af.policy()
	if err != nil {
		return err
	}
	var subs [][]byte
	for _, path := range fs.Args() {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		subs = append(subs, b)
	}
	c, err := ef.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	// Check the enclave before handing it anything.
	var ra api.RecoveryAttestation
	if err := c.Call(ctx, "system_recovery_attest", []any{[]byte(nil)}, &ra); err != nil {
		return err
	}
	id, err := ef.identityBytes()
	if err != nil {
		return err
	}
	if _, err := checkRecoveryFile(&recoveryFile{Identity: id, Document: ra.Document, RecoveryKey: ra.RecoveryKey}, p); err != nil {
		return err
	}
	var res api.RecoverResult
	if err := c.Call(ctx, "system_recover", []any{subs}, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cluster_identity: %s\n", base64.StdEncoding.EncodeToString(res.ClusterIdentity))
	return nil
}
