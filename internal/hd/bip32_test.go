package hd

import (
	"errors"
	"strings"
	"testing"
)

func TestBIP32Vectors(t *testing.T) {
	var vs bip32Vectors
	loadJSON(t, "bip32_test_vectors.json", &vs)
	chains := 0
	for _, v := range vs.Valid {
		master, err := NewMaster(mustSeed(t, mustHex(t, v.SeedHex)), Secp256k1)
		if err != nil {
			t.Fatalf("vector %d: NewMaster: %v", v.Vector, err)
		}
		var prev *Node
		for _, c := range v.Chains {
			chains++
			p := mustPath(t, c.Path)
			n, err := master.Derive(p)
			if err != nil {
				t.Fatalf("vector %d %s: Derive: %v", v.Vector, c.Path, err)
			}
			xpub, err := n.ExtendedPublicKey()
			if err != nil {
				t.Fatalf("vector %d %s: ExtendedPublicKey: %v", v.Vector, c.Path, err)
			}
			if xpub != c.Xpub {
				t.Errorf("vector %d %s: got xpub %s, want %s", v.Vector, c.Path, xpub, c.Xpub)
			}
			xprv, err := n.ExtendedPrivateKey()
			if err != nil {
				t.Fatalf("vector %d %s: ExtendedPrivateKey: %v", v.Vector, c.Path, err)
			}
			if xprv != c.Xprv {
				t.Errorf("vector %d %s: xprv differs from the vector", v.Vector, c.Path)
			}
			// The chains are successive children: Child from the previous
			// chain's node must agree with Derive from the master.
			if prev != nil {
				step, err := prev.Child(p[len(p)-1])
				if err != nil {
					t.Fatalf("vector %d %s: Child: %v", v.Vector, c.Path, err)
				}
				if got, _ := step.ExtendedPublicKey(); got != c.Xpub {
					t.Errorf("vector %d %s: Child gives xpub %s, want %s", v.Vector, c.Path, got, c.Xpub)
				}
			}
			if got, want := n.Depth(), uint8(len(p)); got != want {
				t.Errorf("vector %d %s: Depth() = %d, want %d", v.Vector, c.Path, got, want)
			}
			prev = n
		}
	}
	if chains != 17 {
		t.Fatalf("checked %d chains, want 17", chains)
	}
}

// TestBIP32InvalidExtendedKeys runs vector 5 through the test-only parser
// and checks that each key is rejected for the reason BIP32 gives.
func TestBIP32InvalidExtendedKeys(t *testing.T) {
	var vs bip32Vectors
	loadJSON(t, "bip32_test_vectors.json", &vs)
	if len(vs.Invalid) != 16 {
		t.Fatalf("got %d invalid keys, want 16", len(vs.Invalid))
	}
	for i, v := range vs.Invalid {
		var want error
		switch {
		case strings.Contains(v.Reason, "mismatch"), strings.Contains(v.Reason, "prefix"):
			want = errXKeyPrefix
		case strings.Contains(v.Reason, "zero depth"):
			want = errXDepthZero
		case strings.Contains(v.Reason, "unknown extended key version"):
			want = errXVersion
		case strings.Contains(v.Reason, "not in 1..n-1"):
			want = errXKeyRange
		case strings.Contains(v.Reason, "invalid pubkey"):
			want = errXPointCurve
		case strings.Contains(v.Reason, "checksum"):
			want = errXChecksum
		default:
			t.Fatalf("key %d: unmapped reason %q", i, v.Reason)
		}
		_, err := parseExtendedKey(v.Key)
		if !errors.Is(err, want) {
			t.Errorf("key %d (%s): got error %v, want %v", i, v.Reason, err, want)
		}
	}
}

// TestExtendedKeysCarryNodeFields reads back what ExtendedPublicKey and
// ExtendedPrivateKey wrote and compares every field with the node.
func TestExtendedKeysCarryNodeFields(t *testing.T) {
	master, err := NewMaster(mustSeed(t, mustHex(t, "000102030405060708090a0b0c0d0e0f")), Secp256k1)
	if err != nil {
		t.Fatal(err)
	}
	for _, ps := range []string{"m", "m/0'", "m/44'/60'/0'/0/7", "m/2147483647'/0/1'/2"} {
		n, err := master.Derive(mustPath(t, ps))
		if err != nil {
			t.Fatal(err)
		}
		xpub, _ := n.ExtendedPublicKey()
		xprv, _ := n.ExtendedPrivateKey()
		pk, err := parseExtendedKey(xpub)
		if err != nil {
			t.Fatalf("%s: our xpub does not parse: %v", ps, err)
		}
		sk, err := parseExtendedKey(xprv)
		if err != nil {
			t.Fatalf("%s: our xprv does not parse: %v", ps, err)
		}
		for _, k := range []*xkey{pk, sk} {
			if k.depth != n.Depth() || k.childIndex != n.ChildIndex() || k.parentFP != n.ParentFingerprint() || k.chainCode != n.chainCode {
				t.Errorf("%s: header fields differ from the node", ps)
			}
		}
		if pk.version != versionXpub || sk.version != versionXprv {
			t.Errorf("%s: got versions %#x/%#x, want %#x/%#x", ps, pk.version, sk.version, versionXpub, versionXprv)
		}
		if string(pk.keyData[:]) != string(n.PublicKey()) {
			t.Errorf("%s: xpub key differs from PublicKey()", ps)
		}
		if sk.keyData[0] != 0 || [32]byte(sk.keyData[1:]) != n.key {
			t.Errorf("%s: xprv key differs from the node key", ps)
		}
	}
}
