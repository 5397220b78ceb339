package cosmos

import "testing"

func BenchmarkSign(b *testing.B) {
	priv := randomKey(testRand(100))
	signBytes := make([]byte, 300) // a typical SignDoc is a few hundred bytes
	for b.Loop() {
		if _, err := Sign(priv, signBytes); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddressFromPublicKey(b *testing.B) {
	pub := randomKey(testRand(101)).PubKey()
	for b.Loop() {
		if _, err := AddressFromPublicKey(pub, "cosmos"); err != nil {
			b.Fatal(err)
		}
	}
}
