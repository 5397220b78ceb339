package main

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/ceremony"
	"github.com/niomon/niomon/internal/drk"
	"github.com/niomon/niomon/internal/runner"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// The DRK attacks: the operator tries to get the master key escrowed to
// holders it controls, to make the DRK useless, or to collect the shares
// in a recovery.

// operatorHolders are five holders whose identities the operator made.
func operatorHolders(t *testing.T, n int) ([]string, []api.HolderSpec) {
	t.Helper()
	dir := t.TempDir()
	hs := newDrillHolders(t, dir, "op", n)
	ids := make([]string, n)
	specs := make([]api.HolderSpec, n)
	for i, h := range hs {
		ids[i] = h.identity
		rcpt, sk, err := drk.HolderKeys(h.identity)
		if err != nil {
			t.Fatal(err)
		}
		specs[i] = api.HolderSpec{Name: h.name, Recipient: rcpt, SigningKey: sk.Public().(ed25519.PublicKey)}
	}
	return ids, specs
}

// A cluster's master key is escrowed once, at its birth, to the holders
// who approved it. The operator deletes the escrow row, restarts, starts
// a replica, and tries every way to have the master key escrowed to five
// holders of its own.
func TestAttackTheMasterKeyIsNeverEscrowedToTheOperatorsHolders(t *testing.T) {
	s := newStack(t)
	app := s.dial()
	alice := apiKey(t)
	if _, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, alice); err != nil {
		t.Fatal(err)
	}
	aliceAddr, err := ethAddressOf(t, app, "alice")
	if err != nil {
		t.Fatal(err)
	}
	info, err := app.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	genesisDRK := info.DRK

	db := s.db()
	s.deleteRow(db, "drk_escrow", "current")
	s.restart()
	app = s.dial()
	ids, mine := operatorHolders(t, 5)
	id, _ := base64.StdEncoding.DecodeString(s.identity)
	rot, err := ceremony.NewRotation(id, genesisDRK, 3, mine)
	if err != nil {
		t.Fatal(err)
	}
	var approvals []api.Approval
	for _, i := range ids {
		a, _, err := ceremony.Approve(rot, i, ceremony.Expect{})
		if err != nil {
			t.Fatal(err)
		}
		approvals = append(approvals, api.Approval{Key: a.Key, Signature: a.Signature})
	}
	gen, err := wire.Marshal(api.GenesisStatement{Kind: api.KindGenesis, GenesisIdentity: id, Threshold: 3, Holders: mine, Witnesses: []api.WitnessSpec{}})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		call func() error
		want error
	}{
		{"the escrow ceremony of old", func() error {
			return app.Call(ctx(t), "system_drk_ceremony", []any{3, [][]string{{"op", "age1x"}}}, nil)
		}, secretd.ErrUnknownMethod},
		{"a genesis of the running cluster", func() error {
			return app.Call(ctx(t), "system_genesis", []any{gen, approvals}, nil)
		}, secretd.ErrUnknownMethod},
		{"a rotation its own holders approved", func() error {
			return app.Call(ctx(t), "system_drk_rotate", []any{rot.Statement, approvals}, nil)
		}, secretd.ErrUnauthorized},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := tc.call(); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	// The cluster still names its genesis DRK, from its own record.
	if info, err := app.Info(ctx(t)); err != nil || !bytes.Equal(info.DRK, genesisDRK) {
		t.Fatalf("after the escrow row was deleted: DRK %x (%v), want %x", info.DRK, err, genesisDRK)
	}

	// A replica joined now knows the same DRK and offers no ceremony.
	joiner := &stack{t: t, dir: s.dir, data: s.data, sock: "unix:" + filepath.Join(s.dir, "j.sock"), keyFile: s.keyFile, key: s.key,
		runArgs: []string{"--join", s.addr, "--join-identity", s.identity, "--join-key", s.keyFile}}
	joiner.start()
	replica := joiner.dial()
	if info, err := replica.Info(ctx(t)); err != nil || !bytes.Equal(info.DRK, genesisDRK) {
		t.Fatalf("the replica: DRK %x (%v), want %x", info.DRK, err, genesisDRK)
	}
	if err := replica.Call(ctx(t), "system_drk_rotate", []any{rot.Statement, approvals}, nil); !errors.Is(err, secretd.ErrUnauthorized) {
		t.Fatalf("a rotation on the replica: got %v", err)
	}
	joiner.stop()

	// With master/current deleted too, the enclave makes a new cluster:
	// another identity, whose keys open none of the old wallets.
	s.deleteRow(db, "master", "current")
	s.manual = true
	s.restart()
	if s.genesis == "" {
		t.Fatal("an enclave with no master record served a cluster")
	}
	g, err := ceremony.Dev(ctx(t), s.addr, mustKey(t, s.genesis), s.key, filepath.Join(s.dir, "op-genesis"), nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	newID := base64.StdEncoding.EncodeToString(g)
	if newID == s.identity {
		t.Fatal("the new genesis made the same cluster identity")
	}
	fresh := dial(t, s.addr, newID, s.key)
	if a, err := ethAddressOf(t, fresh, "alice"); err == nil || a == aliceAddr {
		t.Fatalf("the operator's new cluster read alice's wallet: %s, %v", a, err)
	}
}

func mustKey(t *testing.T, b64 string) []byte {
	t.Helper()
	k, err := wire.ParsePublicKey(b64)
	if err != nil {
		t.Fatal(err)
	}
	return k.Bytes()
}

// No app key decides who holds the DRK: a genesis runs only with every
// holder's approval of a statement naming this genesis enclave.
func TestAttackGenesisRunsOnlyWithEveryHoldersApproval(t *testing.T) {
	s := newStackWith(t, true)
	if s.genesis == "" {
		t.Fatal("a new store: want a genesis enclave")
	}
	gid := mustKey(t, s.genesis)
	app0, err := secretd.Dial(ctx(t), s.addr, secretd.Options{Identity: s.genesis, Key: s.key, PoolSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer app0.Close()
	policy := &secretd.AttestationPolicy{AllowDev: true}
	ids, holders := operatorHolders(t, 5)
	sf, err := ceremony.NewGenesis(ctx(t), app0, gid, policy, api.GenesisStatement{Threshold: 3, Holders: holders})
	if err != nil {
		t.Fatal(err)
	}
	approvals := make([]*ceremony.ApprovalFile, len(ids))
	for i, id := range ids {
		if approvals[i], _, err = ceremony.Approve(sf, id, ceremony.Expect{Policy: policy}); err != nil {
			t.Fatal(err)
		}
	}
	other := &ceremony.StatementFile{Kind: sf.Kind, Attestation: sf.Attestation}
	var st api.GenesisStatement
	if err := wire.Unmarshal(sf.Statement, &st); err != nil {
		t.Fatal(err)
	}
	st.GenesisIdentity = bytes.Repeat([]byte{7}, 32)
	other.Statement, _ = wire.Marshal(st)
	_, strangerKey, _ := ed25519.GenerateKey(nil)
	stranger := &ceremony.ApprovalFile{Kind: sf.Kind, Statement: approvals[0].Statement, Key: strangerKey.Public().(ed25519.PublicKey),
		Signature: ed25519.Sign(strangerKey, append([]byte(api.GenesisContext), sf.Statement...))}
	forged := *approvals[4]
	forged.Signature = bytes.Clone(forged.Signature)
	forged.Signature[0] ^= 1
	tests := []struct {
		name      string
		statement *ceremony.StatementFile
		approvals []*ceremony.ApprovalFile
		want      string
	}{
		{"no approval", sf, nil, "has not approved"},
		{"four of five holders", sf, approvals[:4], `holder "op5" has not approved`},
		{"four holders and a stranger", sf, append(append([]*ceremony.ApprovalFile(nil), approvals[:4]...), stranger), "has not approved"},
		{"five holders and a stranger", sf, append(append([]*ceremony.ApprovalFile(nil), approvals...), stranger), "no holder's"},
		{"a forged signature", sf, append(append([]*ceremony.ApprovalFile(nil), approvals[:4]...), &forged), "does not verify"},
		{"a statement for another genesis enclave", other, approvals, "another genesis enclave"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var err error
			if tc.statement == other {
				var res api.CeremonyResult
				var as []api.Approval
				for _, a := range tc.approvals {
					as = append(as, api.Approval{Key: a.Key, Signature: a.Signature})
				}
				err = app0.Call(ctx(t), "system_genesis", []any{other.Statement, as}, &res)
			} else {
				_, err = ceremony.Genesis(ctx(t), app0, tc.statement, tc.approvals, policy)
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want a refusal saying %q", err, tc.want)
			}
		})
	}
	// Every approval: the cluster is born, and its transcript lists them.
	r, err := ceremony.Genesis(ctx(t), app0, sf, approvals, policy)
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Transcript.Approvals) != 5 || !bytes.Equal(r.Transcript.Statement, sf.Statement) {
		t.Fatal("the transcript does not carry the approved statement and its approvals")
	}
	if _, err := ceremony.Confirm(ctx(t), app0, r); err != nil {
		t.Fatal(err)
	}
}

// A genesis whose answer fails the ceremony's checks (here a PCR the
// enclave does not have) stores nothing: no escrow nobody holds, and the
// next genesis, with a restarted enclave, works.
func TestAttackAFailedGenesisCheckLeavesNothingBehind(t *testing.T) {
	s := newStackWith(t, true)
	hs := newDrillHolders(t, s.dir, "holder", 5)
	genesis := func(pcr ...string) (int, string, string) {
		statement := filepath.Join(s.dir, fmt.Sprintf("statement-%d.json", time.Now().UnixNano()))
		args := append([]string{"ceremony", "genesis-statement", "--server", s.addr, "--identity", s.genesis, "--key", s.keyFile, "--allow-dev", "--out", statement}, holderArgs(hs)...)
		if code, _, stderr := cli(t, args...); code != 0 {
			t.Fatalf("genesis-statement: %s", stderr)
		}
		args = append(append([]string{"ceremony", "genesis", "--server", s.addr, "--identity", s.genesis, "--key", s.keyFile, "--allow-dev", "--statement", statement,
			"--out", filepath.Join(s.dir, fmt.Sprintf("out-%d", time.Now().UnixNano()))}, pcr...), approve(t, s.dir, statement, hs)...)
		return cli(t, args...)
	}
	wrong := strings.Repeat("ab", 48)
	code, _, stderr := genesis("--pcr", "0="+wrong)
	if code == 0 || !strings.Contains(stderr, "PCR") {
		t.Fatalf("a genesis whose attestation does not match: exit %d, %s", code, stderr)
	}
	db := s.db()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM sealed_objects WHERE kind IN ('master', 'drk_escrow')`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("the failed genesis stored %d objects (%v)", n, err)
	}
	// The same enclave runs no second genesis: approvals work once.
	code, _, stderr = genesis()
	if code == 0 || !strings.Contains(stderr, "restart the enclave") {
		t.Fatalf("a second genesis on one enclave: exit %d, %s", code, stderr)
	}
	s.restart()
	code, out, stderr := genesis()
	if code != 0 {
		t.Fatalf("the genesis after a restart: %s", stderr)
	}
	if got := s.run.waitFor("cluster_identity"); got != field(t, out, "cluster_identity") {
		t.Fatalf("the runner serves %s", got)
	}
}

// In a recovery the operator hands the holders a recovery file. Holders
// check it themselves: a key the enclave did not attest, an enclave of
// another measurement, or one recovering another DRK gets no share.
func TestAttackHoldersSealSharesOnlyToTheEnclaveTheyChecked(t *testing.T) {
	s := newStack(t)
	app := s.dial()
	info, err := app.Info(ctx(t))
	if err != nil {
		t.Fatal(err)
	}
	s.stop()
	if err := os.Remove(filepath.Join(s.data, runner.DevSealingKeyFile)); err != nil {
		t.Fatal(err)
	}
	s.runArgs = []string{"--recover"}
	s.enc = startProc(t, "enclave", "--dev", "--listen", s.sock)
	s.run = startProc(t, "runner", "--dev", "--listen", s.addr, "--enclave", s.sock, "--data", s.data, "--client-key", s.key.PublicKey(), "--recover")
	s.run.waitFor("listen")
	recID := s.run.waitFor("recovery_identity")
	recovery := filepath.Join(s.dir, "recovery.json")
	if code, _, stderr := cli(t, "ceremony", "recovery-key", "--server", s.addr, "--identity", recID, "--key", s.keyFile, "--allow-dev", "--out", recovery); code != 0 {
		t.Fatal(stderr)
	}
	var rf struct {
		Identity    []byte `json:"recovery_identity"`
		Document    []byte `json:"attestation"`
		RecoveryKey []byte `json:"recovery_key"`
	}
	b, _ := os.ReadFile(recovery)
	if err := json.Unmarshal(b, &rf); err != nil {
		t.Fatal(err)
	}
	write := func(name string, v any) string {
		path := filepath.Join(s.dir, name)
		b, _ := json.Marshal(v)
		os.WriteFile(path, b, 0o644)
		return path
	}
	// The operator's own recovery key, in place of the attested one.
	opKey, err := drk.NewRecoveryKey()
	if err != nil {
		t.Fatal(err)
	}
	swapped := rf
	swapped.RecoveryKey = opKey.Public()
	// A dev document of another measurement naming the operator's key.
	otherDoc := func(drkFP []byte) []byte {
		att, err := devattest.New(bytes.Repeat([]byte{9}, 48))
		if err != nil {
			t.Fatal(err)
		}
		h := sha256Sum(opKey.Public())
		ud, _ := wire.Marshal(api.RecoveryInfo{RecoveryKeyHash: h, DRKFingerprint: drkFP, ClusterIdentity: mustKey(t, s.identity), Threshold: 3, Count: 5})
		d, err := att.Attest(nil, ud, rf.Identity)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
	forgedDoc := rf
	forgedDoc.Document, forgedDoc.RecoveryKey = otherDoc(info.DRK), opKey.Public()
	pcr0 := fmt.Sprintf("0=%x", testMeasurement(t))
	shares, _ := filepath.Glob(filepath.Join(s.data, "dev-genesis", "genesis-*", "share-1-*.age"))
	if len(shares) != 1 {
		t.Fatalf("dev genesis shares: %v", shares)
	}
	holderID := filepath.Join(s.data, "dev-genesis", "holder-1.agekey")
	tests := []struct {
		name, file string
		extra      []string
		want       string
	}{
		{"a recovery key the enclave did not attest", write("swapped.json", swapped), []string{"--drk", fmt.Sprintf("%x", info.DRK)}, "not the one the enclave attested"},
		{"an enclave of another measurement", write("forged.json", forgedDoc), []string{"--drk", fmt.Sprintf("%x", info.DRK), "--pcr", pcr0}, "PCR"},
		{"an enclave that recovers another DRK", recovery, []string{"--drk", strings.Repeat("11", 32)}, "not the one you hold a share of"},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			out := filepath.Join(s.dir, fmt.Sprintf("sub-%d", i))
			args := append([]string{"ceremony", "submit-share", "--share", shares[0], "--age-identity", holderID, "--recovery", tc.file, "--allow-dev", "--out", out}, tc.extra...)
			code, _, stderr := cli(t, args...)
			if code == 0 || !strings.Contains(stderr, tc.want) {
				t.Fatalf("exit %d, %q; want a refusal saying %q", code, stderr, tc.want)
			}
			if _, err := os.Stat(out); err == nil {
				t.Fatal("a sealed share was written")
			}
		})
	}
	// The attested file, checked against the enclave's real measurement
	// and the DRK the holder holds: sealed.
	if code, _, stderr := cli(t, "ceremony", "submit-share", "--share", shares[0], "--age-identity", holderID, "--recovery", recovery, "--allow-dev",
		"--pcr", pcr0, "--drk", fmt.Sprintf("%x", info.DRK), "--out", filepath.Join(s.dir, "sub-ok")); code != 0 {
		t.Fatalf("the genuine recovery file: %s", stderr)
	}
}

func testMeasurement(t *testing.T) []byte {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	m, err := devattest.Measure(exe)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func sha256Sum(b []byte) []byte {
	h := sha256.Sum256(b)
	return h[:]
}
