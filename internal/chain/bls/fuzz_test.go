package bls

import (
	"errors"
	"slices"
	"testing"
)

// FuzzParsePath: any accepted path is canonical (String gives the input
// back), re-parses to the same indices and keeps the EIP-2334 shape; any
// refused path wraps ErrInvalidPath.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"m/12381/3600/0/0/0", "m/12381/3600/0/0", "m/12381/3600/4294967295/0/0",
		"m/12381/3600/0/0/0/0", "m/12381'/3600'/0'/0'/0'", "m/44'/60'/0'/0/0",
		"m/12381/3600/01/0/0", "m", "", "m/12381/3600/4294967296/0",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidPath) || p != nil {
				t.Fatalf("ParsePath(%q) = %v, %v; want nil, ErrInvalidPath", s, p, err)
			}
			return
		}
		if len(p) < MinPathDepth || len(p) > MaxPathDepth || p[0] != Purpose || p[1] != CoinType {
			t.Fatalf("ParsePath(%q) = %v: not an EIP-2334 validator path", s, p)
		}
		if got := p.String(); got != s {
			t.Fatalf("ParsePath(%q).String() = %q", s, got)
		}
		p2, err := ParsePath(p.String())
		if err != nil || !slices.Equal(p, p2) {
			t.Fatalf("round trip of %q: %v, %v", s, p2, err)
		}
	})
}

// FuzzVerify: arbitrary public key, message and signature bytes never
// panic, Parse* errors wrap their sentinels, and anything Verify accepts
// parses.
func FuzzVerify(f *testing.F) {
	var v ethBLSVectors
	loadJSON(f, "bls12381_eth_sign_verify.json", &v)
	for _, c := range v.Verify {
		f.Add(mustHex(f, c.Pubkey), mustHex(f, c.Message), mustHex(f, c.Signature))
	}
	f.Add(infinityG1[:], []byte{}, infinityG2[:])
	f.Add([]byte{0x80}, []byte("m"), []byte{0xa0})
	f.Fuzz(func(t *testing.T, pkb, msg, sigb []byte) {
		pkErr := parseErr(ParsePublicKey(pkb))
		if pkErr != nil && !errors.Is(pkErr, ErrInvalidPublicKey) {
			t.Fatalf("ParsePublicKey error %v does not wrap ErrInvalidPublicKey", pkErr)
		}
		sigErr := parseErr(ParseSignature(sigb))
		if sigErr != nil && !errors.Is(sigErr, ErrInvalidSignature) {
			t.Fatalf("ParseSignature error %v does not wrap ErrInvalidSignature", sigErr)
		}
		// Fixed-size inputs: pad or truncate, as a careless caller might.
		var pk PublicKey
		var sig Signature
		copy(pk[:], pkb)
		copy(sig[:], sigb)
		ok := Verify(pk, msg, sig)
		popOK := PopVerify(pk, sig)
		if ok || popOK {
			if _, err := ParsePublicKey(pk[:]); err != nil {
				t.Fatalf("Verify accepted a public key that ParsePublicKey refuses: %v", err)
			}
			if _, err := ParseSignature(sig[:]); err != nil {
				t.Fatalf("Verify accepted a signature that ParseSignature refuses: %v", err)
			}
		}
	})
}

func parseErr[T any](_ T, err error) error { return err }
