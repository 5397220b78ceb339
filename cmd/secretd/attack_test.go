package main

import (
	"bytes"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/secretd"
	_ "modernc.org/sqlite"
)

// The attack tests play the operator against real secretd processes: it
// holds the app's static key, edits the runner's SQLite store on its own
// disk while the processes run, restarts them at will, and sees every
// stamped request the app relays; it holds no user credential. Each test
// is one way in that an earlier enclave let through; each must be refused.

// stack is an enclave process and its runner process on one data
// directory, restartable.
type stack struct {
	t        *testing.T
	dir      string
	data     string
	sock     string
	keyFile  string
	key      secretd.Key
	encArgs  []string
	runArgs  []string
	manual   bool     // no dev genesis: the test runs the ceremony
	witness  []string // addresses of the witness processes (newStackWithWitnesses)
	via      string   // set: the runner dials the enclave here (a tap in front of sock)
	enc, run *proc
	addr     string
	identity string
	genesis  string // the genesis identity, while the cluster does not exist
	sqlDB    *sql.DB
}

func newStack(t *testing.T, enclaveArgs ...string) *stack {
	return newStackWith(t, false, enclaveArgs...)
}

// newStackWith starts a stack; with manual, a new cluster waits for the
// test to run its genesis ceremony (s.genesis is its identity).
func newStackWith(t *testing.T, manual bool, enclaveArgs ...string) *stack {
	t.Helper()
	dir := shortTempDir(t)
	s := &stack{t: t, dir: dir, data: filepath.Join(dir, "data"), sock: "unix:" + filepath.Join(dir, "e.sock"),
		keyFile: filepath.Join(dir, "app.key"), encArgs: enclaveArgs, manual: manual}
	if code, _, stderr := cli(t, "keygen", "--out", s.keyFile); code != 0 {
		t.Fatal(stderr)
	}
	s.key = loadKey(t, s.keyFile)
	s.start()
	return s
}

func (s *stack) start() {
	s.t.Helper()
	listen := s.addr // a restart listens where the clients are
	if listen == "" {
		listen = "127.0.0.1:0"
	}
	s.enc = startProc(s.t, append([]string{"enclave", "--dev", "--listen", s.sock}, s.encArgs...)...)
	enclave := s.sock
	if s.via != "" {
		enclave = s.via
	}
	args := []string{"runner", "--dev", "--listen", listen, "--enclave", enclave, "--data", s.data, "--client-key", s.key.PublicKey()}
	if !s.manual {
		args = append(args, "--dev-genesis")
	}
	for _, w := range s.witness {
		args = append(args, "--witness", w)
	}
	s.run = startProc(s.t, append(args, s.runArgs...)...)
	s.addr = s.run.waitFor("listen")
	key, id := s.run.waitForOne("cluster_identity", "genesis_identity")
	if key == "genesis_identity" && s.manual {
		s.genesis = id
		return
	}
	if key == "genesis_identity" { // the runner runs a dev genesis
		id = s.run.waitFor("cluster_identity")
	}
	if s.identity != "" && id != s.identity {
		s.t.Fatalf("the cluster identity changed across a restart: %s, then %s", s.identity, id)
	}
	s.identity, s.genesis = id, ""
}

// newStackWithWitnesses starts n witness processes and a stack whose
// dev genesis fixes them (a majority acknowledges each change).
func newStackWithWitnesses(t *testing.T, n int, enclaveArgs ...string) (*stack, []*proc) {
	t.Helper()
	dir := shortTempDir(t)
	var addrs []string
	var procs []*proc
	for i := range n {
		w := startProc(t, "witness", "--listen", "127.0.0.1:0", "--data", filepath.Join(dir, fmt.Sprintf("witness-%d", i+1)))
		w.waitFor("witness_key")
		addrs = append(addrs, w.waitFor("listen"))
		procs = append(procs, w)
	}
	s := &stack{t: t, dir: dir, data: filepath.Join(dir, "data"), sock: "unix:" + filepath.Join(dir, "e.sock"),
		keyFile: filepath.Join(dir, "app.key"), encArgs: enclaveArgs, witness: addrs}
	if code, _, stderr := cli(t, "keygen", "--out", s.keyFile); code != 0 {
		t.Fatal(stderr)
	}
	s.key = loadKey(t, s.keyFile)
	s.start()
	return s, procs
}

