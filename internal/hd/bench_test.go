package hd

import (
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// The benchmarks derive the Ethereum account path m/44'/60'/0'/0/i from a
// master node computed once, with i cycling over 1000 addresses, and
// serialise the leaf as an xpub: what hdwallet_get_extended_public_key does.

const benchAddresses = 1000

func BenchmarkDeriveXpub(b *testing.B) {
	master := mustMaster(b, Secp256k1)
	p := Path{44 + Hardened, 60 + Hardened, 0 + Hardened, 0, 0}
	i := 0
	for b.Loop() {
		p[4] = uint32(i % benchAddresses)
		i++
		n, err := master.Derive(p)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := n.ExtendedPublicKey(); err != nil {
			b.Fatal(err)
		}
		n.Wipe()
	}
}

func BenchmarkDeriveXpubHdkeychain(b *testing.B) {
	master, err := hdkeychain.NewMaster(testSeed, &chaincfg.MainNetParams)
	if err != nil {
		b.Fatal(err)
	}
	p := []uint32{44 + Hardened, 60 + Hardened, 0 + Hardened, 0, 0}
	i := 0
	for b.Loop() {
		p[4] = uint32(i % benchAddresses)
		i++
		k := master
		for _, c := range p {
			if k, err = k.Derive(c); err != nil {
				b.Fatal(err)
			}
		}
		pub, err := k.Neuter()
		if err != nil {
			b.Fatal(err)
		}
		_ = pub.String()
	}
}

// BenchmarkDeriveEd25519 is the Solana path m/44'/501'/i'/0'.
func BenchmarkDeriveEd25519(b *testing.B) {
	master := mustMaster(b, Ed25519)
	p := Path{44 + Hardened, 501 + Hardened, 0, 0 + Hardened}
	i := 0
	for b.Loop() {
		p[2] = uint32(i%benchAddresses) | Hardened
		i++
		n, err := master.Derive(p)
		if err != nil {
			b.Fatal(err)
		}
		n.Wipe()
	}
}

// BenchmarkSeed is BIP39's PBKDF2-HMAC-SHA512 with 2048 iterations.
func BenchmarkSeed(b *testing.B) {
	m, err := MnemonicFromEntropy(make([]byte, 32))
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		m.Seed("TREZOR").Wipe()
	}
}
