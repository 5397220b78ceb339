package btc

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

func TestSigningRejectsNilAndZeroKeys(t *testing.T) {
	var digest [32]byte
	for name, k := range map[string]*btcec.PrivateKey{"nil": nil, "zero": new(btcec.PrivateKey)} {
		if _, err := SignECDSA(k, digest); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: SignECDSA error = %v, want ErrInvalidKey", name, err)
		}
		if _, err := SignSchnorr(k, digest, nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: SignSchnorr error = %v, want ErrInvalidKey", name, err)
		}
		if _, err := SignTaprootKeyPath(k, nil, digest, nil); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: SignTaprootKeyPath error = %v, want ErrInvalidKey", name, err)
		}
	}
}

func TestAddressesRejectInvalidKeysAndNetworks(t *testing.T) {
	pub := randomKey(t, testRand(10)).PubKey()
	offCurve := btcec.NewPublicKey(new(btcec.FieldVal).SetInt(1), new(btcec.FieldVal).SetInt(1))
	for name, k := range map[string]*btcec.PublicKey{"nil": nil, "off the curve": offCurve} {
		if _, err := P2WPKHAddress(k, Mainnet); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: P2WPKHAddress error = %v, want ErrInvalidKey", name, err)
		}
		if _, err := P2TRAddress(k, nil, Mainnet); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: P2TRAddress error = %v, want ErrInvalidKey", name, err)
		}
		if _, err := XOnly(k); !errors.Is(err, ErrInvalidKey) {
			t.Errorf("%s: XOnly error = %v, want ErrInvalidKey", name, err)
		}
	}
	if _, err := P2WPKHAddress(pub, Network{}); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("P2WPKHAddress(zero Network) error = %v, want ErrInvalidNetwork", err)
	}
	if _, err := P2TRAddress(pub, nil, Network{}); !errors.Is(err, ErrInvalidNetwork) {
		t.Errorf("P2TRAddress(zero Network) error = %v, want ErrInvalidNetwork", err)
	}
	var zero Address
	if zero.String() != "" || zero.ScriptPubKey() != nil {
		t.Errorf("zero Address prints %q and script %x, want empty", zero.String(), zero.ScriptPubKey())
	}
}

func TestNetworksUseTheirBIP173Prefixes(t *testing.T) {
	pub := randomKey(t, testRand(11)).PubKey()
	for _, c := range []struct {
		net    Network
		prefix string
	}{{Mainnet, "bc1q"}, {Testnet, "tb1q"}, {Regtest, "bcrt1q"}} {
		a, err := P2WPKHAddress(pub, c.net)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(a.String(), c.prefix) {
			t.Errorf("%s address %s does not start with %s", c.net.HRP(), a, c.prefix)
		}
		n, err := NetworkFromHRP(c.net.HRP())
		if err != nil || n != c.net {
			t.Errorf("NetworkFromHRP(%q) = %v, %v", c.net.HRP(), n, err)
		}
	}
	for _, hrp := range []string{"", "BC", "ltc", "tbs"} {
		if _, err := NetworkFromHRP(hrp); !errors.Is(err, ErrInvalidNetwork) {
			t.Errorf("NetworkFromHRP(%q) error = %v, want ErrInvalidNetwork", hrp, err)
		}
	}
}

func TestDERSignatureWithSighashAppendsOnlyValidTypes(t *testing.T) {
	sig := DERSignature{0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x01}
	for b := range 256 {
		st := SighashType(b)
		w, err := sig.WithSighash(st)
		valid := b == 0x01 || b == 0x02 || b == 0x03 || b == 0x81 || b == 0x82 || b == 0x83
		if valid != (err == nil) {
			t.Errorf("WithSighash(%#02x) error = %v, want valid=%v", b, err, valid)
			continue
		}
		if valid && (!bytes.Equal(w[:len(sig)], sig) || len(w) != len(sig)+1 || w[len(sig)] != byte(b)) {
			t.Errorf("WithSighash(%#02x) = %x, want the signature then %02x", b, w, b)
		}
		if !valid && !errors.Is(err, ErrInvalidSighashType) {
			t.Errorf("WithSighash(%#02x) error = %v, want ErrInvalidSighashType", b, err)
		}
	}
}

