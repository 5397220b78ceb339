package sol

import (
	"bytes"
	"testing"
)

// FuzzParseAddress checks the round trip: an accepted string is exactly what
// String prints for the parsed bytes, so each address has one spelling.
func FuzzParseAddress(f *testing.F) {
	for _, s := range []string{
		"14CCvQzQzHCVgZM3j9soPnXuJXh1RmCfwLVUcdfbZVBS",
		"CqPFGxxzrE2bgLGC98x9rYix7Nq17mh8L7pWseJt3c9N",
		"HAgk14JpMQLgt6rVgv7cBQFJWFto5Dqxi472uT3DKpqk",
		"11111111111111111111111111111111",
		Address(bytes.Repeat([]byte{0xff}, 32)).String(),
		"111111111111111111111111111111111",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if got := a.String(); got != s {
			t.Fatalf("String() = %q, want %q", got, s)
		}
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("re-parse = %v, %v; want %v", b, err, a)
		}
	})
}
