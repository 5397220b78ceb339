package secretdcmd

import (
	"context"
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
	"path/filepath"
	"strings"
	"time"

	"filippo.io/age"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/drk"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

const ceremonyUsage = `secretd ceremony: the Disaster Recovery Key (docs/disaster-recovery.md).

  secretd ceremony holder-key --out FILE
        (holder) make an age identity; prints the recipient to give the operator
  secretd ceremony drk --server ADDR --identity B64 --key FILE --holder NAME=age1... (x n) [--threshold 3] --out DIR
        make the DRK in the enclave, split it, encrypt each share to its holder, escrow the master key
  secretd ceremony paper --share FILE.age --age-identity FILE
        (holder) print a share in its paper form
  secretd ceremony recovery-key --server ADDR --identity RECOVERY_B64 --key FILE
        print a recovering enclave's attested recovery key
  secretd ceremony submit-share (--share FILE.age --age-identity FILE | --paper FILE) --recovery-key B64 --out FILE
        (holder) seal your share to the recovering enclave
  secretd ceremony recover --server ADDR --identity RECOVERY_B64 --key FILE SUBMISSION...
        hand the sealed shares to the recovering enclave

Every command that talks to an enclave checks its attestation document first; --allow-dev accepts
a dev enclave's document (signed by the public dev root), for drills.
`

func cmdCeremony(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, ceremonyUsage)
		return usagef("a ceremony step is required")
	}
	switch args[0] {
	case "holder-key":
		return ceremonyHolderKey(args[1:], stdout, stderr)
	case "drk":
		return ceremonyDRK(ctx, args[1:], stdout, stderr)
	case "paper":
		return ceremonyPaper(args[1:], stdout, stderr)
	case "recovery-key":
		return ceremonyRecoveryKey(ctx, args[1:], stdout, stderr)
	case "submit-share":
		return ceremonySubmitShare(args[1:], stdout, stderr)
	case "recover":
		return ceremonyRecover(ctx, args[1:], stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, ceremonyUsage)
		return nil
	}
	return usagef("unknown ceremony step %q", args[0])
}

// enclaveFlags are how a ceremony step reaches an enclave.
type enclaveFlags struct {
	server, identity, key string
	allowDev              bool
}

