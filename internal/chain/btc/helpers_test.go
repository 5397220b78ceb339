package btc

import (
	"encoding/hex"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/niomon/niomon/internal/hd"
)

// abandonMnemonic is the all-"abandon" BIP39 phrase of the BIP84 and BIP86
// test vectors. It is public: never send funds to its addresses.
const abandonMnemonic = "abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon abandon about"

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vectors: %v", err)
	}
	return b
}

func mustHex32(t testing.TB, s string) [32]byte {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != 32 {
		t.Fatalf("vector hex is %d bytes, want 32", len(b))
	}
	return [32]byte(b)
}

// deriveKey returns the secp256k1 key at path below the BIP39 seed of
// mnemonic (empty passphrase), through package hd.
func deriveKey(t testing.TB, mnemonic, path string) *btcec.PrivateKey {
	t.Helper()
	m, err := hd.ParseMnemonic(mnemonic)
	if err != nil {
		t.Fatalf("ParseMnemonic: %v", err)
	}
	defer m.Wipe()
	seed := m.Seed("")
	defer seed.Wipe()
	master, err := hd.NewMaster(seed, hd.Secp256k1)
	if err != nil {
		t.Fatalf("NewMaster: %v", err)
	}
	defer master.Wipe()
	p, err := hd.ParsePath(path)
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", path, err)
	}
	n, err := master.Derive(p)
	if err != nil {
		t.Fatalf("Derive(%s): %v", path, err)
	}
	defer n.Wipe()
	k, err := n.Secp256k1PrivateKey()
	if err != nil {
		t.Fatalf("Secp256k1PrivateKey: %v", err)
	}
	return k
}

// testRand is a seeded stream, so that a failing random case is reproduced by
// rerunning the test (failures name the case index, never the key).
func testRand(seed uint64) *rand.ChaCha8 {
	var s [32]byte
	s[0] = byte(seed)
	s[1] = byte(seed >> 8)
	return rand.NewChaCha8(s)
}

func randomKey(t testing.TB, r *rand.ChaCha8) *btcec.PrivateKey {
	t.Helper()
	for {
		var b [32]byte
		r.Read(b[:])
		var k btcec.ModNScalar
		if overflow := k.SetBytes(&b); overflow == 0 && !k.IsZero() {
			return btcec.PrivKeyFromScalar(&k)
		}
	}
}

func random32(r *rand.ChaCha8) [32]byte {
	var b [32]byte
	r.Read(b[:])
	return b
}
