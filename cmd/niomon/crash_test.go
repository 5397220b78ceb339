package main

import (
	"context"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/sqldb"
	"github.com/niomon/niomon/secretd"
)

// signupWithWallet is one API-key sign-up as a backend makes it: sign up,
// then create the wallet stamped by the key. It is acknowledged when the
// wallet answer arrives.
func signupWithWallet(ctx context.Context, url string, key *secretd.P256Key) (string, error) {
	c := nioapi.NewClient(url, nil)
	s, err := c.APIKeySignup(ctx, key)
	if err != nil {
		return "", err
	}
	cfg, err := c.Config(ctx)
	if err != nil {
		return "", err
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodCreate, s.User.ID, policy.CreateParams{Words: 24, Credentials: []policy.Credential{key.Credential()}})
	if err != nil {
		return "", err
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		return "", err
	}
	var out nioapi.WalletCreated
	if err := c.Post(ctx, "/v1/wallet", st, &out); err != nil {
		return "", err
	}
	return s.User.ID, nil
}

// loginAndSign signs in with key and signs a digest; it reports whether
// the key has an account, and whether that account's wallet signs.
func loginAndSign(ctx context.Context, url string, key *secretd.P256Key) (account bool, walletReady bool, signErr error) {
	c := nioapi.NewClient(url, nil)
	s, err := c.APIKeyLogin(ctx, key)
	if err != nil {
		if e, ok := err.(*nioapi.Error); ok && e.Code == "unauthorized" {
			return false, false, nil
		}
		return false, false, err
	}
	if !s.User.WalletReady {
		return true, false, nil
	}
	cfg, err := c.Config(ctx)
	if err != nil {
		return true, true, err
	}
	req, err := nioapi.NewRequest(cfg, policy.MethodSign, s.User.ID, policy.SignParams{Scheme: "secp256k1", Path: "m/44'/60'/0'/0/0", Digest: make([]byte, 32)})
	if err != nil {
		return true, true, err
	}
	st, err := nioapi.StampWith(key, req)
	if err != nil {
		return true, true, err
	}
	return true, true, c.Post(ctx, "/v1/wallet/sign", st, &nioapi.SignResult{})
}

// Kill -9 niomon and secretd (runner and enclave) while 200 sign-ups run
// at once. After a restart, every acknowledged user has a working wallet,
// and no half-made user is left: those whose wallet was made are
// finished, the others are removed.
func TestCrash_KillNineDuring200SignupsLosesNoAcknowledgedUser(t *testing.T) {
	const n = 200
	data := filepath.Join(t.TempDir(), "data")
	conf := filepath.Join(t.TempDir(), "niomon.json")
	if err := os.WriteFile(conf, []byte(`{"rate_limits": {"signups_per_ip": 100000, "verify_per_ip": 100000}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	listen := freePort(t)
	d := startDev(t, data, listen, nil, "--config", conf)

	keys := make([]*secretd.P256Key, n)
	for i := range keys {
		keys[i] = newKey(t)
	}
	var acked sync.Map // key index → user id
	var nAcked atomic.Int32
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var wg sync.WaitGroup
	startGate := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-startGate
			if uid, err := signupWithWallet(ctx, d.url, keys[i]); err == nil {
				acked.Store(i, uid)
				nAcked.Add(1)
			}
		}()
	}
	close(startGate)
	// Kill once some sign-ups are through and many are in flight.
	for nAcked.Load() < 40 && ctx.Err() == nil {
		time.Sleep(2 * time.Millisecond)
	}
	pids := append([]int{d.p.cmd.Process.Pid}, children(d.p.cmd.Process.Pid)...)
	if len(pids) < 3 {
		t.Fatalf("found %d processes, want niomon, secretd and the enclave", len(pids))
	}
	killTree(d.p.cmd.Process.Pid)
	wg.Wait()
	<-d.p.done
	killed := nAcked.Load()
	t.Logf("killed niomon, secretd and the enclave (%d processes) with %d of %d sign-ups acknowledged", len(pids), killed, n)
	if killed >= n {
		t.Fatalf("all %d sign-ups finished before the kill; the test did not cut any", n)
	}

	// Restart. Sign-ups cut short older than the pending TTL are removed
	// at start; a 1 ms TTL makes that every one without a wallet.
	d = startDev(t, data, listen, []string{"NIOMON_USERS_PENDING_TTL=1ms"}, "--config", conf)
	var accounts, ready, gone int
	for i, k := range keys {
		account, walletReady, err := loginAndSign(context.Background(), d.url, k)
		_, wasAcked := acked.Load(i)
		switch {
		case err != nil:
			t.Errorf("key %d (acknowledged %t): %v", i, wasAcked, err)
		case account && !walletReady:
			t.Errorf("key %d has an account without a wallet after the restart: a half-made user", i)
		case wasAcked && !account:
			t.Errorf("key %d was acknowledged and has no account after the restart", i)
		case account:
			accounts++
			ready++
		default:
			gone++
		}
	}
	t.Logf("after the restart: %d accounts with working wallets (%d acknowledged before the kill), %d sign-ups cut short and removed", ready, killed, gone)
	d.p.stop()

	// No pending user is left in the database, including one whose API
	// key was never stored.
	db, err := authdb.Open(context.Background(), sqldb.Config{SQLitePath: filepath.Join(data, "niomon.db")})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	pending, err := db.ListPendingUsers(context.Background(), time.Now().Add(time.Hour), authdb.MaxListLimit)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 0 {
		t.Fatalf("pending users left: %d, want 0", len(pending))
	}
}

func newKey(t testing.TB) *secretd.P256Key {
	t.Helper()
	k, err := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