// stop stops both processes.
func (s *stack) stop() {
	s.t.Helper()
	s.run.stop(syscall.SIGTERM)
	s.enc.stop(syscall.SIGTERM)
}

// restart stops both processes (the enclave forgets everything it held)
// and starts them again on the same store.
func (s *stack) restart() {
	s.t.Helper()
	s.stop()
	s.start()
}

func (s *stack) dial() *secretd.Client {
	s.t.Helper()
	return dial(s.t, s.addr, s.identity, s.key)
}

// db opens the runner's store as the operator does, beside the running
// runner.
func (s *stack) db() *sql.DB {
	s.t.Helper()
	if s.sqlDB != nil {
		return s.sqlDB
	}
	db, err := sql.Open("sqlite", filepath.Join(s.data, "secretd.db")+"?_pragma=busy_timeout(5000)")
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { db.Close() })
	s.sqlDB = db
	return db
}

// closeDB closes the operator's connection (before the file is replaced).
func (s *stack) closeDB() {
	if s.sqlDB != nil {
		s.sqlDB.Close()
		s.sqlDB = nil
	}
}

// row is a sealed object as the operator copies it.
type row struct {
	version int64
	blob    []byte
}

func (s *stack) takeRow(db *sql.DB, kind, id string) row {
	s.t.Helper()
	var r row
	if err := db.QueryRow(`SELECT version, blob FROM sealed_objects WHERE kind = ? AND id = ?`, kind, id).Scan(&r.version, &r.blob); err != nil {
		s.t.Fatalf("reading %s/%s: %v", kind, id, err)
	}
	return r
}

func (s *stack) deleteRow(db *sql.DB, kind, id string) {
	s.t.Helper()
	if _, err := db.Exec(`DELETE FROM sealed_objects WHERE kind = ? AND id = ?`, kind, id); err != nil {
		s.t.Fatal(err)
	}
}

func (s *stack) putRow(db *sql.DB, kind, id string, r row) {
	s.t.Helper()
	if _, err := db.Exec(`INSERT INTO sealed_objects (kind, id, version, blob) VALUES (?, ?, ?, ?)
		ON CONFLICT (kind, id) DO UPDATE SET version = excluded.version, blob = excluded.blob`, kind, id, r.version, r.blob); err != nil {
		s.t.Fatal(err)
	}
}

func apiKey(t *testing.T) *secretd.P256Key {
	t.Helper()
	k, err := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightExport, secretd.RightPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func ethAddressOf(t *testing.T, c *secretd.Client, oid string) (string, error) {
	t.Helper()
	a, err := c.Address(ctx(t), oid, secretd.AddrEth, "m/44'/60'/0'/0/0", "")
	return a.Address, err
}

// The operator parks Alice's wallet row, makes a wallet of its own at her
// oid with its own credential, has the enclave cache that wallet's
// policy, puts Alice's row back and exports with its own credential: the
// stamp must not be checked against one wallet while the mnemonic of
// another is exported.
func TestAttackExportingAParkedWalletWithTheOperatorsCachedPolicy(t *testing.T) {
	s := newStack(t)
	app := s.dial()
	alice, operator := apiKey(t), apiKey(t)
	if _, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, alice); err != nil {
		t.Fatal(err)
	}
	aliceMnemonic, err := app.Export(ctx(t), "alice", alice)
	if err != nil {
		t.Fatal(err)
	}
	s.restart() // the enclave holds nothing of Alice's wallet

	db := s.db()
	parked := s.takeRow(db, "wallet", "alice")
	s.deleteRow(db, "wallet", "alice")
	opApp := s.dial() // a client with no pin of alice's wallet
	if _, err := opApp.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, operator); err != nil {
		t.Fatalf("the operator's own wallet at the parked oid: %v", err)
	}
	if _, err := opApp.Policy(ctx(t), "alice"); err != nil { // cached in the enclave now
		t.Fatal(err)
	}
	s.putRow(db, "wallet", "alice", parked)

	got, err := opApp.Export(ctx(t), "alice", operator)
	if got == aliceMnemonic {
		t.Fatal("the operator exported Alice's mnemonic with its own credential")
	}
	if err == nil {
		t.Fatal("an export with the operator's credential of the wallet in the store succeeded")
	}
	// Alice's wallet is whole: once the enclave forgets the operator's
	// wallet (a restart), she exports her own phrase again.
	s.restart()
	if m, err := app.Export(ctx(t), "alice", alice); err != nil || m != aliceMnemonic {
		t.Fatalf("alice after the attempt: %v (her phrase: %t)", err, m == aliceMnemonic)
	}
}

