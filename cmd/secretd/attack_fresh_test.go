package main

import (
	"crypto/sha256"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/witness/wproto"
	"github.com/niomon/niomon/secretd"
)

// The freshness attacks: once a policy change is acknowledged, nothing the
// operator does with the store, the enclaves' restarts or the choice of
// replica makes the older policy usable again. The clusters here have
// three witness processes (two must acknowledge each change).

// revokedSetup makes alice's wallet with k1, adds k2 (version 2) and has
// k2 remove k1 (version 3). It returns the store's rows of the wallet and
// of its index bucket at version 1, and a copy of the whole store then.
type revoked struct {
	k1, k2     *secretd.P256Key
	walletV1   row
	bucketV1   row
	bucketID   string
	storeV1    string
	walletNow  row
	bucketNow  row
	signParams secretd.SignParams
}

func revokeSetup(t *testing.T, s *stack, app *secretd.Client) *revoked {
	t.Helper()
	r := &revoked{k1: apiKey(t), k2: apiKey(t)}
	digest := sha256.Sum256([]byte("pay"))
	r.signParams = secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}
	rc, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, r.k1)
	if err != nil {
		t.Fatal(err)
	}
	db := s.db()
	r.walletV1 = s.takeRow(db, "wallet", "alice")
	if err := db.QueryRow(`SELECT id FROM sealed_objects WHERE kind = 'index'`).Scan(&r.bucketID); err != nil {
		t.Fatal(err)
	}
	r.bucketV1 = s.takeRow(db, "index", r.bucketID)
	r.storeV1 = filepath.Join(s.dir, "store-at-v1.db")
	if _, err := db.Exec(`VACUUM INTO ?`, r.storeV1); err != nil {
		t.Fatal(err)
	}
	rc, err = app.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Add: []secretd.Credential{r.k2.Credential()}}, r.k1,
		[]secretd.Credential{r.k1.Credential(), r.k2.Credential()}, r.k2)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Remove: [][]byte{r.k1.Credential().ID}}, r.k2,
		[]secretd.Credential{r.k2.Credential()}); err != nil {
		t.Fatal(err)
	}
	r.walletNow, r.bucketNow = s.takeRow(db, "wallet", "alice"), s.takeRow(db, "index", r.bucketID)
	if r.walletNow.version != 3 || r.bucketNow.version != 3 {
		t.Fatalf("setup: wallet at %d, bucket at %d, want 3 and 3", r.walletNow.version, r.bucketNow.version)
	}
	return r
}

// refused asserts that k1, revoked, can neither sign nor export.
func (r *revoked) refused(t *testing.T, app *secretd.Client) {
	t.Helper()
	if _, err := app.Sign(ctx(t), "alice", r.signParams, r.k1); err == nil {
		t.Fatal("the revoked key signed")
	}
	if m, err := app.Export(ctx(t), "alice", r.k1); err == nil || m != "" {
		t.Fatal("the revoked key exported the mnemonic")
	}
}

// restoreStore replaces the stopped stack's store with a copy.
func restoreStore(t *testing.T, s *stack, from string) {
	t.Helper()
	s.closeDB()
	db := filepath.Join(s.data, "secretd.db")
	for _, suffix := range []string{"-wal", "-shm"} {
		os.Remove(db + suffix)
	}
	b, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(db, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

func TestAttackARolledBackStoreNeverRevivesARevokedKey(t *testing.T) {
	s, _ := newStackWithWitnesses(t, 3)
	app := s.dial()
	r := revokeSetup(t, s, app)
	r.refused(t, app)
	storeNow := filepath.Join(s.dir, "store-now.db")
	if _, err := s.db().Exec(`VACUUM INTO ?`, storeNow); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		restart bool
		attack  func()
	}{
		{"the wallet row rolled back, the enclave running (its cache warm)", false, func() {
			s.putRow(s.db(), "wallet", "alice", r.walletV1)
		}},
		{"the wallet row rolled back, the enclave restarted", true, func() {
			s.putRow(s.db(), "wallet", "alice", r.walletV1)
		}},
		{"the wallet and its index bucket rolled back together, restarted", true, func() {
			db := s.db()
			s.putRow(db, "wallet", "alice", r.walletV1)
			s.putRow(db, "index", r.bucketID, r.bucketV1)
		}},
		{"the whole store rolled back, every enclave restarted", true, func() {
			s.stop()
			restoreStore(t, s, r.storeV1)
			s.start()
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.attack()
			if tc.restart {
				s.restart()
			}
			r.refused(t, app)
			// The operator's way back is the current store: the user's
			// own key works again, and k1 still does not.
			s.stop()
			restoreStore(t, s, storeNow)
			s.start()
			if _, err := app.Sign(ctx(t), "alice", r.signParams, r.k2); err != nil {
				t.Fatalf("the user's key after the store was put back: %v", err)
			}
			r.refused(t, app)
		})
	}
}

// The operator deletes a wallet's row to make its oid free for a wallet
// of its own: the index still lists the wallet, so the oid is not free,
// and the wallet is unavailable rather than another one.
func TestAttackDeletingAWalletRowDoesNotFreeItsOID(t *testing.T) {
	s, _ := newStackWithWitnesses(t, 1)
	app := s.dial()
	if _, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, apiKey(t)); err != nil {
		t.Fatal(err)
	}
	s.deleteRow(s.db(), "wallet", "alice")
	s.restart()
	op := s.dial()
	if _, err := op.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, apiKey(t)); !errors.Is(err, secretd.ErrExists) {
		t.Fatalf("a wallet of the operator's at the oid: got %v, want ErrExists", err)
	}
	if _, err := op.Policy(ctx(t), "alice"); !errors.Is(err, secretd.ErrUnavailable) {
		t.Fatalf("the deleted wallet: got %v, want it unavailable", err)
	}
}

