package btc

import (
	"testing"

	"github.com/btcsuite/btcd/btcec/v2/schnorr"
)

func BenchmarkSignECDSA(b *testing.B) {
	r := testRand(100)
	priv := randomKey(b, r)
	digest := random32(r)
	for b.Loop() {
		if _, err := SignECDSA(priv, digest); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignSchnorr(b *testing.B) {
	r := testRand(101)
	priv := randomKey(b, r)
	digest := random32(r)
	for b.Loop() {
		if _, err := SignSchnorr(priv, digest, nil); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSignTaprootKeyPath(b *testing.B) {
	r := testRand(102)
	priv := randomKey(b, r)
	digest := random32(r)
	for b.Loop() {
		if _, err := SignTaprootKeyPath(priv, nil, digest, nil); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkBtcecSchnorrSignVerified measures btcec's BIP340 signing without
// FastSign (with its final self-verification), to size that choice in
// signBIP340.
func BenchmarkBtcecSchnorrSignVerified(b *testing.B) {
	r := testRand(103)
	priv := randomKey(b, r)
	digest, aux := random32(r), random32(r)
	for b.Loop() {
		if _, err := schnorr.Sign(priv, digest[:], schnorr.CustomNonce(aux)); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkP2TRAddress(b *testing.B) {
	pub := randomKey(b, testRand(104)).PubKey()
	for b.Loop() {
		if _, err := P2TRAddress(pub, nil, Mainnet); err != nil {
			b.Fatal(err)
		}
	}
}
