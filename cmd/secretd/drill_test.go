package main

import (
	"bytes"
	"crypto/hpke"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cloudflare/circl/group"
	"github.com/cloudflare/circl/secretsharing"
	"github.com/ethereum/go-ethereum/common"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/drk"
	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/secretd"
	_ "modernc.org/sqlite"
)

// cli runs a secretd command in-process, as an operator or a holder would
// from a shell, and returns its exit code and output.
func cli(t testing.TB, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func field(t *testing.T, out, key string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if v, ok := strings.CutPrefix(line, key+": "); ok {
			return v
		}
	}
	t.Fatalf("no %q line in %q", key, out)
	return ""
}

// storeSnapshot reads every sealed object of a SQLite store.
func storeSnapshot(t *testing.T, path string) map[string][]byte {
	t.Helper()
	db, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	rows, err := db.Query(`SELECT kind, id, version, blob FROM sealed_objects`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	out := map[string][]byte{}
	for rows.Next() {
		var kind, id string
		var v int64
		var blob []byte
		if err := rows.Scan(&kind, &id, &v, &blob); err != nil {
			t.Fatal(err)
		}
		out[kind+"/"+id] = append(binary.BigEndian.AppendUint64(nil, uint64(v)), blob...)
	}
	return out
}

type drillWallet struct {
	oid  string
	key  *secretd.P256Key
	addr common.Address
}

func signAndRecover(t *testing.T, c *secretd.Client, w drillWallet) common.Address {
	t.Helper()
	digest := sha256.Sum256([]byte("drill " + w.oid + time.Now().String()))
	r, err := c.Sign(ctx(t), w.oid, secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, w.key)
	if err != nil {
		t.Fatalf("%s: %v", w.oid, err)
	}
	pub, err := gethcrypto.SigToPub(digest[:], r.Signature)
	if err != nil {
		t.Fatal(err)
	}
	return gethcrypto.PubkeyToAddress(*pub)
}

// drillHolder is a DRK holder with an identity file on "their own machine".
type drillHolder struct {
	name, identityFile, spec string
	identity                 string
}

// newDrillHolders makes holders with ceremony holder-key, as holders do.
func newDrillHolders(t *testing.T, dir, prefix string, n int) []drillHolder {
	t.Helper()
	hs := make([]drillHolder, n)
	for i := range hs {
		h := drillHolder{name: fmt.Sprintf("%s%d", prefix, i+1), identityFile: filepath.Join(dir, fmt.Sprintf("%s-%d.agekey", prefix, i+1))}
		code, out, stderr := cli(t, "ceremony", "holder-key", "--out", h.identityFile)
		if code != 0 {
			t.Fatal(stderr)
		}
		h.spec = strings.Replace(field(t, out, "holder"), "NAME", h.name, 1)
		b, _ := os.ReadFile(h.identityFile)
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
				h.identity = line
			}
		}
		hs[i] = h
	}
	return hs
}

func holderArgs(hs []drillHolder) []string {
	var out []string
	for _, h := range hs {
		out = append(out, "--holder", h.spec)
	}
	return out
}

// approve has each holder approve statement on their own machine.
func approve(t *testing.T, dir, statement string, hs []drillHolder, extra ...string) []string {
	t.Helper()
	var out []string
	for _, h := range hs {
		path := filepath.Join(dir, fmt.Sprintf("approval-%s-%d.json", h.name, time.Now().UnixNano()))
		args := append([]string{"ceremony", "approve", "--statement", statement, "--age-identity", h.identityFile, "--allow-dev", "--out", path}, extra...)
		if code, _, stderr := cli(t, args...); code != 0 {
			t.Fatalf("%s approves: %s", h.name, stderr)
		}
		out = append(out, "--approval", path)
	}
	return out
}