func (f *enclaveFlags) register(fs *flag.FlagSet) {
	fs.StringVar(&f.server, "server", "127.0.0.1:9000", "runner address")
	fs.StringVar(&f.identity, "identity", "", "the enclave's identity (base64): the cluster identity, or a recovering enclave's recovery_identity")
	fs.StringVar(&f.key, "key", "", "client key file allowed by the runner")
	fs.BoolVar(&f.allowDev, "allow-dev", false, "accept a dev enclave's attestation (public dev root): drills only")
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

// verifyDoc checks an attestation document names publicKey (and nonce),
// against the Nitro root, or the dev root with --allow-dev.
func (f *enclaveFlags) verifyDoc(doc, publicKey, nonce []byte) (*attest.Document, error) {
	roots := attest.NitroRoots()
	if f.allowDev {
		roots = devattest.Roots()
	}
	d, err := attest.Verify(doc, attest.Policy{Roots: roots, Now: time.Now, PublicKey: publicKey, Nonce: nonce, MaxAge: 10 * time.Minute})
	if err != nil {
		return nil, fmt.Errorf("the enclave's attestation does not verify: %w", err)
	}
	return d, nil
}

// holderList is a repeatable --holder NAME=age1... flag.
type holderList [][]string

func (h *holderList) String() string { return fmt.Sprint(*h) }
func (h *holderList) Set(v string) error {
	name, rcpt, ok := strings.Cut(v, "=")
	if !ok || name == "" || !strings.HasPrefix(rcpt, "age1") {
		return errors.New("want NAME=age1…")
	}
	*h = append(*h, []string{name, rcpt})
	return nil
}

func ceremonyDRK(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony drk", stderr)
	var ef enclaveFlags
	ef.register(fs)
	var holders holderList
	fs.Var(&holders, "holder", "share holder NAME=age-recipient; repeat once per holder (5 by default)")
	threshold := fs.Int("threshold", 3, "shares needed to recover")
	out := fs.String("out", "", "directory for the encrypted shares and the transcript (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *out == "" || len(holders) < 2 {
		return usagef("--out and at least two --holder are required")
	}
	if err := os.Mkdir(*out, 0o700); err != nil {
		return err
	}
	c, err := ef.dial(ctx)
	if err != nil {
		return err
	}
	defer c.Close()
	var res api.CeremonyResult
	if err := c.Call(ctx, "system_drk_ceremony", []any{*threshold, [][]string(holders)}, &res); err != nil {
		return err
	}
	var tr api.Transcript
	if err := wire.UnmarshalResult(res.Transcript, &tr); err != nil {
		return fmt.Errorf("the enclave's transcript is malformed: %w", err)
	}
	id, _ := wire.ParsePublicKey(ef.identity)
	d, err := ef.verifyDoc(res.Attestation, id.Bytes(), nil)
	if err != nil {
		return err
	}
	if h := sha256.Sum256(res.Transcript); string(d.UserData) != string(h[:]) {
		return errors.New("the attestation does not cover this transcript")
	}
	if len(res.Shares) != len(tr.Holders) {
		return errors.New("the enclave returned a share count that does not match the transcript")
	}
	for i, h := range tr.Holders {
		name := fmt.Sprintf("share-%d-%s.age", h.Index, safeName(h.Name))
		if err := os.WriteFile(filepath.Join(*out, name), res.Shares[i], 0o600); err != nil {
			return err
		}
	}
	for name, b := range map[string][]byte{"transcript.cbor": res.Transcript, "attestation.cbor": res.Attestation} {
		if err := os.WriteFile(filepath.Join(*out, name), b, 0o644); err != nil {
			return err
		}
	}
	human := transcriptJSON(&tr, d)
	if err := os.WriteFile(filepath.Join(*out, "transcript.json"), human, 0o644); err != nil {
		return err
	}
	_, err = stdout.Write(append(human, '\n'))
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

// transcriptJSON is the printable transcript: what holders and auditors
// compare.
func transcriptJSON(tr *api.Transcript, d *attest.Document) []byte {
	type holder struct {
		Index            int    `json:"index"`
		Name             string `json:"name"`
		Recipient        string `json:"recipient"`
		ShareFingerprint string `json:"share_fingerprint"`
	}
	t := struct {
		ClusterIdentity string   `json:"cluster_identity"`
		KEM             string   `json:"kem"`
		DRKFingerprint  string   `json:"drk_fingerprint"`
		Threshold       int      `json:"threshold"`
		Count           int      `json:"count"`
		MasterVersion   uint64   `json:"master_version"`
		Time            string   `json:"time"`
		Holders         []holder `json:"holders"`
		Attestation     struct {
			ModuleID  string `json:"module_id"`
			Timestamp string `json:"timestamp"`
			PCR0      string `json:"pcr0"`
		} `json:"attestation"`
	}{
		ClusterIdentity: base64.StdEncoding.EncodeToString(tr.ClusterIdentity), KEM: tr.KEM,
		DRKFingerprint: hex.EncodeToString(tr.DRKFingerprint), Threshold: tr.Threshold, Count: tr.Count,
		MasterVersion: tr.MasterVersion, Time: time.Unix(tr.Time, 0).UTC().Format(time.RFC3339),
	}
	for _, h := range tr.Holders {
		t.Holders = append(t.Holders, holder{h.Index, h.Name, h.Recipient, hex.EncodeToString(h.ShareFingerprint)})
	}
	t.Attestation.ModuleID = d.ModuleID
	t.Attestation.Timestamp = d.Timestamp.UTC().Format(time.RFC3339)
	t.Attestation.PCR0 = hex.EncodeToString(d.PCRs[0])
	b, _ := json.MarshalIndent(t, "", "  ")
	return b
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
	idb, err := os.ReadFile(identityFile)
	if err != nil {
		return nil, err
	}
	defer clear(idb)
	var identity string
	for _, line := range strings.Split(string(idb), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			identity = line
		}
	}
	if identity == "" {
		return nil, errors.New("--age-identity: no AGE-SECRET-KEY line")
	}
	return drk.DecryptHolderShare(f, identity)
}

// ceremonyHolderKey makes a holder's age identity (as age-keygen does), so
// holders need no other tool.
func ceremonyHolderKey(args []string, stdout, stderr io.Writer) error {
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
	fmt.Fprintf(stdout, "recipient: %s\n", id.Recipient())
	return nil
}

func ceremonyPaper(args []string, stdout, stderr io.Writer) error {
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
	_, err = fmt.Fprintln(stdout, s.Paper())
	return err
}

func ceremonyRecoveryKey(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony recovery-key", stderr)
	var ef enclaveFlags
	ef.register(fs)
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	info, key, err := ef.recoveryInfo(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(stdout, "recovery_key: %s\n", base64.StdEncoding.EncodeToString(key))
	fmt.Fprintf(stdout, "drk_fingerprint: %s\n", hex.EncodeToString(info.DRKFingerprint))
	fmt.Fprintf(stdout, "cluster_identity: %s\n", base64.StdEncoding.EncodeToString(info.ClusterIdentity))
	fmt.Fprintf(stdout, "threshold: %d of %d\n", info.Threshold, info.Count)
	return nil
}

// recoveryInfo asks a recovering enclave for its attested recovery info
// and recovery key.
func (ef *enclaveFlags) recoveryInfo(ctx context.Context) (*api.RecoveryInfo, []byte, error) {
	c, err := ef.dial(ctx)
	if err != nil {
		return nil, nil, err
	}
	defer c.Close()
	nonce := make([]byte, 32)
	rand.Read(nonce)
	var ra api.RecoveryAttestation
	if err := c.Call(ctx, "system_recovery_attest", []any{nonce}, &ra); err != nil {
		return nil, nil, err
	}
	id, _ := wire.ParsePublicKey(ef.identity)
	d, err := ef.verifyDoc(ra.Document, id.Bytes(), nonce)
	if err != nil {
		return nil, nil, err
	}
	var info api.RecoveryInfo
	if err := wire.UnmarshalResult(d.UserData, &info); err != nil {
		return nil, nil, errors.New("the recovering enclave's document carries no recovery info")
	}
	if h := sha256.Sum256(ra.RecoveryKey); string(h[:]) != string(info.RecoveryKeyHash) {
		return nil, nil, errors.New("the recovery key is not the one the enclave attested")
	}
	return &info, ra.RecoveryKey, nil
}

func ceremonySubmitShare(args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony submit-share", stderr)
	share := fs.String("share", "", "your encrypted share (share-N-NAME.age)")
	identity := fs.String("age-identity", "", "your age identity file")
	paper := fs.String("paper", "", "a file holding your share's paper form, instead of --share")
	rk := fs.String("recovery-key", "", "the recovering enclave's recovery key (base64, from ceremony recovery-key)")
	out := fs.String("out", "", "where to write the sealed share (must not exist)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *rk == "" || *out == "" {
		return usagef("--recovery-key and --out are required")
	}
	key, err := base64.StdEncoding.DecodeString(*rk)
	if err != nil {
		return usagef("--recovery-key is not base64")
	}
	s, err := readShare(*share, *identity, *paper)
	if err != nil {
		return err
	}
	defer s.Wipe()
	sealed, err := drk.SealShareForRecovery(s, key, api.RecoveryContext(key))
	if err != nil {
		return err
	}
	if err := writeNew(*out, sealed); err != nil {
		return err
	}
	fp := s.Fingerprint()
	fmt.Fprintf(stdout, "sealed share %d (fingerprint %s) to %s\n", s.Index(), hex.EncodeToString(fp[:]), *out)
	return nil
}

func ceremonyRecover(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlagSet("ceremony recover", stderr)
	var ef enclaveFlags
	ef.register(fs)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	if fs.NArg() == 0 {
		return usagef("name the sealed share files")
	}
	// Check the enclave before handing it anything.
	if _, _, err := ef.recoveryInfo(ctx); err != nil {
		return err
	}
	var subs [][]byte
	for _, p := range fs.Args() {
		b, err := os.ReadFile(p)
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
	var res api.RecoverResult
	if err := c.Call(ctx, "system_recover", []any{subs}, &res); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "cluster_identity: %s\n", base64.StdEncoding.EncodeToString(res.ClusterIdentity))
	return nil
}