// The operator makes a wallet at an oid, reads an address so the enclave
// derives and caches its keys, deletes the row, and lets the enclave's
// wallet entry be evicted. When the real user makes the wallet at that
// oid (the server uses the user id), their address and signatures must
// be their own wallet's, not the operator's.
func TestAttackARecreatedOIDIsNeverServedTheOldWalletsKeys(t *testing.T) {
	s := newStack(t, "--cache-size", "1")
	app := s.dial()
	operator, bob := apiKey(t), apiKey(t)
	if _, err := app.CreateWallet(ctx(t), "bob", secretd.CreateOptions{Words: 12}, operator); err != nil {
		t.Fatal(err)
	}
	opAddr, err := ethAddressOf(t, app, "bob")
	if err != nil {
		t.Fatal(err)
	}
	db := s.db()
	s.deleteRow(db, "wallet", "bob")
	// Another wallet's policy takes the one cache entry; derived keys
	// are cached apart and stay.
	if _, err := app.CreateWallet(ctx(t), "other", secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Policy(ctx(t), "other"); err != nil {
		t.Fatal(err)
	}

	user := s.dial() // the real user's app session: it never saw the operator's wallet
	r, err := user.CreateWallet(ctx(t), "bob", secretd.CreateOptions{Words: 12}, bob)
	if err != nil {
		t.Fatalf("bob's own wallet: %v", err)
	}
	if len(r.Credentials) != 1 || !bytes.Equal(r.Credentials[0].ID, bob.Credential().ID) {
		t.Fatal("bob's receipt does not list exactly his credential")
	}
	bobAddr, err := ethAddressOf(t, user, "bob")
	if err != nil {
		t.Fatal(err)
	}
	if bobAddr == opAddr {
		t.Fatal("bob's new wallet shows the operator's address: the old wallet's cached keys were served")
	}
	digest := sha256.Sum256([]byte("bob pays"))
	sig, err := user.Sign(ctx(t), "bob", secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, bob)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := gethcrypto.SigToPub(digest[:], sig.Signature)
	if err != nil {
		t.Fatal(err)
	}
	if signer := gethcrypto.PubkeyToAddress(*pub).Hex(); signer == opAddr || signer != bobAddr {
		t.Fatalf("bob's signature recovers to %s; his address is %s and the operator's %s", signer, bobAddr, opAddr)
	}
}

// The operator parks Alice's row and puts a wallet of its own at her oid
// (a restarted enclave knows nothing of hers). Its receipts and address
// statements are genuine, and name the same oid: Alice's client must
// still refuse to show its address as hers.
func TestAttackASwappedWalletAtTheSameOIDIsNotShownAsTheUsers(t *testing.T) {
	s := newStack(t)
	alice, operator := apiKey(t), apiKey(t)
	aliceApp := s.dial()
	if _, err := aliceApp.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, alice); err != nil {
		t.Fatal(err)
	}
	aliceAddr, err := ethAddressOf(t, aliceApp, "alice")
	if err != nil {
		t.Fatal(err)
	}
	db := s.db()
	parked := s.takeRow(db, "wallet", "alice")
	s.deleteRow(db, "wallet", "alice")
	s.restart()
	opApp := s.dial()
	if _, err := opApp.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, operator); err != nil {
		t.Fatalf("the operator's wallet at alice's oid: %v", err)
	}
	opAddr, err := ethAddressOf(t, opApp, "alice")
	if err != nil {
		t.Fatal(err)
	}
	if opAddr == aliceAddr {
		t.Fatal("setup: the operator's wallet has alice's address")
	}
	// Alice's client, pinned to her wallet since she made it, reconnects
	// to the restarted cluster and is shown the operator's wallet.
	if err := aliceApp.Ping(ctx(t)); err != nil { // the pool redials
		t.Log(err)
	}
	got, err := ethAddressOf(t, aliceApp, "alice")
	if err == nil || got == opAddr {
		t.Fatalf("alice's client showed %s (the operator's address), err %v; want a refusal", got, err)
	}
	if !errors.Is(err, secretd.ErrOtherWallet) {
		t.Fatalf("got %v, want ErrOtherWallet", err)
	}
	_, err = aliceApp.Policy(ctx(t), "alice")
	if !errors.Is(err, secretd.ErrOtherWallet) {
		t.Fatalf("alice's policy: got %v, want ErrOtherWallet", err)
	}
	// Her own row back: her own wallet again.
	s.putRow(db, "wallet", "alice", parked)
	s.restart()
	if got, err := ethAddressOf(t, aliceApp, "alice"); err != nil || got != aliceAddr {
		t.Fatalf("alice's wallet back: got %s, %v; want %s", got, err, aliceAddr)
	}
}

