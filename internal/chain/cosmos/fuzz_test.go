package cosmos

import (
	"bytes"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/bech32"
)

// FuzzParseAddress checks the round trip: an accepted string prints as its
// lower-case self and parses back to the same Address.
func FuzzParseAddress(f *testing.F) {
	for _, v := range abandonVectors {
		f.Add(v.address)
	}
	f.Add("COSMOS19RL4CM2HMR8AFY4KLDPXZ3FKA4JGUQ0AUQDAL4")
	for _, hrp := range []string{"osmo", "an1hrp", "!~", strings.Repeat("q", MaxHRPLen)} {
		for _, n := range []int{19, 20, 32, 33} {
			s, _ := bech32.EncodeFromBase256(hrp, bytes.Repeat([]byte{0x5a}, n))
			f.Add(s)
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if got := a.String(); got != strings.ToLower(s) {
			t.Fatalf("String() = %q, want %q", got, strings.ToLower(s))
		}
		if err := ValidateHRP(a.HRP()); err != nil {
			t.Fatalf("accepted address has an invalid HRP: %v", err)
		}
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("re-parse = %v, %v; want %v", b, err, a)
		}
	})
}

// FuzzValidateHRP checks that every HRP ValidateHRP accepts makes an address
// that parses back with the same HRP and key hash, and that every HRP it
// rejects is refused by AddressFromPublicKey.
func FuzzValidateHRP(f *testing.F) {
	for _, s := range []string{"cosmos", "osmo", "a", "an1hrp", "", "Cosmos", "cos mos", strings.Repeat("x", 84), "\x7f", "é"} {
		f.Add(s)
	}
	pub := randomKey(testRand(9)).PubKey()
	f.Fuzz(func(t *testing.T, hrp string) {
		a, err := AddressFromPublicKey(pub, hrp)
		if ValidateHRP(hrp) != nil {
			if err == nil {
				t.Fatalf("AddressFromPublicKey accepted an HRP ValidateHRP rejects")
			}
			return
		}
		if err != nil {
			t.Fatalf("AddressFromPublicKey: %v", err)
		}
		b, err := ParseAddress(a.String())
		if err != nil {
			t.Fatalf("ParseAddress(%q): %v", a, err)
		}
		if b != a || b.HRP() != hrp {
			t.Fatalf("round trip = %v (HRP %q), want %v", b, b.HRP(), a)
		}
	})
}
