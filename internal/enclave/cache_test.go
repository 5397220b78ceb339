package enclave

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/niomon/niomon/internal/hd"
)

// testSnapshot is wallet oid with a seed made from i and a new instance.
func testSnapshot(t *testing.T, oid string, i int) *snapshot {
	t.Helper()
	inst, err := newInstance()
	if err != nil {
		t.Fatal(err)
	}
	rec := &walletRecord{Format: walletFormat, Instance: inst[:], Entropy: make([]byte, 16), Seed: []byte(fmt.Sprintf("seed for wallet %08d", i))}
	s, err := newSnapshot(oid, 1, rec)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func wiped(s *snapshot) bool {
	return s.seed.Use(func([]byte) error { return nil }) != nil
}

func mustPath(t *testing.T, s string) hd.Path {
	t.Helper()
	p, err := hd.ParsePath(s)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func xpubOf(t *testing.T, n *hd.Node) string {
	t.Helper()
	x, err := n.ExtendedPublicKey()
	if err != nil {
		t.Fatal(err)
	}
	return x
}

func TestCacheEvictionWipesKeysNoMethodHolds(t *testing.T) {
	c := newWalletCache(2)
	var loaded []*snapshot
	for i := range 3 {
		w := testSnapshot(t, fmt.Sprint(i), i)
		loaded = append(loaded, w)
		s, err := c.acquire(w.oid, func() (*snapshot, error) { return w, nil })
		if err != nil {
			t.Fatal(err)
		}
		n, err := c.node(s, hd.Secp256k1, mustPath(t, "m/0/1"))
		if err != nil {
			t.Fatal(err)
		}
		n.Wipe()
		s.release()
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

func TestCacheEvictionLeavesAHeldSnapshotUsableUntilReleased(t *testing.T) {
	c := newWalletCache(1)
	a := testSnapshot(t, "a", 1)
	held, err := c.acquire("a", func() (*snapshot, error) { return a, nil })
	if err != nil {
		t.Fatal(err)
	}
	b := testSnapshot(t, "b", 2)
	if s, err := c.acquire("b", func() (*snapshot, error) { return b, nil }); err != nil {
		t.Fatal(err)
	} else {
		s.release()
	}
	if wiped(held) {
		t.Fatal("an evicted snapshot was wiped while a method held it")
	}
	if _, err := held.master(hd.Secp256k1); err != nil {
		t.Fatalf("the held snapshot: %v", err)
	}
	held.release()
	if !wiped(held) {
		t.Fatal("the last release of an evicted snapshot did not wipe it")
	}
}

func TestCacheDerivesWhatAFreshDerivationDoes(t *testing.T) {
	c := newWalletCache(8)
	w := testSnapshot(t, "w", 1)
	ref := testSnapshot(t, "ref", 1)
	for _, path := range []string{"m/44'/60'/0'/0/0", "m/44'/60'/0'/0/1", "m/44'/60'/0'/0/0", "m", "m/1", "m/44'/60'/0'"} {
		t.Run(path, func(t *testing.T) {
			got, err := c.node(w, hd.Secp256k1, mustPath(t, path))
			if err != nil {
				t.Fatal(err)
			}
			refMaster, _ := ref.master(hd.Secp256k1)
			want, _ := refMaster.Derive(mustPath(t, path))
			if gx, wx := xpubOf(t, got), xpubOf(t, want); gx != wx {
				t.Fatalf("got %s, want %s", gx, wx)
			}
		})
	}
}

// A wallet made again at an oid is another instance: the keys derived for
// the one before are never served for it, though they are still cached.
func TestCacheNeverServesOneInstancesKeysToAnother(t *testing.T) {
	c := newWalletCache(8)
	first, second := testSnapshot(t, "alice", 1), testSnapshot(t, "alice", 2)
	path := mustPath(t, "m/44'/60'/0'/0/0")
	n1, err := c.node(first, hd.Secp256k1, path)
	if err != nil {
		t.Fatal(err)
	}
	n2, err := c.node(second, hd.Secp256k1, path)
	if err != nil {
		t.Fatal(err)
	}
	if xpubOf(t, n1) == xpubOf(t, n2) {
		t.Fatal("the second wallet at the oid was served the first one's key")
	}
	if c.nodes.len() != 4 {
		t.Fatalf("derived nodes: got %d, want 4 (two per instance)", c.nodes.len())
	}
}

func TestCacheRefusesASnapshotThatContradictsMemory(t *testing.T) {
	c := newWalletCache(8)
	known := testSnapshot(t, "alice", 1)
	known.version = 3
	if s, err := c.acquire("alice", func() (*snapshot, error) { return known, nil }); err != nil {
		t.Fatal(err)
	} else {
		s.release()
	}
	other := testSnapshot(t, "alice", 2)
	other.version = 3
	older := testSnapshot(t, "alice", 1)
	older.instance, older.version = known.instance, 2
	newer := testSnapshot(t, "alice", 1)
	newer.instance, newer.version = known.instance, 4
	tests := []struct {
		name string
		s    *snapshot
		want error
	}{
		{"another instance at the oid", other, errForked},
		{"an older version of the instance", older, errForked},
		{"the same version", known, nil},
		{"a newer version of the instance", newer, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if err := c.consistent(tc.s); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	s, _ := c.acquire("alice", nil)
	defer s.release()
	if s.version != 4 {
		t.Fatalf("cached version after a newer load: got %d, want 4", s.version)
	}
}

func TestCacheLoadsAWalletOnceForConcurrentMisses(t *testing.T) {
	c := newWalletCache(8)
	var fills atomic.Int32
	release := make(chan struct{})
	fill := func() (*snapshot, error) {
		fills.Add(1)
		<-release
		return testSnapshot(t, "w", 7), nil
	}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s, err := c.acquire("w", fill)
			if err != nil {
				t.Error(err)
				return
			}
			defer s.release()
			n, err := c.node(s, hd.Secp256k1, hd.Path{uint32(i)})
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
	if _, err := c.acquire("w", func() (*snapshot, error) { return nil, boom }); !errors.Is(err, boom) {
		t.Fatalf("got %v, want the fill error", err)
	}
	s, err := c.acquire("w", func() (*snapshot, error) { return testSnapshot(t, "w", 3), nil })
	if err != nil || s == nil {
		t.Fatalf("after a failed load: got %v, want a snapshot", err)
	}
	s.release()
}

// sized is a cache value of a given size that records its wipe.
type sized struct {
	n     int
	wiped *bool
}

func (s sized) wipe() { *s.wiped = true }

// A sized cache keeps its values' sizes within its budget, evicting the
// least recently used first (and wiping what it evicts), and keeps the
// newest value even when it alone is over the budget.
func TestASizedCacheKeepsItsValuesWithinItsBudget(t *testing.T) {
	tests := []struct {
		name  string
		puts  []int // sizes, keys "0", "1", ...
		touch int   // a key read after the puts but before the last, or -1
		keeps []int
		used  int
	}{
		{"all fit", []int{10, 20, 30}, -1, []int{0, 1, 2}, 60},
		{"over budget: the oldest goes", []int{40, 40, 40}, -1, []int{1, 2}, 80},
		{"a read keeps a value", []int{40, 40, 40}, 0, []int{0, 2}, 80},
		{"one value over the budget stays alone", []int{10, 20, 500}, -1, []int{2}, 500},
		{"more values than the count bound", []int{1, 1, 1, 1, 1}, -1, []int{1, 2, 3, 4}, 4},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := newSizedLRU(4, 100, func(s sized) int { return s.n })
			flags := make([]bool, len(tc.puts))
			for i, n := range tc.puts {
				if i == len(tc.puts)-1 && tc.touch >= 0 {
					c.get(fmt.Sprint(tc.touch))
				}
				c.put(fmt.Sprint(i), sized{n, &flags[i]})
			}
			kept := map[int]bool{}
			for _, k := range tc.keeps {
				kept[k] = true
			}
			for i := range tc.puts {
				_, ok := c.peek(fmt.Sprint(i))
				if ok != kept[i] || flags[i] == kept[i] {
					t.Fatalf("value %d: cached %t, wiped %t; want cached %t", i, ok, flags[i], kept[i])
				}
			}
			if c.used != tc.used {
				t.Fatalf("used %d, want %d", c.used, tc.used)
			}
		})
	}
}
