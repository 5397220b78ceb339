package hd

import (
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/btcsuite/btcd/btcutil/hdkeychain"
	"github.com/btcsuite/btcd/chaincfg"
)

// TestDeriveMatchesHdkeychain compares our secp256k1 derivation with an
// independent BIP32 implementation, btcutil's hdkeychain, on 200 random
// seeds and random paths mixing hardened and non-hardened indexes. The
// seeds and paths come from a fixed ChaCha8 stream, so failures reproduce.
func TestDeriveMatchesHdkeychain(t *testing.T) {
	r := rand.New(rand.NewChaCha8([32]byte{'n', 'i', 'o', 'm', 'o', 'n'}))
	for i := range 200 {
		seed := make([]byte, 16+r.IntN(49)) // 16..64 bytes
		for j := range seed {
			seed[j] = byte(r.Uint32())
		}
		p := make(Path, r.IntN(7)) // depth 0..6
		for j := range p {
			p[j] = r.Uint32() // top bit random: about half hardened
			if r.IntN(4) == 0 {
				p[j] &= 0xff | Hardened // small indexes too, as real paths have
			}
		}

		ref, err := hdkeychain.NewMaster(seed, &chaincfg.MainNetParams)
		if err != nil {
			t.Fatalf("seed %d: hdkeychain.NewMaster: %v", i, err)
		}
		refErr := error(nil)
		for _, c := range p {
			if ref, refErr = ref.Derive(c); refErr != nil {
				break
			}
		}
		master, err := NewMaster(mustSeed(t, seed), Secp256k1)
		if err != nil {
			t.Fatalf("seed %d: NewMaster: %v", i, err)
		}
		n, err := master.Derive(p)
		if refErr != nil || err != nil {
			if !errors.Is(refErr, hdkeychain.ErrInvalidChild) || !errors.Is(err, ErrInvalidChild) {
				t.Fatalf("seed %d path %v: got error %v, hdkeychain error %v", i, p, err, refErr)
			}
			continue
		}
		refPub, err := ref.Neuter()
		if err != nil {
			t.Fatal(err)
		}
		got, err := n.ExtendedPublicKey()
		if err != nil {
			t.Fatalf("seed %d: ExtendedPublicKey: %v", i, err)
		}
		if want := refPub.String(); got != want {
			t.Errorf("seed %d path %v: got xpub %s, want %s", i, p, got, want)
		}
		if got, _ := n.ExtendedPrivateKey(); got != ref.String() {
			t.Errorf("seed %d path %v: xprv differs from hdkeychain", i, p)
		}
	}
}
