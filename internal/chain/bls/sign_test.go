package bls

import (
	"errors"
	"testing"
)

func TestSignMatchesConsensusSpecVectors(t *testing.T) {
	var v ethBLSVectors
	loadJSON(t, "bls12381_eth_sign_verify.json", &v)
	if len(v.Sign) != 10 {
		t.Fatalf("got %d sign vectors, want 10", len(v.Sign))
	}
	errorCases := 0
	for _, c := range v.Sign {
		t.Run(c.Name, func(t *testing.T) {
			kb := mustKeyBytes(t, c.Privkey)
			msg := mustHex(t, c.Message)
			sk, err := SecretKeyFromBytes(&kb)
			if c.Output == nil {
				errorCases++
				if !errors.Is(err, ErrInvalidSecretKey) || sk != nil {
					t.Fatalf("SecretKeyFromBytes error = %v, want ErrInvalidSecretKey (the spec expects an error)", err)
				}
				// The same scalar can only reach Sign as an unusable key.
				if _, err := Sign(&SecretKey{b: kb}, msg); !errors.Is(err, ErrWiped) {
					t.Fatalf("Sign with a zero scalar: error = %v, want ErrWiped", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("SecretKeyFromBytes: %v", err)
			}
			sig, err := Sign(sk, msg)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if want := mustSignature(t, *c.Output); sig != want {
				t.Errorf("Sign = %x, want %x", sig, want)
			}
			pk, err := sk.PublicKey()
			if err != nil {
				t.Fatalf("PublicKey: %v", err)
			}
			if !Verify(pk, msg, sig) {
				t.Errorf("Verify of the vector's own signature = false")
			}
		})
	}
	if errorCases != 1 {
		t.Errorf("got %d sign vectors expecting an error, want 1", errorCases)
	}
}

func TestVerifyMatchesConsensusSpecVectors(t *testing.T) {
	var v ethBLSVectors
	loadJSON(t, "bls12381_eth_sign_verify.json", &v)
	if len(v.Verify) != 6 {
		t.Fatalf("got %d verify vectors, want 6", len(v.Verify))
	}
	for _, c := range v.Verify {
		t.Run(c.Name, func(t *testing.T) {
			if got := verifyBytes(t, mustHex(t, c.Pubkey), mustHex(t, c.Message), mustHex(t, c.Signature)); got != c.Output {
				t.Errorf("Verify = %v, want %v", got, c.Output)
			}
		})
	}
}

// verifyBytes verifies wire bytes as a caller holding untyped input would:
// a wrong length fails ParsePublicKey/ParseSignature (one consensus vector
// has a truncated signature); the right length goes to Verify unparsed, so
// that Verify's own checks are what the vectors exercise.
func verifyBytes(t *testing.T, pk, msg, sig []byte) bool {
	t.Helper()
	if len(pk) != PublicKeySize {
		if _, err := ParsePublicKey(pk); !errors.Is(err, ErrInvalidPublicKey) {
			t.Fatalf("ParsePublicKey(%d bytes) error = %v, want ErrInvalidPublicKey", len(pk), err)
		}
		return false
	}
	if len(sig) != SignatureSize {
		if _, err := ParseSignature(sig); !errors.Is(err, ErrInvalidSignature) {
			t.Fatalf("ParseSignature(%d bytes) error = %v, want ErrInvalidSignature", len(sig), err)
		}
		return false
	}
	return Verify(PublicKey(pk), msg, Signature(sig))
}

// The verify vectors' public keys belong to sign-vector keys (the pairing is
// inferred: see testdata/README.md). Each valid verify case's signature is a
// sign-vector output; the key that produced it must give the case's public
// key, which checks PublicKey against outside data.
func TestPublicKeyMatchesConsensusSpecVectors(t *testing.T) {
	var v ethBLSVectors
	loadJSON(t, "bls12381_eth_sign_verify.json", &v)
	checked := 0
	for _, vc := range v.Verify {
		if !vc.Output {
			continue
		}
		for _, sc := range v.Sign {
			if sc.Output == nil || *sc.Output != vc.Signature {
				continue
			}
			sk := mustSecretKey(t, mustKeyBytes(t, sc.Privkey))
			pk, err := sk.PublicKey()
			if err != nil {
				t.Fatalf("%s: PublicKey: %v", sc.Name, err)
			}
			if want := mustPublicKey(t, vc.Pubkey); pk != want {
				t.Errorf("%s: PublicKey = %x, want %x (from %s)", sc.Name, pk, want, vc.Name)
			}
			checked++
		}
	}
	if checked != 3 {
		t.Fatalf("matched %d valid verify vectors to sign vectors, want 3", checked)
	}
}

func TestSecretKeyFromBytesRange(t *testing.T) {
	rMinus1 := rBytes
	rMinus1[SecretKeySize-1]--
	rPlus1 := rBytes
	rPlus1[SecretKeySize-1]++
	var one, ones [SecretKeySize]byte
	one[SecretKeySize-1] = 1
	for i := range ones {
		ones[i] = 0xff
	}
	tests := []struct {
		name string
		in   *[SecretKeySize]byte
		ok   bool
	}{
		{"rejects nil", nil, false},
		{"rejects zero", &[SecretKeySize]byte{}, false},
		{"accepts one", &one, true},
		{"accepts r-1", &rMinus1, true},
		{"rejects r", &rBytes, false},
		{"rejects r+1", &rPlus1, false},
		{"rejects 2^256-1", &ones, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk, err := SecretKeyFromBytes(tt.in)
			if tt.ok {
				if err != nil || !sk.valid() {
					t.Fatalf("SecretKeyFromBytes error = %v, want success", err)
				}
				return
			}
			if !errors.Is(err, ErrInvalidSecretKey) || sk != nil {
				t.Fatalf("SecretKeyFromBytes error = %v, want ErrInvalidSecretKey", err)
			}
		})
	}
}

func TestUnusableKeysAreRefused(t *testing.T) {
	wiped := mustSecretKey(t, [SecretKeySize]byte{31: 7})
	wiped.Wipe()
	if wiped.b != [SecretKeySize]byte{} {
		t.Fatalf("Wipe left key bytes behind")
	}
	keys := []struct {
		name string
		sk   *SecretKey
	}{
		{"nil", nil},
		{"zero value", &SecretKey{}},
		{"wiped", wiped},
	}
	for _, k := range keys {
		t.Run(k.name, func(t *testing.T) {
			if _, err := Sign(k.sk, []byte("msg")); !errors.Is(err, ErrWiped) {
				t.Errorf("Sign error = %v, want ErrWiped", err)
			}
			if _, err := k.sk.PublicKey(); !errors.Is(err, ErrWiped) {
				t.Errorf("PublicKey error = %v, want ErrWiped", err)
			}
			if _, err := k.sk.Child(0); !errors.Is(err, ErrWiped) {
				t.Errorf("Child error = %v, want ErrWiped", err)
			}
			if _, err := PopProve(k.sk); !errors.Is(err, ErrWiped) {
				t.Errorf("PopProve error = %v, want ErrWiped", err)
			}
			if k.sk.Equal(k.sk) {
				t.Errorf("Equal of an unusable key with itself = true")
			}
			k.sk.Wipe() // must not panic, even on nil
		})
	}
}

func TestSecretKeyEqual(t *testing.T) {
	a := mustSecretKey(t, [SecretKeySize]byte{31: 1})
	a2 := mustSecretKey(t, [SecretKeySize]byte{31: 1})
	b := mustSecretKey(t, [SecretKeySize]byte{31: 2})
	if !a.Equal(a2) {
		t.Errorf("Equal of equal keys = false")
	}
	if a.Equal(b) || b.Equal(a) {
		t.Errorf("Equal of different keys = true")
	}
}
