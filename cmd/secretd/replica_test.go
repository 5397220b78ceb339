package main

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/ethereum/go-ethereum/common"
	gethcrypto "github.com/ethereum/go-ethereum/crypto"
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
