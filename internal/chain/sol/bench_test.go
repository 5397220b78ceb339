package sol

import (
	"crypto/ed25519"
	"testing"
)

func BenchmarkSign(b *testing.B) {
	priv := ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))
	message := make([]byte, 300) // a small transfer's message is a few hundred bytes
	for b.Loop() {
		if _, err := Sign(priv, message); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkParseAddress(b *testing.B) {
	for b.Loop() {
		if _, err := ParseAddress("CqPFGxxzrE2bgLGC98x9rYix7Nq17mh8L7pWseJt3c9N"); err != nil {
			b.Fatal(err)
		}
	}
}
