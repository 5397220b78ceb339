package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
	"github.com/niomon/niomon/internal/pgtest"
	"github.com/niomon/niomon/secretd"
)

// TestReplicasSurviveTheLossOfAnEnclave runs three enclaves of one
// cluster, each behind its own runner, over one shared store: the second
// and third join the first. Eight clients sign continuously over all three
// while one enclave is killed. Only calls in flight on it may fail; no
// wallet is lost or changed; the survivors keep serving.
func TestReplicasSurviveTheLossOfAnEnclave(t *testing.T) {
	dir := shortTempDir(t)
	data := filepath.Join(dir, "data")
	keyFile := filepath.Join(dir, "app.key")
	if code, _, stderr := cli(t, "keygen", "--out", keyFile); code != 0 {
		t.Fatal(stderr)
	}
	appKey := loadKey(t, keyFile)

	type node struct {
		enc, run *proc
		addr     string
	}
	start := func(i int, join ...string) node {
		sock := "unix:" + filepath.Join(dir, fmt.Sprintf("e%d.sock", i))
		enc := startProc(t, "enclave", "--dev", "--listen", sock)
		args := append([]string{"runner", "--dev", "--dev-genesis", "--listen", "127.0.0.1:0", "--enclave", sock, "--data", data, "--client-key", appKey.PublicKey()}, join...)
		run := startProc(t, args...)
		return node{enc: enc, run: run, addr: run.waitFor("listen")}
	}
	first := start(1)
	identity := first.run.waitFor("cluster_identity")
	nodes := []node{first}
	for i := 2; i <= 3; i++ {
		n := start(i, "--join", first.addr, "--join-identity", identity, "--join-key", keyFile)
		if got := n.run.waitFor("cluster_identity"); got != identity {
			t.Fatalf("replica %d serves %s, want the cluster identity %s", i, got, identity)
		}
		nodes = append(nodes, n)
	}
	addrs := []string{nodes[0].addr, nodes[1].addr, nodes[2].addr}

	admin, err := secretd.DialCluster(ctx(t), addrs, secretd.Options{Identity: identity, Key: appKey, Attestation: &secretd.AttestationPolicy{AllowDev: true}})
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	type wallet struct {
		oid  string
		key  *secretd.P256Key
		addr common.Address
	}
	wallets := make([]wallet, 8)
	for i := range wallets {
		k, _ := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
		w := wallet{oid: fmt.Sprintf("w%d", i), key: k}
		if _, err := admin.CreateWallet(ctx(t), w.oid, secretd.CreateOptions{}, k); err != nil {
			t.Fatal(err)
		}
		a, err := admin.Address(ctx(t), w.oid, secretd.AddrEth, "m/44'/60'/0'/0/0", "")
		if err != nil {
			t.Fatal(err)
		}
		w.addr = common.HexToAddress(a.Address)
		wallets[i] = w
	}

	// Eight clients sign continuously, each with sessions on all three.
	var ok, failed, okAfterKill atomic.Int64
	var killed atomic.Bool
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var firstErr atomic.Value
	for i := range 8 {
		c, err := secretd.DialCluster(ctx(t), addrs, secretd.Options{Identity: identity, Key: appKey, PoolSize: 3})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		w := wallets[i]
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				select {
				case <-stop:
					return
				default:
				}
				digest := sha256.Sum256(fmt.Appendf(nil, "%s %d", w.oid, n))
				r, err := c.Sign(ctx(t), w.oid, secretd.SignParams{Scheme: secretd.SchemeSecp256k1, Path: "m/44'/60'/0'/0/0", Digest: digest[:]}, w.key)
				if err != nil {
					failed.Add(1)
					if !errors.Is(err, secretd.ErrConnection) {
						firstErr.CompareAndSwap(nil, err)
					}
					continue
				}
				pub, err := gethcrypto.SigToPub(digest[:], r.Signature)
				if err != nil || gethcrypto.PubkeyToAddress(*pub) != w.addr {
					firstErr.CompareAndSwap(nil, fmt.Errorf("%s: a signature by another key", w.oid))
				}
				ok.Add(1)
				if killed.Load() {
					okAfterKill.Add(1)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	okBefore := ok.Load()
	_ = nodes[1].enc.cmd.Process.Kill()
	<-nodes[1].enc.done
	killed.Store(true)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()

	if err, _ := firstErr.Load().(error); err != nil {
		t.Fatalf("a client saw more than a lost connection: %v", err)
	}
	// Each client has at most one call in flight; only those may fail.
	if f := failed.Load(); f > 8 {
		t.Fatalf("%d calls failed; want at most the 8 in flight when the enclave died", f)
	}
	if okBefore < 8 || okAfterKill.Load() < 8 {
		t.Fatalf("signatures: %d before the kill, %d after; want the cluster busy throughout", okBefore, okAfterKill.Load())
	}
	t.Logf("%d signatures before the kill, %d after, %d failed calls", okBefore, okAfterKill.Load(), failed.Load())

	// No wallet lost or changed: the survivors serve the same addresses.
	for _, w := range wallets {
		a, err := admin.Address(ctx(t), w.oid, secretd.AddrEth, "m/44'/60'/0'/0/0", "")
		if err != nil || common.HexToAddress(a.Address) != w.addr {
			t.Fatalf("%s after the kill: %s (%v), want %s", w.oid, a.Address, err, w.addr)
		}
	}
	for _, n := range []node{nodes[0], nodes[2]} {
		n.run.stop(syscall.SIGTERM)
		n.enc.stop(syscall.SIGTERM)
	}
	nodes[1].run.stop(syscall.SIGTERM)
}

// TestAReplicaOnItsOwnMachineRestartsByJoiningAndTakesItsLoadBack: two
// runners with data directories of their own (two machines) over one
// PostgreSQL store; the second joined the first. Restarted without
// --join, the replica cannot open the master key (it is sealed with the
// first one's key) and exits saying to join again; joined again, it
// serves the cluster's wallets, and a client that failed over to the
// first runner while it was away moves sessions back to it.
func TestAReplicaOnItsOwnMachineRestartsByJoiningAndTakesItsLoadBack(t *testing.T) {
	dsn := pgtest.NewSchema(t)
	dir := shortTempDir(t)
	keyFile := filepath.Join(dir, "app.key")
	if code, _, stderr := cli(t, "keygen", "--out", keyFile); code != 0 {
		t.Fatal(stderr)
	}
	appKey := loadKey(t, keyFile)
	start := func(name, listen string, extra ...string) (enc, run *proc) {
		sock := "unix:" + filepath.Join(dir, name+".sock")
		enc = startProc(t, "enclave", "--dev", "--listen", sock)
		args := append([]string{"runner", "--dev", "--listen", listen, "--enclave", sock, "--data", filepath.Join(dir, name), "--postgres", dsn, "--client-key", appKey.PublicKey()}, extra...)
		return enc, startProc(t, args...)
	}
	_, first := start("first", "127.0.0.1:0", "--dev-genesis")
	addr1 := first.waitFor("listen")
	identity := first.waitFor("cluster_identity")
	join := []string{"--join", addr1, "--join-identity", identity, "--join-key", keyFile}
	enc2, second := start("second", "127.0.0.1:0", join...)
	addr2 := second.waitFor("listen")
	if got := second.waitFor("cluster_identity"); got != identity {
		t.Fatalf("the replica serves %s, want %s", got, identity)
	}

	c, err := secretd.DialCluster(ctx(t), []string{addr1, addr2}, secretd.Options{Identity: identity, Key: appKey, PoolSize: 4})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k, _ := secretd.NewP256Key(secretd.KindAPIKey, time.Time{}, secretd.RightSign, secretd.RightPolicy)
	if _, err := c.CreateWallet(ctx(t), "w", secretd.CreateOptions{}, k); err != nil {
		t.Fatal(err)
	}
	want, err := c.Address(ctx(t), "w", secretd.AddrEth, "m/44'/60'/0'/0/0", "")
	if err != nil {
		t.Fatal(err)
	}
	// load makes calls until every slot has a session, and returns where
	// the sessions go.
	load := func() map[string]int {
		for range 8 {
			if _, err := c.Info(ctx(t)); err != nil {
				t.Fatal(err)
			}
		}
		return c.Sessions()
	}
	if got := load(); got[addr1] != 2 || got[addr2] != 2 {
		t.Fatalf("sessions %v; want two on each runner", got)
	}

	second.stop(syscall.SIGTERM)
	enc2.stop(syscall.SIGTERM)
	if got := load(); got[addr1] != 4 || got[addr2] != 0 {
		t.Fatalf("sessions with the replica down %v; want all four on the first runner", got)
	}

	// Restarted as a plain runner: it exits and says to join again.
	enc2, second = start("second", addr2)
	select {
	case <-second.done:
	case <-time.After(15 * time.Second):
		t.Fatal("the replica started without --join still runs 15 s later")
	}
	if stderr := string(second.stderr.Bytes()); second.err == nil || !strings.Contains(stderr, "--join again") {
		t.Fatalf("exit %v, stderr %q; want a failure that says to start with --join again", second.err, stderr)
	}
	_ = enc2.cmd.Process.Kill()
	<-enc2.done

	_, second = start("second", addr2, join...)
	second.waitFor("listen")
	if got := second.waitFor("cluster_identity"); got != identity {
		t.Fatalf("the rejoined replica serves %s, want %s", got, identity)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		got := load()
		if got[addr2] == 2 && got[addr1] == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("sessions %v 20 s after the replica came back; want two on each runner again", got)
		}
		time.Sleep(250 * time.Millisecond)
	}
	// The replica serves the wallet made before it left.
	only, err := secretd.Dial(ctx(t), addr2, secretd.Options{Identity: identity, Key: appKey})
	if err != nil {
		t.Fatal(err)
	}
	defer only.Close()
	if got, err := only.Address(ctx(t), "w", secretd.AddrEth, "m/44'/60'/0'/0/0", ""); err != nil || got.Address != want.Address {
		t.Fatalf("the rejoined replica gives %v (%v), want %s", got, err, want.Address)
	}
}
