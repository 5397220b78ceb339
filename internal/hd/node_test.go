package hd

import (
	"bytes"
	"crypto/ed25519"
	"errors"
	"strings"
	"testing"
)

// testSeed is the seed of BIP32 test vector 1.
var testSeed = []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15}

func mustMaster(t testing.TB, c Curve) *Node {
	t.Helper()
	n, err := NewMaster(mustSeed(t, testSeed), c)
	if err != nil {
		t.Fatalf("NewMaster(%v): %v", c, err)
	}
	return n
}

func TestWipeZeroesKeyAndChainCode(t *testing.T) {
	for _, c := range []Curve{Secp256k1, Ed25519, NIST256p1} {
		n, err := mustMaster(t, c).Derive(mustPath(t, "m/44'/1'"))
		if err != nil {
			t.Fatal(err)
		}
		if n.key == [32]byte{} || n.chainCode == [32]byte{} {
			t.Fatalf("%v: key or chain code zero before Wipe, want non-zero", c)
		}
		n.Wipe()
		if n.key != [32]byte{} {
			t.Errorf("%v: key not zero after Wipe", c)
		}
		if n.chainCode != [32]byte{} {
			t.Errorf("%v: chain code not zero after Wipe", c)
		}
		if n.pub != [33]byte{} || n.Curve() != 0 {
			t.Errorf("%v: public key or curve not cleared after Wipe", c)
		}
	}
}

func TestWipedNodeRefusesUse(t *testing.T) {
	n := mustMaster(t, Secp256k1)
	n.Wipe()
	var zero Node
	for name, n := range map[string]*Node{"wiped": n, "zero value": &zero} {
		if _, err := n.Child(Hardened); !errors.Is(err, ErrWiped) {
			t.Errorf("%s: Child error = %v, want ErrWiped", name, err)
		}
		if _, err := n.Derive(Path{}); !errors.Is(err, ErrWiped) {
			t.Errorf("%s: Derive error = %v, want ErrWiped", name, err)
		}
		if _, err := n.ExtendedPublicKey(); !errors.Is(err, ErrWiped) {
			t.Errorf("%s: ExtendedPublicKey error = %v, want ErrWiped", name, err)
		}
		if _, err := n.ExtendedPrivateKey(); !errors.Is(err, ErrWiped) {
			t.Errorf("%s: ExtendedPrivateKey error = %v, want ErrWiped", name, err)
		}
		if _, err := n.Secp256k1PrivateKey(); !errors.Is(err, ErrWiped) {
			t.Errorf("%s: Secp256k1PrivateKey error = %v, want ErrWiped", name, err)
		}
		if _, err := n.Ed25519PrivateKey(); !errors.Is(err, ErrWiped) {
			t.Errorf("%s: Ed25519PrivateKey error = %v, want ErrWiped", name, err)
		}
		if n.PublicKey() != nil || n.PublicKeySLIP10() != nil || n.Fingerprint() != [4]byte{} {
			t.Errorf("%s: public key or fingerprint present, want none", name)
		}
	}
}

func TestSeedWipeZeroesSeed(t *testing.T) {
	s := mustSeed(t, testSeed)
	s.Wipe()
	if s.b != [64]byte{} || s.n != 0 {
		t.Fatalf("seed not zero after Wipe")
	}
	if _, err := NewMaster(s, Secp256k1); !errors.Is(err, ErrInvalidSeed) {
		t.Fatalf("NewMaster(wiped seed) error = %v, want ErrInvalidSeed", err)
	}
}

func TestNewSeedRejectsBadLengths(t *testing.T) {
	for _, n := range []int{0, 15, 65, 128} {
		if _, err := NewSeed(make([]byte, n)); !errors.Is(err, ErrInvalidSeed) {
			t.Errorf("NewSeed(%d bytes) error = %v, want ErrInvalidSeed", n, err)
		}
	}
	for _, n := range []int{16, 32, 64} {
		if _, err := NewSeed(make([]byte, n)); err != nil {
			t.Errorf("NewSeed(%d bytes) error = %v, want nil", n, err)
		}
	}
}

func TestNewSeedCopiesItsInput(t *testing.T) {
	in := bytes.Clone(testSeed)
	a, b := mustSeed(t, in), mustSeed(t, testSeed)
	in[0] ^= 0xff
	ka, _ := NewMaster(a, Secp256k1)
	kb, _ := NewMaster(b, Secp256k1)
	if ka.key != kb.key {
		t.Fatalf("seed changed with the caller's slice, want a copy")
	}
}

func TestNewMasterRejectsBadArguments(t *testing.T) {
	if _, err := NewMaster(nil, Secp256k1); !errors.Is(err, ErrInvalidSeed) {
		t.Errorf("nil seed: error = %v, want ErrInvalidSeed", err)
	}
	for _, c := range []Curve{0, 4, -1} {
		if _, err := NewMaster(mustSeed(t, testSeed), c); !errors.Is(err, ErrUnsupportedCurve) {
			t.Errorf("curve %v: error = %v, want ErrUnsupportedCurve", c, err)
		}
	}
}

func TestEd25519RejectsNonHardenedChild(t *testing.T) {
	m := mustMaster(t, Ed25519)
	if _, err := m.Child(0); !errors.Is(err, ErrHardenedOnly) {
		t.Errorf("Child(0) error = %v, want ErrHardenedOnly", err)
	}
	_, err := m.Derive(mustPath(t, "m/44'/501'/0/0'"))
	if !errors.Is(err, ErrHardenedOnly) {
		t.Fatalf("Derive error = %v, want ErrHardenedOnly", err)
	}
	if !strings.Contains(err.Error(), "path component 3") {
		t.Errorf("Derive error = %q, want it to name path component 3", err)
	}
}