func TestSchnorrSignatureWithSighashOmitsDefaultByte(t *testing.T) {
	var sig SchnorrSignature
	for i := range sig {
		sig[i] = byte(i)
	}
	for b := range 256 {
		w, err := sig.WithSighash(SighashType(b))
		switch {
		case b == 0x00:
			if err != nil || !bytes.Equal(w, sig[:]) {
				t.Errorf("WithSighash(DEFAULT) = %x, %v; want the 64-byte signature alone", w, err)
			}
		case b == 0x01 || b == 0x02 || b == 0x03 || b == 0x81 || b == 0x82 || b == 0x83:
			if err != nil || len(w) != 65 || !bytes.Equal(w[:64], sig[:]) || w[64] != byte(b) {
				t.Errorf("WithSighash(%#02x) = %x, %v; want 65 bytes ending in %02x", b, w, err, b)
			}
		default:
			if !errors.Is(err, ErrInvalidSighashType) {
				t.Errorf("WithSighash(%#02x) error = %v, want ErrInvalidSighashType", b, err)
			}
		}
	}
}

func TestSignECDSAIsDeterministicAndLowS(t *testing.T) {
	r := testRand(12)
	for i := range 50 {
		priv := randomKey(t, r)
		digest := random32(r)
		a, _ := SignECDSA(priv, digest)
		b, _ := SignECDSA(priv, digest)
		if !bytes.Equal(a, b) {
			t.Fatalf("case %d: two signatures of the same digest differ (RFC 6979 is deterministic)", i)
		}
		p, err := ecdsa.ParseDERSignature(a)
		if err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if s := p.S(); s.IsOverHalfOrder() {
			t.Fatalf("case %d: S above n/2", i)
		}
		priv.Zero()
	}
}

func TestVerifyECDSARejectsHighSAndTampering(t *testing.T) {
	r := testRand(13)
	priv := randomKey(t, r)
	pub := priv.PubKey()
	digest := random32(r)
	sig, _ := SignECDSA(priv, digest)
	if !VerifyECDSA(pub, digest, sig) {
		t.Fatal("VerifyECDSA of a fresh signature = false")
	}
	p, _ := ecdsa.ParseDERSignature(sig)
	rr, s := p.R(), p.S()
	if !bytes.Equal(derEncode(rr.Bytes(), s.Bytes()), sig) {
		t.Fatal("derEncode does not reproduce the library's DER; test helper is broken")
	}
	s.Negate() // n − s: the same signature, malleated to high S
	if !ecdsa.NewSignature(&rr, &s).Verify(digest[:], pub) {
		t.Fatal("the high-S twin does not verify mathematically; test is broken")
	}
	if VerifyECDSA(pub, digest, derEncode(rr.Bytes(), s.Bytes())) {
		t.Error("VerifyECDSA accepted a high-S signature")
	}
	other := digest
	other[0] ^= 1
	if VerifyECDSA(pub, other, sig) {
		t.Error("VerifyECDSA accepted a signature of another digest")
	}
	if VerifyECDSA(nil, digest, sig) || VerifyECDSA(pub, digest, sig[:len(sig)-1]) {
		t.Error("VerifyECDSA accepted a nil key or a truncated signature")
	}
}

