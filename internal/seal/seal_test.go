package seal

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"testing"

	xhkdf "golang.org/x/crypto/hkdf"
)

func testMaster(t *testing.T, fill byte) *MasterKey {
	t.Helper()
	k, err := MasterKeyFromBytes(bytes.Repeat([]byte{fill}, 32))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestDerivationMatchesAnIndependentHKDF(t *testing.T) {
	mk := testMaster(t, 7)
	got, err := mk.IdentityScalar()
	if err != nil {
		t.Fatal(err)
	}
	want := make([]byte, 32)
	r := xhkdf.New(sha256.New, bytes.Repeat([]byte{7}, 32), []byte(hkdfSalt), []byte(labelIdentity))
	if _, err := io.ReadFull(r, want); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got[:], want) {
		t.Fatalf("identity scalar: got %x, want %x", got, want)
	}
}

func TestDerivedKeysDifferByLabelAndMaster(t *testing.T) {
	a, b := testMaster(t, 1), testMaster(t, 2)
	ia, _ := a.IdentityScalar()
	ib, _ := b.IdentityScalar()
	if ia == ib {
		t.Fatal("two master keys gave the same identity")
	}
	ka, _ := a.SealingKey("wallet")
	blob, _ := ka.Seal("x", 1, []byte("p"))
	for _, other := range []struct {
		name string
		key  func() (*Key, error)
	}{
		{"another kind", func() (*Key, error) { return a.SealingKey("master") }},
		{"another master", func() (*Key, error) { return b.SealingKey("wallet") }},
	} {
		k, err := other.key()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := k.Open("x", 1, blob); !errors.Is(err, ErrOpen) {
			t.Fatalf("%s opened the blob: got %v, want ErrOpen", other.name, err)
		}
	}
}

func TestSealedObjectIsBoundToItsIdentity(t *testing.T) {
	k, err := testMaster(t, 3).SealingKey("wallet")
	if err != nil {
		t.Fatal(err)
	}
	secret := []byte("entropy entropy entropy!")
	blob, err := k.Seal("alice", 4, secret)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(blob, secret) {
		t.Fatal("sealed blob contains the plaintext")
	}
	if pt, err := k.Open("alice", 4, blob); err != nil || !bytes.Equal(pt, secret) {
		t.Fatalf("open: got %q, %v; want the plaintext", pt, err)
	}
	flip := func(i int) []byte { b := bytes.Clone(blob); b[i] ^= 1; return b }
	tests := []struct {
		name    string
		id      string
		version uint64
		blob    []byte
	}{
		{"another id", "bob", 4, blob},
		{"an id that is a prefix", "alic", 4, blob},
		{"an older version", "alice", 3, blob},
		{"a newer version", "alice", 5, blob},
		{"a flipped format byte", "alice", 4, flip(0)},
		{"a flipped nonce", "alice", 4, flip(5)},
		{"a flipped ciphertext", "alice", 4, flip(len(blob) - 20)},
		{"a flipped tag", "alice", 4, flip(len(blob) - 1)},
		{"truncated", "alice", 4, blob[:len(blob)-1]},
		{"only the header", "alice", 4, blob[:25]},
		{"empty", "alice", 4, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := k.Open(tc.id, tc.version, tc.blob); !errors.Is(err, ErrOpen) {
				t.Fatalf("got %v, want ErrOpen", err)
			}
		})
	}
}

func TestSealUsesFreshNonces(t *testing.T) {
	k, _ := testMaster(t, 4).SealingKey("wallet")
	a, _ := k.Seal("x", 1, []byte("same"))
	b, _ := k.Seal("x", 1, []byte("same"))
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same plaintext are equal")
	}
}

func TestSealingKeyRejectsBadKinds(t *testing.T) {
	mk := testMaster(t, 5)
	for _, kind := range []string{"", "Wallet", "wal let", "x/y", string(make([]byte, 33))} {
		if _, err := mk.SealingKey(kind); err == nil {
			t.Errorf("kind %q: got nil error, want an error", kind)
		}
	}
}

func TestWipeZeroesTheMasterKey(t *testing.T) {
	mk := testMaster(t, 6)
	mk.Wipe()
	if mk.b != [32]byte{} {
		t.Fatal("master key not zero after Wipe")
	}
}
