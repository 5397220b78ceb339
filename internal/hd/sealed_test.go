package hd

import (
	"bytes"
	"testing"
)

// A sealed node, read back, is the node: its keys, chain code and
// metadata, so it derives the same children.
func TestSealedNodeReadsBackAsTheSameNode(t *testing.T) {
	tests := []struct {
		curve       Curve
		path, child string
	}{
		{Secp256k1, "m", "m/0"},
		{Secp256k1, "m/44'/60'/0'/0", "m/44'/60'/0'/0/7"},
		{Ed25519, "m/44'/501'", "m/44'/501'/3'"},
		{NIST256p1, "m/1'/2", "m/1'/2/5"},
	}
	for _, tc := range tests {
		t.Run(tc.curve.String()+" "+tc.path, func(t *testing.T) {
			m := mustMaster(t, tc.curve)
			n, err := m.Derive(mustPath(t, tc.path))
			if err != nil {
				t.Fatal(err)
			}
			got, err := ParseSealedNode(n.AppendSealed(nil))
			if err != nil {
				t.Fatal(err)
			}
			if *got != *n {
				t.Fatal("the node read back differs")
			}
			cp := mustPath(t, tc.child)
			a, err := m.Derive(cp)
			if err != nil {
				t.Fatal(err)
			}
			b, err := got.Child(cp[len(cp)-1])
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(a.PublicKey(), b.PublicKey()) || a.key != b.key || a.chainCode != b.chainCode || a.parentFP != b.parentFP {
				t.Fatal("the child of the node read back differs")
			}
		})
	}
}

func TestSealedNodeRefusesWhatItDidNotWrite(t *testing.T) {
	good := mustMaster(t, Secp256k1).AppendSealed(nil)
	bad := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"one byte short", good[:len(good)-1]},
		{"one byte long", append(bytes.Clone(good), 0)},
		{"another version", bad(func(b []byte) []byte { b[0] = 2; return b })},
		{"no curve", bad(func(b []byte) []byte { b[1] = 0; return b })},
		{"an unknown curve", bad(func(b []byte) []byte { b[1] = 9; return b })},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseSealedNode(tc.b); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}
