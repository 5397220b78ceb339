package hd

import (
	"bytes"
	"encoding/hex"
	"testing"
)

func TestSLIP10Vectors(t *testing.T) {
	var vs slip10Vectors
	loadJSON(t, "slip10_test_vectors.json", &vs)
	curves := map[string]Curve{"secp256k1": Secp256k1, "ed25519": Ed25519, "nist256p1": NIST256p1}
	want := map[Curve]int{Secp256k1: 12, Ed25519: 12, NIST256p1: 16}
	got := map[Curve]int{}
	for _, v := range vs.Vectors {
		c, ok := curves[v.Curve]
		if !ok {
			continue // curve25519: out of scope (see testdata/README.md)
		}
		master, err := NewMaster(mustSeed(t, mustHex(t, v.SeedHex)), c)
		if err != nil {
			t.Fatalf("%s: NewMaster: %v", v.Name, err)
		}
		for _, ch := range v.Chains {
			got[c]++
			n, err := master.Derive(mustPath(t, ch.Path))
			if err != nil {
				t.Fatalf("%s %s: Derive: %v", v.Name, ch.Path, err)
			}
			fp := n.ParentFingerprint()
			if g := hex.EncodeToString(fp[:]); g != ch.Fingerprint {
				t.Errorf("%s %s: got parent fingerprint %s, want %s", v.Name, ch.Path, g, ch.Fingerprint)
			}
			if !bytes.Equal(n.chainCode[:], mustHex(t, ch.ChainCode)) {
				t.Errorf("%s %s: chain code differs from the vector", v.Name, ch.Path)
			}
			if !bytes.Equal(n.key[:], mustHex(t, ch.Private)) {
				t.Errorf("%s %s: private key differs from the vector", v.Name, ch.Path)
			}
			if g := hex.EncodeToString(n.PublicKeySLIP10()); g != ch.Public {
				t.Errorf("%s %s: got public key %s, want %s", v.Name, ch.Path, g, ch.Public)
			}
			wantPub := mustHex(t, ch.Public)
			if c == Ed25519 {
				wantPub = wantPub[1:] // SLIP-10 prints ed25519 keys with a 0x00 prefix
			}
			if g := n.PublicKey(); !bytes.Equal(g, wantPub) {
				t.Errorf("%s %s: got PublicKey() %x, want %x", v.Name, ch.Path, g, wantPub)
			}
		}
	}
	for c, w := range want {
		if got[c] != w {
			t.Errorf("%v: checked %d chains, want %d", c, got[c], w)
		}
	}
}
