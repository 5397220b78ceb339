package hd

import (
	"math/big"
	"math/rand/v2"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// Curve orders, from SEC 2 (secp256k1) and FIPS 186-4 (P-256).
var orders = map[Curve]*big.Int{
	Secp256k1: hexInt("FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141"),
	NIST256p1: hexInt("FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551"),
}

func hexInt(s string) *big.Int {
	v, ok := new(big.Int).SetString(s, 16)
	if !ok {
		panic("bad constant")
	}
	return v
}

func bytes32(v *big.Int) *[32]byte {
	var b [32]byte
	v.FillBytes(b[:])
	return &b
}

// TestAddScalarMatchesBigInt checks the constant-time mod-n additions
// against math/big on the edges of the BIP32/SLIP-10 validity rule and on
// random values.
func TestAddScalarMatchesBigInt(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{1}))
	max256 := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	for c, n := range orders {
		nm1 := new(big.Int).Sub(n, big.NewInt(1))
		cases := [][2]*big.Int{
			{big.NewInt(0), big.NewInt(0)},                      // zero master key: invalid
			{big.NewInt(1), big.NewInt(0)},                      // smallest valid
			{nm1, big.NewInt(0)},                                // largest valid
			{n, big.NewInt(0)},                                  // IL = n: invalid
			{max256, big.NewInt(5)},                             // IL ≥ n: invalid
			{nm1, big.NewInt(1)},                                // sum = n ≡ 0: invalid
			{big.NewInt(1), nm1},                                // sum = n ≡ 0: invalid
			{nm1, nm1},                                          // sum = 2n−2: wraps
			{new(big.Int).Rsh(n, 1), nm1},                       // wraps
			{new(big.Int).Add(n, big.NewInt(1)), big.NewInt(1)}, // IL = n+1: invalid
		}
		for range 2000 {
			var a, b [32]byte
			for i := range a {
				a[i], b[i] = byte(r.Uint32()), byte(r.Uint32())
			}
			bb := new(big.Int).Mod(new(big.Int).SetBytes(b[:]), n) // kpar is always < n
			cases = append(cases, [2]*big.Int{new(big.Int).SetBytes(a[:]), bb})
		}
		for i, tc := range cases {
			il, kpar := tc[0], tc[1]
			sum := new(big.Int).Add(il, kpar)
			sum.Mod(sum, n)
			wantOK := il.Cmp(n) < 0 && sum.Sign() != 0
			var out [32]byte
			gotOK := addScalar(c, bytes32(il), bytes32(kpar), &out)
			if gotOK != wantOK {
				t.Fatalf("%v case %d: got valid=%v, want %v", c, i, gotOK, wantOK)
			}
			if wantOK && out != *bytes32(sum) {
				t.Fatalf("%v case %d: sum differs from math/big", c, i)
			}
		}
	}
}

func TestAddScalarRejectsUnknownCurve(t *testing.T) {
	var a, b, out [32]byte
	a[31] = 1
	if addScalar(Ed25519, &a, &b, &out) {
		t.Fatalf("addScalar(ed25519) = true, want false")
	}
}

// The secp256k1 order used above must be the library's.
func TestSecp256k1OrderConstant(t *testing.T) {
	if got, want := secp256k1.S256().N, orders[Secp256k1]; got.Cmp(want) != 0 {
		t.Fatalf("got order %x, want %x", got, want)
	}
}
