package main

import (
	"bytes"
	"context"
	"crypto/hpke"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"filippo.io/age"
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
func cli(t *testing.T, args ...string) (int, string, string) {
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

// TestDisasterRecoveryDrill is the drill of docs/disaster-recovery.md as
// real processes: a cluster, a ceremony with five age holders, fifty
// wallets; then every enclave and the dev sealing key are destroyed, and a
// fresh enclave recovers the cluster from shares 1, 3 and 5.
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

	// Five holders, each with an age identity on "their own machine".
	holders := make([]*age.X25519Identity, 5)
	holderArgs := []string{}
	for i := range holders {
		id, err := age.GenerateX25519Identity()
		if err != nil {
			t.Fatal(err)
		}
		holders[i] = id
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("holder-%d.agekey", i+1)), []byte(id.String()+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		holderArgs = append(holderArgs, "--holder", fmt.Sprintf("holder%d=%s", i+1, id.Recipient()))
	}

	// 1. A cluster. Everything between runner and enclave crosses a tap.
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
	identity := run.waitFor("cluster_identity")

	// 2. The ceremony.
	ceremonyDir := filepath.Join(dir, "ceremony")
	args := append([]string{"ceremony", "drk", "--server", addr, "--identity", identity, "--key", keyFile, "--allow-dev", "--out", ceremonyDir}, holderArgs...)
	code, transcript, stderr := cli(t, args...)
	if code != 0 {
		t.Fatalf("ceremony: %s", stderr)
	}
	for _, want := range []string{`"drk_fingerprint"`, `"holder3"`, `"share_fingerprint"`, `"threshold": 3`, `"count": 5`, `"kem": "MLKEM768-X25519"`, `"module_id": "dev-`} {
		if !strings.Contains(transcript, want) {
			t.Fatalf("transcript lacks %s:\n%s", want, transcript)
		}
	}
	// A second ceremony would hand a full set of shares to whoever asks.
	if code, _, _ := cli(t, append([]string{"ceremony", "drk", "--server", addr, "--identity", identity, "--key", keyFile, "--allow-dev", "--out", filepath.Join(dir, "again")}, holderArgs...)...); code == 0 {
		t.Fatal("a second ceremony ran; want it refused")
	}
	shareFile := func(i int) string {
		m, _ := filepath.Glob(filepath.Join(ceremonyDir, fmt.Sprintf("share-%d-*.age", i)))
		if len(m) != 1 {
			t.Fatalf("share %d: files %v", i, m)
		}
		return m[0]
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

	// 4. The disaster: every enclave and the dev sealing key are gone.
	// Only the runner's store and the encrypted shares survive.
	run.stop(syscall.SIGTERM)
	enc.stop(syscall.SIGTERM)
	if err := os.Remove(filepath.Join(data, runner.DevSealingKeyFile)); err != nil {
		t.Fatal(err)
	}
	dbPath := filepath.Join(data, "secretd.db")

	// 5. A fresh enclave in recovery mode.
	enc2, run2, tap2 := startCluster("--recover")
	addr2 := run2.waitFor("listen")
	recID := run2.waitFor("recovery_identity")
	code, out, stderr := cli(t, "ceremony", "recovery-key", "--server", addr2, "--identity", recID, "--key", keyFile, "--allow-dev")
	if code != 0 {
		t.Fatalf("recovery-key: %s", stderr)
	}
	recKey := field(t, out, "recovery_key")
	if got := field(t, out, "cluster_identity"); got != identity {
		t.Fatalf("the escrow names identity %s, want %s", got, identity)
	}
	submit := func(i int) string {
		path := filepath.Join(dir, fmt.Sprintf("submission-%d-%d", i, time.Now().UnixNano()))
		code, _, stderr := cli(t, "ceremony", "submit-share", "--share", shareFile(i), "--age-identity", filepath.Join(dir, fmt.Sprintf("holder-%d.agekey", i)), "--recovery-key", recKey, "--out", path)
		if code != 0 {
			t.Fatalf("submit-share %d: %s", i, stderr)
		}
		return path
	}
	// Share 3, altered by one bit of its value after decryption.
	altered := func() string {
		f, _ := os.ReadFile(shareFile(3))
		s, err := drk.DecryptHolderShare(f, holders[2].String())
		if err != nil {
			t.Fatal(err)
		}
		b, _ := s.MarshalBinary()
		b[len(b)-3] ^= 1
		bad, err := drk.ParseShare(b)
		if err != nil {
			t.Fatalf("the altered share no longer parses (%v): alter another byte", err)
		}
		rk, _ := base64.StdEncoding.DecodeString(recKey)
		sealed, err := drk.SealShareForRecovery(bad, rk, api.RecoveryContext(rk))
		if err != nil {
			t.Fatal(err)
		}
		path := filepath.Join(dir, "submission-3-altered")
		os.WriteFile(path, sealed, 0o600)
		return path
	}()

	// 7 (first). Too few shares, or a tampered one: refused, nothing changes.
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

	// 5 (then). Shares 1, 3 and 5 recover the cluster.
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

	// 6. Every wallet: same address, and new signatures by the same key.
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
	c2.Close()
	run2.stop(syscall.SIGTERM)
	enc2.stop(syscall.SIGTERM)

	// The ceremony, the escrow and the recovery left no plaintext DRK,
	// share or master key in a file, a log or a runner message.
	secrets := drillSecrets(t, holders, shareFile, dbPath, identity)
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

// drillSecrets are the plaintexts the drill must not leak: every share
// (binary, paper, value), the master key (opened here from the stored
// escrow with three shares, which is what a holder quorum can do), all
// raw and in hex and base64.
func drillSecrets(t *testing.T, holders []*age.X25519Identity, shareFile func(int) string, dbPath, identity string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	var shares []*drk.Share
	for i, h := range holders {
		f, _ := os.ReadFile(shareFile(i + 1))
		s, err := drk.DecryptHolderShare(f, h.String())
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

var _ = context.Background
