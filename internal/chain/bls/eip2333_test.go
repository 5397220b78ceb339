package bls

import (
	"bytes"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/consensys/gnark-crypto/ecc/bls12-381/fr"
)

// Failure messages name the case, never the key: even test keys stay out of
// logs so that a copied assertion cannot leak a real one.

func TestDeriveMasterMatchesERC2333Vectors(t *testing.T) {
	var v eip2333Vectors
	loadJSON(t, "eip2333_vectors.json", &v)
	if len(v.Cases) != 4 {
		t.Fatalf("got %d ERC-2333 cases, want 4", len(v.Cases))
	}
	for i, c := range v.Cases {
		sk, err := DeriveMaster(mustHex(t, c.Seed))
		if err != nil {
			t.Fatalf("case %d: DeriveMaster: %v", i, err)
		}
		if want := decimalKey(t, c.MasterSK); sk.b != want {
			t.Errorf("case %d: master_SK differs from the vector", i)
		}
	}
}

func TestChildMatchesERC2333Vectors(t *testing.T) {
	var v eip2333Vectors
	loadJSON(t, "eip2333_vectors.json", &v)
	for i, c := range v.Cases {
		master := mustSecretKey(t, decimalKey(t, c.MasterSK))
		child, err := master.Child(c.ChildIndex)
		if err != nil {
			t.Fatalf("case %d: Child(%d): %v", i, c.ChildIndex, err)
		}
		if want := decimalKey(t, c.ChildSK); child.b != want {
			t.Errorf("case %d: child_SK at index %d differs from the vector", i, c.ChildIndex)
		}
	}
}

// ERC-2333 "Test Vector with Intermediate values" (test case 0, child index
// 0), ethereum/ERCs ERCS/erc-2333.md @000d8147da236a0025d1082433a7cda9f1adc6f7.
const (
	erc2333Case0Lamport0First    = "e345d0ad7be270737de05cf036f688f385d5f99c7fddb054837658bdd2ebd519"
	erc2333Case0CompressedLampPK = "dd635d27d1d52b9a49df9e5c0c622360a4dd17cba7db4e89bce3cb048fb721a5"
)

func TestLamportStepsMatchERC2333IntermediateValues(t *testing.T) {
	var v eip2333Vectors
	loadJSON(t, "eip2333_vectors.json", &v)
	master := decimalKey(t, v.Cases[0].MasterSK)

	var salt [4]byte
	binary.BigEndian.PutUint32(salt[:], 0)
	lamport0, err := ikmToLamportSK(master[:], salt[:])
	if err != nil {
		t.Fatalf("ikmToLamportSK: %v", err)
	}
	if len(lamport0) != 255*32 {
		t.Fatalf("lamport_SK is %d bytes, want %d", len(lamport0), 255*32)
	}
	if !bytes.Equal(lamport0[:32], mustHex(t, erc2333Case0Lamport0First)) {
		t.Errorf("lamport_0[0] differs from the ERC-2333 intermediate value")
	}

	var lpk [32]byte
	if err := parentSKToLamportPK(&master, 0, &lpk); err != nil {
		t.Fatalf("parentSKToLamportPK: %v", err)
	}
	if !bytes.Equal(lpk[:], mustHex(t, erc2333Case0CompressedLampPK)) {
		t.Errorf("compressed_lamport_PK differs from the ERC-2333 intermediate value")
	}
}

// The streamed hashing in parentSKToLamportPK must equal the specification's
// literal procedure: build lamport_PK (16,320 bytes), then hash it.
func TestLamportPKStreamingEqualsLiteralProcedure(t *testing.T) {
	rng := rand.New(rand.NewChaCha8([32]byte{23, 33}))
	for i := range 4 {
		var parent [32]byte
		for j := range parent {
			parent[j] = byte(rng.Uint32())
		}
		index := rng.Uint32()
		var salt [4]byte
		binary.BigEndian.PutUint32(salt[:], index)

		var literal []byte
		notParent := parent
		for j := range notParent {
			notParent[j] = ^notParent[j]
		}
		for _, ikm := range [][]byte{parent[:], notParent[:]} {
			sk, err := ikmToLamportSK(ikm, salt[:])
			if err != nil {
				t.Fatal(err)
			}
			for k := 0; k < 255; k++ {
				h := sha256.Sum256(sk[k*32 : (k+1)*32])
				literal = append(literal, h[:]...)
			}
		}
		want := sha256.Sum256(literal)

		var got [32]byte
		if err := parentSKToLamportPK(&parent, index, &got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("case %d: streamed compressed_lamport_PK differs from the literal procedure", i)
		}
	}
}