// A replica whose cache the operator keeps warm with the revoked key: a
// revocation made on the other replica is acknowledged only once the warm
// replica can no longer serve the old policy.
func TestAttackAReplicaKeptWarmDoesNotServeARevokedKey(t *testing.T) {
	a, _ := newStackWithWitnesses(t, 3)
	b := &stack{t: t, dir: a.dir, data: a.data, sock: "unix:" + filepath.Join(a.dir, "b.sock"), keyFile: a.keyFile, key: a.key, witness: a.witness,
		runArgs: []string{"--join", a.addr, "--join-identity", a.identity, "--join-key", a.keyFile}}
	b.start()
	onA, onB := a.dial(), b.dial()
	k1, k2, rc := aliceWithTwoKeys(t, onA)
	digest := sha256.Sum256([]byte("warm"))
	p := secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}
	// Keep B's cache warm with k1, right up to the revocation.
	stop := make(chan struct{})
	warmed := make(chan int)
	go func() {
		n := 0
		for {
			select {
			case <-stop:
				warmed <- n
				return
			default:
			}
			if _, err := onB.Sign(ctx(t), "alice", p, k1); err == nil {
				n++
			}
			time.Sleep(20 * time.Millisecond)
		}
	}()
	time.Sleep(200 * time.Millisecond)
	start := time.Now()
	if _, err := onA.UpdatePolicy(ctx(t), "alice", rc.Version, secretd.PolicyChange{Remove: [][]byte{k1.Credential().ID}}, k2,
		[]secretd.Credential{k2.Credential()}); err != nil {
		t.Fatal(err)
	}
	acked := time.Since(start)
	close(stop)
	if n := <-warmed; n == 0 {
		t.Fatal("setup: B never signed with k1 before the revocation")
	}
	for i := range 20 {
		if _, err := onB.Sign(ctx(t), "alice", p, k1); err == nil {
			t.Fatalf("B signed with the revoked key %d times after the revocation was acknowledged (it took %v)", i+1, acked)
		}
	}
	if _, err := onB.Sign(ctx(t), "alice", p, k2); err != nil {
		t.Fatalf("B with the user's key: %v", err)
	}
	t.Logf("the revocation waited %v for B's lease", acked)
}

// With its witnesses gone, an enclave serves no wallet once its lease
// has run out, rather than what the store holds.
func TestAttackWithoutItsWitnessesAnEnclaveServesNothing(t *testing.T) {
	s, ws := newStackWithWitnesses(t, 1)
	app := s.dial()
	k := apiKey(t)
	if _, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, k); err != nil {
		t.Fatal(err)
	}
	digest := sha256.Sum256([]byte("x"))
	p := secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}
	ws[0].stop(syscall.SIGTERM)
	deadline := time.Now().Add(15 * time.Second)
	var err error
	for time.Now().Before(deadline) {
		if _, err = app.Sign(ctx(t), "alice", p, k); err != nil {
			break
		}
		time.Sleep(250 * time.Millisecond)
	}
	if !errors.Is(err, secretd.ErrUnavailable) {
		t.Fatalf("15 s after its witness stopped: got %v, want the enclave to refuse", err)
	}
	t.Logf("refused: %v", err)
}

// A request that finds no lease (the enclave just booted while its
// witnesses were unreachable) reads them again within the request: a
// witness that misses one read costs a moment, not the request.
func TestARequestWaitsOutWitnessesMissingAFewReads(t *testing.T) {
	s, _, ps := newStackBehindProxies(t, 3)
	app := s.dial()
	k := apiKey(t)
	if _, err := app.CreateWallet(ctx(t), "alice", secretd.CreateOptions{Words: 12}, k); err != nil {
		t.Fatal(err)
	}
	s.stop()
	for _, p := range ps {
		p.setMode(dropAll)
	}
	s.start()
	time.Sleep(1500 * time.Millisecond) // the boot's read and the next fail: no lease
	until := time.Now().Add(400 * time.Millisecond)
	for _, p := range ps {
		p.setMode(func(r *wproto.Request) bool { return r.Op != wproto.OpRead || time.Now().After(until) })
	}
	start := time.Now()
	if _, err := s.dial().Sign(ctx(t), "alice", signParams("x"), k); err != nil {
		t.Fatalf("a sign while the witnesses missed reads for 400 ms: %v", err)
	}
	t.Logf("served after %v", time.Since(start))
}
