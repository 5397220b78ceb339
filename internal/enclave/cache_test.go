package enclave

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/niomon/niomon/internal/hd"
	"github.com/niomon/niomon/internal/policy"
)

func testWallet(t *testing.T, i int) *unsealed {
	t.Helper()
	seed, err := hd.NewSeed([]byte(fmt.Sprintf("seed for wallet %08d", i)))
	if err != nil {
		t.Fatal(err)
	}
	return &unsealed{seed: seed, masters: make(map[hd.Curve]*hd.Node), policy: &policy.Policy{}}
}

func wiped(u *unsealed) bool {
	return u.seed.Use(func([]byte) error { return nil }) != nil
}

func mustPath(t *testing.T, s string) hd.Path {
	t.Helper()
	p, err := hd.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCacheEvictionWipesKeys(t *testing.T) {
	c := newWalletCache(2)
	var loaded []*unsealed
	for i := range 3 {
		w := testWallet(t, i)
		loaded = append(loaded, w)
		n, err := c.node(fmt.Sprint(i), hd.Secp256k1, mustPath(t, "m/0/1"), func() (*unsealed, error) { return w, nil })
		if err != nil {
			t.Fatal(err)
		}
		n.Wipe()
	}
	if got := c.len(); got != 2 {
		t.Fatalf("cached wallets: got %d, want 2", got)
	}
	if !wiped(loaded[0]) || loaded[0].masters[hd.Secp256k1].Curve() != 0 {
		t.Fatal("the evicted wallet's seed and master node were not wiped")
	}
	if wiped(loaded[1]) || wiped(loaded[2]) {
		t.Fatal("a cached wallet was wiped")
	}
	if got := c.nodes.len(); got != 4 {
		t.Fatalf("cached derived nodes: got %d, want 4 (limit 2×2)", got)
	}
	c.wipeAll()
	if !wiped(loaded[1]) || !wiped(loaded[2]) || c.len() != 0 || c.nodes.len() != 0 {
		t.Fatal("wipeAll left keys behind")
	}
}

func TestCacheDerivesWhatAFreshDerivationDoes(t *testing.T) {
	c := newWalletCache(8)
	w := testWallet(t, 1)
	ref := testWallet(t, 1)
	for _, path := range []string{"m/44'/60'/0'/0/0", "m/44'/60'/0'/0/1", "m/44'/60'/0'/0/0", "m", "m/1", "m/44'/60'/0'"} {
		got, err := c.node("w", hd.Secp256k1, mustPath(t, path), func() (*unsealed, error) { return w, nil })
		if err != nil {
			t.Fatal(err)
		}
		refMaster, _ := ref.master(hd.Secp256k1)
		want, _ := refMaster.Derive(mustPath(t, path))
		gx, _ := got.ExtendedPublicKey()
		wx, _ := want.ExtendedPublicKey()
		if gx != wx {
			t.Fatalf("%s: got %s, want %s", path, gx, wx)
		}
	}
}

func TestCacheLoadsAWalletOnceForConcurrentMisses(t *testing.T) {
	c := newWalletCache(8)
	var fills atomic.Int32
	release := make(chan struct{})
	fill := func() (*unsealed, error) {
		fills.Add(1)
		<-release
		return testWallet(t, 7), nil
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			n, err := c.node("w", hd.Secp256k1, hd.Path{uint32(i)}, fill)
			if err != nil {
				t.Error(err)
				return
			}
			n.Wipe()
		}()
	}
	close(release)
	wg.Wait()
	if got := fills.Load(); got != 1 {
		t.Fatalf("fills: got %d, want 1", got)
	}
}

func TestCacheDoesNotKeepFailedLoads(t *testing.T) {
	c := newWalletCache(8)
	boom := errors.New("storage down")
	if _, err := c.node("w", hd.Secp256k1, hd.Path{1}, func() (*unsealed, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the fill error", err)
	}
	n, err := c.node("w", hd.Secp256k1, hd.Path{1}, func() (*unsealed, error) { return testWallet(t, 3), nil })
	if err != nil || n == nil {
		t.Fatalf("after a failed load: got %v, want a node", err)
	}
}