// holdBack is a stamper on the user's device whose request the app keeps
// instead of sending: Stamp records it and fails the call.
type holdBack struct {
	secretd.Stamper
	req []byte
}

var errHeld = errors.New("held back by the app")

func (h *holdBack) Stamp(req []byte) (*secretd.Stamp, error) {
	h.req = bytes.Clone(req)
	return nil, errHeld
}

// A relaying app holds back a user's import, lifts its key id, enc and
// ciphertext into an import of its own for the same oid with its own
// credential, and exports: it must not get the phrase.
func TestAttackAnAppLiftsAUsersImportCiphertextIntoItsOwnImport(t *testing.T) {
	s := newStack(t)
	app := s.dial()
	const phrase = "legal winner thank year wave sausage worth useful legal winner thank yellow"
	user := &holdBack{Stamper: apiKey(t)}
	if _, err := app.ImportWallet(ctx(t), "carol", phrase, secretd.CreateOptions{}, user); !errors.Is(err, errHeld) {
		t.Fatalf("setup: %v", err)
	}
	var p policy.ImportParams
	r, err := policy.Decode(user.req, &p)
	if err != nil {
		t.Fatal(err)
	}
	operator := apiKey(t)
	p.Credentials = []policy.Credential{operator.Credential()}
	nonce := make([]byte, 16)
	copy(nonce, "operator nonce 1")
	req, err := policy.Encode(policy.MethodImport, r.OID, p, r.Cluster, time.Now().UnixMilli(), nonce)
	if err != nil {
		t.Fatal(err)
	}
	st, err := operator.Stamp(req)
	if err != nil {
		t.Fatal(err)
	}
	err = app.Call(ctx(t), "hdwallet_import", []any{req, st}, nil)
	if err == nil {
		m, xerr := app.Export(ctx(t), "carol", operator)
		if m == phrase {
			t.Fatal("the app imported the user's phrase under its own credential and exported it")
		}
		t.Fatalf("the lifted import was accepted (export: %v)", xerr)
	}
	if !errors.Is(err, secretd.ErrInvalidParams) {
		t.Fatalf("got %v, want the import refused as invalid", err)
	}
	// The user's own import, sent, works.
	if _, err := app.ImportWallet(ctx(t), "carol", phrase, secretd.CreateOptions{}, apiKey(t)); err != nil {
		t.Fatalf("the user's own import: %v", err)
	}
}