// TestDisasterRecoveryDrill is the drill of docs/disaster-recovery.md as
// real processes: a cluster born in its genesis ceremony with five age
// holders, fifty wallets, a DRK rotation to a new holder set; then every
// enclave and the dev sealing key are destroyed, and a fresh enclave
// recovers the cluster from three of the new shares, each holder having
// checked the recovering enclave themselves.
func TestDisasterRecoveryDrill(t *testing.T) {
	dir := shortTempDir(t)
	data := filepath.Join(dir, "data")
	encSock := filepath.Join(dir, "enclave.sock")
	tapSock := filepath.Join(dir, "tap.sock")
	keyFile := filepath.Join(dir, "operator.key")
	if code, _, stderr := cli(t, "keygen", "--out", keyFile); code != 0 {
		t.Fatal(stderr)
	}
	appKey := loadKey(t, keyFile)
	holders := newDrillHolders(t, dir, "holder", 5)

	// 1. An enclave with no cluster. Everything between runner and
	// enclave crosses a tap.
	startCluster := func(mode ...string) (enc, run *proc, tp *tap) {
		enc = startProc(t, "enclave", "--dev", "--listen", "unix:"+encSock, "--log-level", "debug")
		waitForFile(t, encSock)
		os.Remove(tapSock)
		tp = startTap(t, "unix", tapSock, encSock)
		args := append([]string{"runner", "--dev", "--listen", "127.0.0.1:0", "--enclave", "unix:" + tapSock, "--data", data, "--client-key", appKey.PublicKey(), "--log-level", "debug"}, mode...)
		run = startProc(t, args...)
		return
	}
	enc, run, tap1 := startCluster()
	addr := run.waitFor("listen")
	genesisID := run.waitFor("genesis_identity")

	// 2. The genesis ceremony: the statement, five approvals, genesis.
	statement := filepath.Join(dir, "genesis-statement.json")
	args := append([]string{"ceremony", "genesis-statement", "--server", addr, "--identity", genesisID, "--key", keyFile, "--allow-dev", "--out", statement}, holderArgs(holders)...)
	if code, _, stderr := cli(t, args...); code != 0 {
		t.Fatalf("genesis-statement: %s", stderr)
	}
	ceremonyDir := filepath.Join(dir, "genesis")
	args = append([]string{"ceremony", "genesis", "--server", addr, "--identity", genesisID, "--key", keyFile, "--allow-dev", "--statement", statement, "--out", ceremonyDir}, approve(t, dir, statement, holders)...)
	code, transcript, stderr := cli(t, args...)
	if code != 0 {
		t.Fatalf("genesis: %s", stderr)
	}
	identity := field(t, transcript, "cluster_identity")
	for _, want := range []string{`"kind": "genesis"`, `"drk_fingerprint"`, `"holder3"`, `"share_fingerprint"`, `"signing_key"`, `"threshold": 3`, `"count": 5`, `"approvals": 5`, `"kem": "MLKEM768-X25519"`, `"module_id": "dev-`} {
		if !strings.Contains(transcript, want) {
			t.Fatalf("transcript lacks %s:\n%s", want, transcript)
		}
	}
	if got := run.waitFor("cluster_identity"); got != identity {
		t.Fatalf("the runner serves %s, the ceremony made %s", got, identity)
	}
	genesisDRK, err := transcriptDRK(filepath.Join(ceremonyDir, "transcript.json"))
	if err != nil {
		t.Fatal(err)
	}

	// 3. Fifty wallets, their addresses and a signature each.
	c := dial(t, addr, identity, appKey)
	wallets := make([]drillWallet, 50)
	keys := make([]*secretd.P256Key, 5)
	for i := range keys {
		k, err := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
		if err != nil {
			t.Fatal(err)
		}
		keys[i] = k
	}
	for i := range wallets {
		w := drillWallet{oid: fmt.Sprintf("user-%02d", i), key: keys[i%5]}
		if _, err := c.CreateWallet(ctx(t), w.oid, secretd.CreateOptions{Words: 12}, w.key); err != nil {
			t.Fatal(err)
		}
		a, err := c.Address(ctx(t), w.oid, secretd.AddrEth, "m/44'/60'/0'/0/0", "")
		if err != nil {
			t.Fatal(err)
		}
		w.addr = common.HexToAddress(a.Address)
		if got := signAndRecover(t, c, w); got != w.addr {
			t.Fatalf("%s signs as %s, want %s", w.oid, got, w.addr)
		}
		wallets[i] = w
	}
	c.Close()

	// 4. A DRK rotation: holders 3, 4 and 5 leave, three new ones join.
	// Three current holders (a quorum) and every holder of the new set
	// approve.
	newcomers := newDrillHolders(t, dir, "newcomer", 3)
	next := append(append([]drillHolder(nil), holders[:2]...), newcomers...)
	rotation := filepath.Join(dir, "rotation-statement.json")
	args = append([]string{"ceremony", "rotate-statement", "--server", addr, "--identity", identity, "--key", keyFile, "--allow-dev", "--out", rotation}, holderArgs(next)...)
	if code, _, stderr := cli(t, args...); code != 0 {
		t.Fatalf("rotate-statement: %s", stderr)
	}
	tr := filepath.Join(ceremonyDir, "transcript.json")
	current := approve(t, dir, rotation, holders[:2], "--transcript", tr) // holders 1 and 2 stay
	fresh := approve(t, dir, rotation, newcomers)
	// Two current holders are not a quorum.
	if code, _, stderr := cli(t, append(append([]string{"ceremony", "rotate", "--server", addr, "--identity", identity, "--key", keyFile, "--allow-dev", "--statement", rotation, "--out", filepath.Join(dir, "short")}, current...), fresh...)...); code == 0 || !strings.Contains(stderr, "2 of the current holders approved; 3 must") {
		t.Fatalf("a rotation approved by two current holders: exit %d, %s", code, stderr)
	}
	current = append(current, approve(t, dir, rotation, holders[3:4], "--transcript", tr)...) // and holder 4, who leaves
	rotatedDir := filepath.Join(dir, "rotated")
	code, transcript, stderr = cli(t, append(append([]string{"ceremony", "rotate", "--server", addr, "--identity", identity, "--key", keyFile, "--allow-dev", "--statement", rotation, "--out", rotatedDir}, current...), fresh...)...)
	if code != 0 {
		t.Fatalf("rotate: %s", stderr)
	}
	if !strings.Contains(transcript, `"kind": "drk_rotation"`) || !strings.Contains(transcript, `"newcomer2"`) || strings.Contains(transcript, `"holder4"`) {
		t.Fatalf("rotation transcript:\n%s", transcript)
	}
	rotatedDRK, err := transcriptDRK(filepath.Join(rotatedDir, "transcript.json"))
	if err != nil || bytes.Equal(rotatedDRK, genesisDRK) {
		t.Fatalf("the rotation kept the DRK (%v)", err)
	}
	// The cluster attests to the new DRK.
	c = dial(t, addr, identity, appKey)
	info, err := c.Info(ctx(t))
	if err != nil || !bytes.Equal(info.DRK, rotatedDRK) {
		t.Fatalf("the cluster names DRK %x (%v), want the rotated %x", info.DRK, err, rotatedDRK)
	}
	c.Close()
	shareFile := func(dir string, i int) string {
		m, _ := filepath.Glob(filepath.Join(dir, fmt.Sprintf("share-%d-*.age", i)))
		if len(m) != 1 {
			t.Fatalf("share %d: files %v", i, m)
		}
		return m[0]
	}

	// 5. The disaster: every enclave and the dev sealing key are gone.
	// Only the runner's store and the encrypted shares survive.
	run.stop(syscall.SIGTERM)
	enc.stop(syscall.SIGTERM)
	if err := os.Remove(filepath.Join(data, runner.DevSealingKeyFile)); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(data, "secretd.db")

	// 6. A fresh enclave in recovery mode; the operator fetches its
	// attested recovery key for the holders.
	enc2, run2, tap2 := startCluster("--recover")
	addr2 := run2.waitFor("listen")
	recID := run2.waitFor("recovery_identity")
	recovery := filepath.Join(dir, "recovery.json")
	code, out, stderr := cli(t, "ceremony", "recovery-key", "--server", addr2, "--identity", recID, "--key", keyFile, "--allow-dev", "--out", recovery)
	if code != 0 {
		t.Fatalf("recovery-key: %s", stderr)
	}
	if got := field(t, out, "cluster_identity"); got != identity {
		t.Fatalf("the escrow names identity %s, want %s", got, identity)
	}
	rotatedTranscript := filepath.Join(rotatedDir, "transcript.json")
	submit := func(i int) string {
		h := next[i-1]
		path := filepath.Join(dir, fmt.Sprintf("submission-%d-%d", i, time.Now().UnixNano()))
		code, _, stderr := cli(t, "ceremony", "submit-share", "--share", shareFile(rotatedDir, i), "--age-identity", h.identityFile,
			"--recovery", recovery, "--allow-dev", "--transcript", rotatedTranscript, "--out", path)
		if code != 0 {
			t.Fatalf("submit-share %d: %s", i, stderr)
		}
		return path
	}
	// A holder of the genesis DRK refuses: the enclave recovers another.
	if code, _, stderr := cli(t, "ceremony", "submit-share", "--share", shareFile(ceremonyDir, 5), "--age-identity", holders[4].identityFile,
		"--recovery", recovery, "--allow-dev", "--transcript", tr, "--out", filepath.Join(dir, "old-holder")); code == 0 || !strings.Contains(stderr, "not the one you hold a share of") {
		t.Fatalf("a holder of the replaced DRK: exit %d, %s", code, stderr)
	}
	// Share 3, altered by one bit of its value after decryption.
	altered := func() string {
		f, _ := os.ReadFile(shareFile(rotatedDir, 3))
		s, err := drk.DecryptHolderShare(f, next[2].identity)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.MarshalBinary()
		b[len(b)-3] ^= 1
		bad, err := drk.ParseShare(b)
		if err != nil {
			t.Fatalf("the altered share no longer parses (%v): alter another byte", err)
		}
		var rf struct {
			RecoveryKey []byte `json:"recovery_key"`
		}
		rb, _ := os.ReadFile(recovery)
		if err := json.Unmarshal(rb, &rf); err != nil {
			t.Fatal(err)
		}
		sealed, err := drk.SealShareForRecovery(bad, rf.RecoveryKey, api.RecoveryContext(rf.RecoveryKey))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "submission-3-altered")
		os.WriteFile(path, sealed, 0o600)
		return path
	}()

	// 8 (first). Too few shares, or a tampered one: refused, nothing changes.
	before := storeSnapshot(t, dbPath)
	for name, subs := range map[string][]string{
		"shares 1 and 3 only":         {submit(1), submit(3)},
		"shares 1, 3 (altered) and 5": {submit(1), altered, submit(5)},
	} {
		code, _, stderr := cli(t, append([]string{"ceremony", "recover", "--server", addr2, "--identity", recID, "--key", keyFile, "--allow-dev"}, subs...)...)
		if code == 0 || !strings.Contains(stderr, "do not rebuild the DRK") {
			t.Fatalf("%s: exit %d, %q; want a refusal naming the shares", name, code, stderr)
		}
		after := storeSnapshot(t, dbPath)
		if len(after) != len(before) {
			t.Fatalf("%s: the store changed", name)
		}
		for k, v := range before {
			if !bytes.Equal(after[k], v) {
				t.Fatalf("%s: %s changed", name, k)
			}
		}
	}

	// 7 (then). New shares 1, 3 and 5 recover the cluster.
	code, out, stderr = cli(t, "ceremony", "recover", "--server", addr2, "--identity", recID, "--key", keyFile, "--allow-dev", submit(1), submit(3), submit(5))
	if code != 0 {
		t.Fatalf("recover: %s", stderr)
	}
	if got := field(t, out, "cluster_identity"); got != identity {
		t.Fatalf("recovered identity %s, want %s", got, identity)
	}
	if got := run2.waitFor("cluster_identity"); got != identity {
		t.Fatalf("the runner reports identity %s, want %s", got, identity)
	}

	// 9. Every wallet: same address, and new signatures by the same key;
	// the recovered cluster still names the rotated DRK.
	c2 := dial(t, addr2, identity, appKey)
	for _, w := range wallets {
		a, err := c2.Address(ctx(t), w.oid, secretd.AddrEth, "m/44'/60'/0'/0/0", "")
		if err != nil || common.HexToAddress(a.Address) != w.addr {
			t.Fatalf("%s after recovery: %s (%v), want %s", w.oid, a.Address, err, w.addr)
		}
		if got := signAndRecover(t, c2, w); got != w.addr {
			t.Fatalf("%s after recovery signs as %s, want %s", w.oid, got, w.addr)
		}
	}
	if info, err := c2.Info(ctx(t)); err != nil || !bytes.Equal(info.DRK, rotatedDRK) {
		t.Fatalf("after recovery the cluster names DRK %x (%v), want %x", info.DRK, err, rotatedDRK)
	}
	c2.Close()
	run2.stop(syscall.SIGTERM)
	enc2.stop(syscall.SIGTERM)

	// 10. --recover left on: the master key opens, so the enclave boots
	// normally instead of starting another recovery.
	enc3, run3, _ := startCluster("--recover")
	run3.waitFor("listen")
	if got := run3.waitFor("cluster_identity"); got != identity {
		t.Fatalf("with --recover left on: identity %s, want %s", got, identity)
	}
	run3.stop(syscall.SIGTERM)
	enc3.stop(syscall.SIGTERM)

	// The ceremonies, the escrow and the recovery left no plaintext DRK,
	// share or master key in a file, a log or a runner message.
	var shareIDs []string
	var shareFiles []string
	for i, h := range next {
		shareIDs = append(shareIDs, h.identity)
		shareFiles = append(shareFiles, shareFile(rotatedDir, i+1))
	}
	secrets := drillSecrets(t, shareIDs, shareFiles, dbPath, identity)
	places := readTree(t, dir)
	for _, p := range []*proc{enc, run, enc2, run2} {
		places[strings.Join(p.cmd.Args[1:3], " ")+" log"] = p.stderr.Bytes()
	}
	places["runner↔enclave traffic, first cluster"] = tap1.bytes()
	places["runner↔enclave traffic, recovery"] = tap2.bytes()
	for name, secret := range secrets {
		for place, b := range places {
			if bytes.Contains(b, secret) {
				t.Errorf("%s found in %s", name, place)
			}
		}
	}
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
		return nil, err
	}
	return hex.DecodeString(t.DRK)
}