func TestSignSchnorrWithoutAuxIsRandomizedAndValid(t *testing.T) {
	priv := randomKey(t, testRand(14))
	xo, _ := XOnly(priv.PubKey())
	digest := [32]byte{1}
	a, err := SignSchnorr(priv, digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := SignSchnorr(priv, digest, nil)
	if a == b {
		t.Error("two signatures with fresh aux randomness are equal")
	}
	if !VerifySchnorr(xo, digest, a) || !VerifySchnorr(xo, digest, b) {
		t.Error("signature with fresh aux randomness does not verify")
	}
	zero := [32]byte{}
	c, _ := SignSchnorr(priv, digest, &zero)
	d, _ := SignSchnorr(priv, digest, &zero)
	if c != d {
		t.Error("two signatures with the same aux differ")
	}
}

func TestTaprootSignatureIsBoundToMerkleRoot(t *testing.T) {
	r := testRand(15)
	priv := randomKey(t, r)
	digest, root := random32(r), random32(r)
	sig, err := SignTaprootKeyPath(priv, &root, digest, nil)
	if err != nil {
		t.Fatal(err)
	}
	withRoot, _ := TaprootOutputKey(priv.PubKey(), &root)
	keyOnly, _ := TaprootOutputKey(priv.PubKey(), nil)
	internal, _ := XOnly(priv.PubKey())
	if !VerifySchnorr(withRoot, digest, sig) {
		t.Error("signature does not verify under the output key with the root")
	}
	if VerifySchnorr(keyOnly, digest, sig) || VerifySchnorr(internal, digest, sig) {
		t.Error("signature verifies under the key-only output key or the internal key")
	}
}

func TestTweakHandlesOddYInternalKeys(t *testing.T) {
	// BIP341 negates d when P has odd y; both parities must give keys whose
	// signatures verify. Find one key of each parity.
	r := testRand(16)
	seen := map[byte]bool{}
	for len(seen) < 2 {
		priv := randomKey(t, r)
		parity := priv.PubKey().SerializeCompressed()[0]
		if seen[parity] {
			continue
		}
		seen[parity] = true
		digest := random32(r)
		sig, err := SignTaprootKeyPath(priv, nil, digest, nil)
		if err != nil {
			t.Fatal(err)
		}
		q, _ := TaprootOutputKey(priv.PubKey(), nil)
		if !VerifySchnorr(q, digest, sig) {
			t.Errorf("prefix %02x: tweaked signature does not verify", parity)
		}
	}
}

func TestSigningLeavesCallerKeyUnchanged(t *testing.T) {
	priv := randomKey(t, testRand(17))
	before := priv.Key
	if _, err := SignTaprootKeyPath(priv, nil, [32]byte{}, nil); err != nil {
		t.Fatal(err)
	}
	if !priv.Key.Equals(&before) {
		t.Error("SignTaprootKeyPath changed the caller's key")
	}
}

func TestAddressAccessorsReturnCopies(t *testing.T) {
	a, err := ParseAddress("bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t4")
	if err != nil {
		t.Fatal(err)
	}
	p := a.WitnessProgram()
	p[0] ^= 0xff
	if a.WitnessProgram()[0] == p[0] {
		t.Error("WitnessProgram returned the Address's own storage")
	}
	if a.WitnessVersion() != 0 || a.Network() != Mainnet || len(a.WitnessProgram()) != 20 {
		t.Errorf("accessors = v%d %s %d bytes, want v0 bc 20 bytes", a.WitnessVersion(), a.Network().HRP(), len(a.WitnessProgram()))
	}
}

func TestParseAddressRejectsOtherFormsWithFixedErrors(t *testing.T) {
	for _, s := range []string{
		"",
		"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", // base58 P2PKH
		"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kv8f3t5", // checksum
		"bc1" + strings.Repeat("q", 88),              // over 90 characters
		"bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7k",     // truncated
	} {
		_, err := ParseAddress(s)
		if !errors.Is(err, ErrInvalidAddress) {
			t.Errorf("ParseAddress(%q) error = %v, want ErrInvalidAddress", s, err)
			continue
		}
		if len(s) > 8 && strings.Contains(err.Error(), s[4:]) {
			t.Errorf("error %q repeats the input", err)
		}
	}
}

// derEncode writes r and s as a DER SEQUENCE of two INTEGERs as given.
// (ecdsa.Signature.Serialize would normalise S to the lower half.)
func derEncode(r, s [32]byte) []byte {
	integer := func(v [32]byte) []byte {
		b := bytes.TrimLeft(v[:], "\x00")
		if len(b) == 0 || b[0]&0x80 != 0 {
			b = append([]byte{0}, b...)
		}
		return append([]byte{0x02, byte(len(b))}, b...)
	}
	body := append(integer(r), integer(s)...)
	return append([]byte{0x30, byte(len(body))}, body...)
}