func TestDeriveMasterEnforcesSeedLength(t *testing.T) {
	tests := []struct {
		name string
		n    int
		ok   bool
	}{
		{"rejects a nil seed", -1, false},
		{"rejects an empty seed", 0, false},
		{"rejects 31 bytes (ERC-2333 needs >= 256 bits)", 31, false},
		{"accepts 32 bytes", 32, true},
		{"accepts 48 bytes", 48, true},
		{"accepts a 64-byte BIP39 seed", 64, true},
		{"rejects 65 bytes", 65, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var seed []byte
			if tt.n >= 0 {
				seed = bytes.Repeat([]byte{0x5a}, tt.n)
			}
			sk, err := DeriveMaster(seed)
			if tt.ok {
				if err != nil || !sk.valid() {
					t.Fatalf("DeriveMaster(%d bytes) = %v", tt.n, err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSeed) || sk != nil {
				t.Fatalf("DeriveMaster(%d bytes) error = %v, want ErrInvalidSeed", tt.n, err)
			}
		})
	}
}

func TestRBytesIsTheGroupOrder(t *testing.T) {
	if got := new(big.Int).SetBytes(rBytes[:]); got.Cmp(fr.Modulus()) != 0 {
		t.Fatalf("rBytes = %v, want fr.Modulus() = %v", got, fr.Modulus())
	}
}

// os2ipModR is hand-written glue (limbs in the scalar field); math/big is the
// reference.
func TestOS2IPModRMatchesMathBig(t *testing.T) {
	r := fr.Modulus()
	var inputs [][48]byte
	var allOnes, zero, rPadded, rMinus1, twoTo256 [48]byte
	for i := range allOnes {
		allOnes[i] = 0xff
	}
	r.FillBytes(rPadded[:])
	new(big.Int).Sub(r, big.NewInt(1)).FillBytes(rMinus1[:])
	twoTo256[15] = 1
	inputs = append(inputs, allOnes, zero, rPadded, rMinus1, twoTo256)
	rng := rand.New(rand.NewChaCha8([32]byte{48}))
	for range 200 {
		var b [48]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		inputs = append(inputs, b)
	}
	for i, in := range inputs {
		want := new(big.Int).Mod(new(big.Int).SetBytes(in[:]), r)
		z := os2ipModR(&in)
		got := z.Bytes()
		if new(big.Int).SetBytes(got[:]).Cmp(want) != 0 {
			t.Errorf("input %d: os2ipModR differs from math/big", i)
		}
	}
}

func TestLessThanRMatchesMathBig(t *testing.T) {
	r := fr.Modulus()
	var cases [][32]byte
	for _, d := range []int64{-2, -1, 0, 1, 2} {
		var b [32]byte
		new(big.Int).Add(r, big.NewInt(d)).FillBytes(b[:])
		cases = append(cases, b)
	}
	var ones [32]byte
	for i := range ones {
		ones[i] = 0xff
	}
	cases = append(cases, [32]byte{}, ones)
	rng := rand.New(rand.NewChaCha8([32]byte{32}))
	for range 200 {
		var b [32]byte
		for i := range b {
			b[i] = byte(rng.Uint32())
		}
		b[0] &= 0x7f // keep about half the cases below r
		cases = append(cases, b)
	}
	for i, b := range cases {
		want := new(big.Int).SetBytes(b[:]).Cmp(r) < 0
		if got := lessThanR(&b); got != want {
			t.Errorf("case %d: lessThanR = %v, want %v", i, got, want)
		}
	}
}