// drillSecrets are the plaintexts the drill must not leak: every share
// (binary, paper, value), the master key (opened here from the stored
// escrow with three shares, which is what a holder quorum can do), all
// raw and in hex and base64.
func drillSecrets(t *testing.T, identities, shareFiles []string, dbPath, identity string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var shares []*drk.Share
	for i, h := range identities {
		f, _ := os.ReadFile(shareFiles[i])
		s, err := drk.DecryptHolderShare(f, h)
		if err != nil {
			t.Fatal(err)
		}
		shares = append(shares, s)
		b, _ := s.MarshalBinary()
		out[fmt.Sprintf("share %d", i+1)] = b
		out[fmt.Sprintf("share %d paper", i+1)] = []byte(strings.Split(s.Paper(), "\n")[1])
		var fields []any
		drkFP := s.DRK()
		if err := cbor.Unmarshal(b, &fields); err == nil {
			for j, f := range fields {
				if v, ok := f.([]byte); ok && len(v) == 32 && !bytes.Equal(v, drkFP[:]) {
					out[fmt.Sprintf("share %d field %d", i+1, j)] = v
				}
			}
		}
	}
	// The escrow as the runner stores it: {record: {drk, commitment, escrowed, ...}, signature}.
	snap := storeSnapshot(t, dbPath)
	var signed struct {
		Record []byte `cbor:"record"`
	}
	var rec struct {
		DRK        []byte `cbor:"drk"`
		Commitment []byte `cbor:"commitment"`
		Escrowed   []byte `cbor:"escrowed"`
	}
	if err := cbor.Unmarshal(snap["drk_escrow/current"][8:], &signed); err != nil {
		t.Fatal(err)
	}
	if err := cbor.Unmarshal(signed.Record, &rec); err != nil {
		t.Fatal(err)
	}
	pub, err := drk.ParsePublicKey(rec.DRK)
	if err != nil {
		t.Fatal(err)
	}
	commit, err := drk.ParseCommitment(rec.Commitment)
	if err != nil {
		t.Fatal(err)
	}
	k, err := drk.Recover(pub, commit, shares[:3])
	if err != nil {
		t.Fatal(err)
	}
	id, _ := base64.StdEncoding.DecodeString(identity)
	info := binary.BigEndian.AppendUint64(append([]byte("niomon/secretd/v1/master-escrow\x00"), id...), 1)
	master, err := k.Open(info, rec.Escrowed)
	if err != nil {
		t.Fatalf("the holders' shares do not open the escrow: %v", err)
	}
	out["master key"] = master
	// The DRK's secret scalar (the HPKE IKM), rebuilt here with circl
	// from three share values, as the enclave does.
	parts := make([]secretsharing.Share, 3)
	for i, sh := range shares[:3] {
		b, _ := sh.MarshalBinary()
		var f []any
		if err := cbor.Unmarshal(b, &f); err != nil || len(f) != 6 {
			t.Fatalf("share encoding: %v", err)
		}
		v := group.P256.NewScalar()
		if err := v.UnmarshalBinary(f[5].([]byte)); err != nil {
			t.Fatal(err)
		}
		parts[i] = secretsharing.Share{ID: group.P256.NewScalar().SetUint64(uint64(sh.Index())), Value: v}
	}
	drkScalar, err := secretsharing.Recover(2, parts)
	if err != nil {
		t.Fatal(err)
	}
	if out["DRK secret"], err = drkScalar.MarshalBinary(); err != nil {
		t.Fatal(err)
	}
	// It is the DRK: it derives the escrow's public key.
	dk, err := hpke.MLKEM768X25519().DeriveKeyPair(out["DRK secret"])
	if err != nil || !bytes.Equal(dk.PublicKey().Bytes(), rec.DRK) {
		t.Fatalf("the rebuilt scalar does not derive the DRK public key (%v)", err)
	}
	for name, v := range out {
		if len(v) >= 16 {
			out[name+" (hex)"] = []byte(hex.EncodeToString(v))
			out[name+" (base64)"] = []byte(base64.StdEncoding.EncodeToString(v))
		}
	}
	names := make([]string, 0, len(out))
	for n := range out {
		names = append(names, n)
	}
	sort.Strings(names)
	if len(names) < 20 {
		t.Fatalf("only %d secrets to scan for", len(names))
	}
	return out
}
