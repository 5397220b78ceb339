package enclave

import (
	"bytes"
	"testing"

	"github.com/niomon/niomon/internal/hd"
)

// TestPrederivedNodesAreThoseTheMasterDerives: every node sealed with a
// wallet (a default address derived from its account's parent, a parent
// from the master) is, in every field, the node its path derives from the
// master, so a load that uses one serves what a derivation would.
func TestPrederivedNodesAreThoseTheMasterDerives(t *testing.T) {
	seed, err := hd.NewSeed(bytes.Repeat([]byte{7}, 64))
	if err != nil {
		t.Fatal(err)
	}
	got, err := prederive(seed)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != len(prederived) {
		t.Fatalf("got %d sealed nodes, want %d", len(got), len(prederived))
	}
	for i, pd := range prederived {
		t.Run(pd.curve.String()+" "+pd.path, func(t *testing.T) {
			if got[i].Path != pd.path || hd.Curve(got[i].Curve) != pd.curve {
				t.Fatalf("sealed node %d is %s on %v", i, got[i].Path, hd.Curve(got[i].Curve))
			}
			m, err := hd.NewMaster(seed, pd.curve)
			if err != nil {
				t.Fatal(err)
			}
			defer m.Wipe()
			p, err := hd.ParsePath(pd.path)
			if err != nil {
				t.Fatal(err)
			}
			if p.String() != pd.path {
				t.Fatalf("path %s prints as %s: prederive and the cache look nodes up by the printed form", pd.path, p)
			}
			want, err := m.Derive(p)
			if err != nil {
				t.Fatal(err)
			}
			defer want.Wipe()
			if !bytes.Equal(got[i].Node, want.AppendSealed(nil)) {
				t.Fatal("the sealed node differs from the one the master derives")
			}
		})
	}
}

// TestACachedMissAtADefaultAddressDerivesNothing: a wallet loaded from
// its record serves the first address of a default account from the
// sealed node: the cache then holds that leaf and not its parent (a
// derivation would have cached the parent).
func TestACachedMissAtADefaultAddressDerivesNothing(t *testing.T) {
	seed, err := hd.NewSeed(bytes.Repeat([]byte{7}, 64))
	if err != nil {
		t.Fatal(err)
	}
	nodes, err := prederive(seed)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := newInstance()
	if err != nil {
		t.Fatal(err)
	}
	rec := &walletRecord{Format: walletFormat, Instance: inst[:], Entropy: make([]byte, 16), Seed: bytes.Repeat([]byte{7}, 64), Nodes: nodes}
	for _, tc := range []struct {
		path        string
		parentCache bool
	}{
		{path: "m/44'/60'/0'/0/0", parentCache: false},
		{path: "m/44'/60'/0'/0/7", parentCache: false}, // one step from the sealed parent
		{path: "m/44'/60'/1'/0/0", parentCache: true},  // from the master: the parent is cached
	} {
		t.Run(tc.path, func(t *testing.T) {
			s, err := newSnapshot("alice", 1, rec)
			if err != nil {
				t.Fatal(err)
			}
			defer s.release()
			c := newWalletCache(4)
			p, err := hd.ParsePath(tc.path)
			if err != nil {
				t.Fatal(err)
			}
			n, err := c.node(s, hd.Secp256k1, p)
			if err != nil {
				t.Fatal(err)
			}
			n.Wipe()
			_, parentCached := c.nodes.get(nodeKey(s.instance, hd.Secp256k1.String(), p[:len(p)-1].String()))
			if parentCached != tc.parentCache {
				t.Fatalf("parent cached: got %v, want %v", parentCached, tc.parentCache)
			}
		})
	}
}