func TestDeriveLeavesTheReceiverIntact(t *testing.T) {
	m := mustMaster(t, Secp256k1)
	before := *m
	n, err := m.Derive(mustPath(t, "m/44'/60'/0'/0/0"))
	if err != nil {
		t.Fatal(err)
	}
	if *m != before {
		t.Fatalf("Derive changed its receiver")
	}
	same, err := m.Derive(Path{})
	if err != nil {
		t.Fatal(err)
	}
	if same == m || *same != *m {
		t.Fatalf("Derive(m) = receiver or a different node, want an equal copy")
	}
	same.Wipe()
	if m.key == [32]byte{} {
		t.Fatalf("wiping Derive(m)'s result wiped the receiver")
	}
	if n.Depth() != 5 || n.ChildIndex() != 0 {
		t.Errorf("got depth %d index %d, want 5 and 0", n.Depth(), n.ChildIndex())
	}
}

func TestCloneIsIndependent(t *testing.T) {
	m := mustMaster(t, NIST256p1)
	c := m.Clone()
	c.Wipe()
	if m.key == [32]byte{} || m.Curve() != NIST256p1 {
		t.Fatalf("wiping a clone wiped the original")
	}
}

func TestDeriveStopsAtDepth255(t *testing.T) {
	m := mustMaster(t, Ed25519) // fastest curve
	deep, err := m.Derive(mustPath(t, "m"+strings.Repeat("/7'", 255)))
	if err != nil {
		t.Fatalf("Derive to depth 255: %v", err)
	}
	if deep.Depth() != 255 {
		t.Fatalf("got depth %d, want 255", deep.Depth())
	}
	if _, err := deep.Child(Hardened); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Child at depth 255: error = %v, want ErrInvalidPath", err)
	}
	one, _ := m.Child(Hardened)
	if _, err := one.Derive(make(Path, 255)); !errors.Is(err, ErrInvalidPath) {
		t.Errorf("Derive past depth 255: error = %v, want ErrInvalidPath", err)
	}
}

func TestExtendedKeysAreSecp256k1Only(t *testing.T) {
	for _, c := range []Curve{Ed25519, NIST256p1} {
		n := mustMaster(t, c)
		if _, err := n.ExtendedPublicKey(); !errors.Is(err, ErrUnsupportedCurve) {
			t.Errorf("%v: ExtendedPublicKey error = %v, want ErrUnsupportedCurve", c, err)
		}
		if _, err := n.ExtendedPrivateKey(); !errors.Is(err, ErrUnsupportedCurve) {
			t.Errorf("%v: ExtendedPrivateKey error = %v, want ErrUnsupportedCurve", c, err)
		}
	}
}

func TestTypedPrivateKeysMatchPublicKey(t *testing.T) {
	k := mustMaster(t, Secp256k1)
	sk, err := k.Secp256k1PrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if got := sk.PubKey().SerializeCompressed(); !bytes.Equal(got, k.PublicKey()) {
		t.Errorf("secp256k1: got public key %x, want %x", got, k.PublicKey())
	}
	if _, err := k.Ed25519PrivateKey(); !errors.Is(err, ErrUnsupportedCurve) {
		t.Errorf("Ed25519PrivateKey on secp256k1: error = %v, want ErrUnsupportedCurve", err)
	}

	e := mustMaster(t, Ed25519)
	ek, err := e.Ed25519PrivateKey()
	if err != nil {
		t.Fatal(err)
	}
	if got := ek.Public().(ed25519.PublicKey); !bytes.Equal(got, e.PublicKey()) {
		t.Errorf("ed25519: got public key %x, want %x", got, e.PublicKey())
	}
	if len(e.PublicKey()) != 32 || len(e.PublicKeySLIP10()) != 33 || e.PublicKeySLIP10()[0] != 0 {
		t.Errorf("ed25519: got key lengths %d/%d, want 32 and 33 with a 0x00 prefix", len(e.PublicKey()), len(e.PublicKeySLIP10()))
	}
	if _, err := e.Secp256k1PrivateKey(); !errors.Is(err, ErrUnsupportedCurve) {
		t.Errorf("Secp256k1PrivateKey on ed25519: error = %v, want ErrUnsupportedCurve", err)
	}
}

func TestPublicKeyReturnsACopy(t *testing.T) {
	n := mustMaster(t, Secp256k1)
	p := n.PublicKey()
	p[1] ^= 0xff
	if bytes.Equal(p, n.PublicKey()) {
		t.Fatalf("changing the returned public key changed the node")
	}
}

func TestCurveString(t *testing.T) {
	tests := []struct {
		c    Curve
		want string
	}{{Secp256k1, "secp256k1"}, {Ed25519, "ed25519"}, {NIST256p1, "nist256p1"}, {0, "Curve(0)"}, {9, "Curve(9)"}}
	for _, tt := range tests {
		if got := tt.c.String(); got != tt.want {
			t.Errorf("Curve(%d).String() = %q, want %q", int(tt.c), got, tt.want)
		}
	}
}

func TestEd25519PrivateKeyEqualsTheStandardExpansion(t *testing.T) {
	seed, _ := NewSeed(bytes.Repeat([]byte{7}, 32))
	m, err := NewMaster(seed, Ed25519)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{"m", "m/44'/501'/0'/0'", "m/1'/2'/3'"} {
		path, _ := ParsePath(p)
		n, err := m.Derive(path)
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.Ed25519PrivateKey()
		if err != nil {
			t.Fatal(err)
		}
		if want := ed25519.NewKeyFromSeed(n.key[:]); !bytes.Equal(got, want) {
			t.Fatalf("%s: the private key differs from ed25519.NewKeyFromSeed of the same seed", p)
		}
	}
}
