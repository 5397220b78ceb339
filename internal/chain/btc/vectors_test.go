package btc

import (
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/btcsuite/btcd/btcutil"
)

type bip340Vector struct {
	index                         int
	seckey, pubkey, aux, msg, sig []byte
	want                          bool
	comment                       string
}

// loadBIP340 reads testdata/bip340_test_vectors.csv (bitcoin/bips
// bip-0340/test-vectors.csv, see testdata/README.md).
func loadBIP340(t *testing.T) []bip340Vector {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", "bip340_test_vectors.csv"))
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatalf("parsing CSV: %v", err)
	}
	if len(rows) != 20 || rows[0][0] != "index" {
		t.Fatalf("got %d CSV rows, want a header and 19 vectors", len(rows))
	}
	var vs []bip340Vector
	for _, r := range rows[1:] {
		i, err := strconv.Atoi(r[0])
		if err != nil {
			t.Fatalf("bad index %q", r[0])
		}
		vs = append(vs, bip340Vector{
			index: i, seckey: mustHex(t, r[1]), pubkey: mustHex(t, r[2]), aux: mustHex(t, r[3]),
			msg: mustHex(t, r[4]), sig: mustHex(t, r[5]), want: r[6] == "TRUE", comment: r[7],
		})
	}
	return vs
}

func TestSignSchnorrReproducesBIP340Vectors(t *testing.T) {
	signed := 0
	for _, v := range loadBIP340(t) {
		if len(v.seckey) == 0 || len(v.msg) != 32 {
			continue // no key, or a message the 32-byte digest API cannot take (see bip340ref_test.go)
		}
		t.Run(strconv.Itoa(v.index), func(t *testing.T) {
			priv, _ := btcec.PrivKeyFromBytes(v.seckey)
			xo, err := XOnly(priv.PubKey())
			if err != nil {
				t.Fatalf("XOnly: %v", err)
			}
			if !bytes.Equal(xo[:], v.pubkey) {
				t.Errorf("XOnly = %x, want %x", xo, v.pubkey)
			}
			aux := [32]byte(v.aux)
			sig, err := SignSchnorr(priv, [32]byte(v.msg), &aux)
			if err != nil {
				t.Fatalf("SignSchnorr: %v", err)
			}
			if !bytes.Equal(sig[:], v.sig) {
				t.Errorf("SignSchnorr = %x, want %x", sig, v.sig)
			}
		})
		signed++
	}
	if signed != 4 {
		t.Errorf("signed %d vectors, want 4 (indexes 0–3)", signed)
	}
}

func TestVerifySchnorrMatchesBIP340Vectors(t *testing.T) {
	checked := 0
	for _, v := range loadBIP340(t) {
		if len(v.msg) != 32 {
			continue // see bip340ref_test.go
		}
		t.Run(strconv.Itoa(v.index), func(t *testing.T) {
			if got := VerifySchnorr(XOnlyPublicKey(v.pubkey), [32]byte(v.msg), SchnorrSignature(v.sig)); got != v.want {
				t.Errorf("VerifySchnorr = %v, want %v (%s)", got, v.want, v.comment)
			}
		})
		checked++
	}
	if checked != 15 {
		t.Errorf("verified %d vectors, want 15 (indexes 0–14)", checked)
	}
}

func TestReferenceBIP340PassesAllVectors(t *testing.T) {
	vs := loadBIP340(t)
	if len(vs) != 19 {
		t.Fatalf("got %d vectors, want 19", len(vs))
	}
	for _, v := range vs {
		t.Run(strconv.Itoa(v.index), func(t *testing.T) {
			if got := refVerify([32]byte(v.pubkey), v.msg, [64]byte(v.sig)); got != v.want {
				t.Errorf("refVerify = %v, want %v (%s)", got, v.want, v.comment)
			}
			if len(v.seckey) == 0 {
				return
			}
			sig, err := refSign([32]byte(v.seckey), v.msg, [32]byte(v.aux))
			if err != nil {
				t.Fatalf("refSign: %v", err)
			}
			if !bytes.Equal(sig[:], v.sig) {
				t.Errorf("refSign = %x, want %x", sig, v.sig)
			}
		})
	}
}

// BIP86 test vectors: bitcoin/bips bip-0086.mediawiki "Test vectors"
// @1957127894b675e9de80afb85ca64a04b332abe7 (BSD-2-Clause), typed here.
var bip86Vectors = []struct {
	path, internalKey, outputKey, scriptPubKey, address string
}{
	{"m/86'/0'/0'/0/0",
		"cc8a4bc64d897bddc5fbc2f670f7a8ba0b386779106cf1223c6fc5d7cd6fc115",
		"a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c",
		"5120a60869f0dbcf1dc659c9cecbaf8050135ea9e8cdc487053f1dc6880949dc684c",
		"bc1p5cyxnuxmeuwuvkwfem96lqzszd02n6xdcjrs20cac6yqjjwudpxqkedrcr"},
	{"m/86'/0'/0'/0/1",
		"83dfe85a3151d2517290da461fe2815591ef69f2b18a2ce63f01697a8b313145",
		"a82f29944d65b86ae6b5e5cc75e294ead6c59391a1edc5e016e3498c67fc7bbb",
		"5120a82f29944d65b86ae6b5e5cc75e294ead6c59391a1edc5e016e3498c67fc7bbb",
		"bc1p4qhjn9zdvkux4e44uhx8tc55attvtyu358kutcqkudyccelu0was9fqzwh"},
	{"m/86'/0'/0'/1/0",
		"399f1b2f4393f29a18c937859c5dd8a77350103157eb880f02e8c08214277cef",
		"882d74e5d0572d5a816cef0041a96b6c1de832f6f9676d9605c44d5e9a97d3dc",
		"5120882d74e5d0572d5a816cef0041a96b6c1de832f6f9676d9605c44d5e9a97d3dc",
		"bc1p3qkhfews2uk44qtvauqyr2ttdsw7svhkl9nkm9s9c3x4ax5h60wqwruhk7"},
}

func TestP2TRAddressMatchesBIP86Vectors(t *testing.T) {
	for _, v := range bip86Vectors {
		t.Run(v.path, func(t *testing.T) {
			priv := deriveKey(t, abandonMnemonic, v.path)
			defer priv.Zero()
			pub := priv.PubKey()
			internal, err := XOnly(pub)
			if err != nil {
				t.Fatalf("XOnly: %v", err)
			}
			if got := hex.EncodeToString(internal[:]); got != v.internalKey {
				t.Errorf("internal key = %s, want %s", got, v.internalKey)
			}
			q, err := TaprootOutputKey(pub, nil)
			if err != nil {
				t.Fatalf("TaprootOutputKey: %v", err)
			}
			if got := hex.EncodeToString(q[:]); got != v.outputKey {
				t.Errorf("output key = %s, want %s", got, v.outputKey)
			}
			a, err := P2TRAddress(pub, nil, Mainnet)
			if err != nil {
				t.Fatalf("P2TRAddress: %v", err)
			}
			if got := a.String(); got != v.address {
				t.Errorf("address = %s, want %s", got, v.address)
			}
			if got := hex.EncodeToString(a.ScriptPubKey()); got != v.scriptPubKey {
				t.Errorf("scriptPubKey = %s, want %s", got, v.scriptPubKey)
			}
			// A key-path signature verifies under the output key.
			digest := sha256.Sum256([]byte(v.path))
			sig, err := SignTaprootKeyPath(priv, nil, digest, nil)
			if err != nil {
				t.Fatalf("SignTaprootKeyPath: %v", err)
			}
			if !VerifySchnorr(q, digest, sig) {
				t.Errorf("key-path signature does not verify under the BIP86 output key")
			}
		})
	}
}

// BIP84 test vectors: bitcoin/bips bip-0084.mediawiki "Test vectors"
// @2382e31f12a8ea292eaa3904439c6653fe0eb036 (CC0-1.0), typed here. The WIF
// private keys are public test data; the test compares them, never prints.
var bip84Vectors = []struct {
	path, wif, pubkey, address string
}{
	{"m/84'/0'/0'/0/0", "KyZpNDKnfs94vbrwhJneDi77V6jF64PWPF8x5cdJb8ifgg2DUc9d",
		"0330d54fd0dd420a6e5f8d3624f5f3482cae350f79d5f0753bf5beef9c2d91af3c",
		"bc1qcr8te4kr609gcawutmrza0j4xv80jy8z306fyu"},
	{"m/84'/0'/0'/0/1", "Kxpf5b8p3qX56DKEe5NqWbNUP9MnqoRFzZwHRtsFqhzuvUJsYZCy",
		"03e775fd51f0dfb8cd865d9ff1cca2a158cf651fe997fdc9fee9c1d3b5e995ea77",
		"bc1qnjg0jd8228aq7egyzacy8cys3knf9xvrerkf9g"},
	{"m/84'/0'/0'/1/0", "KxuoxufJL5csa1Wieb2kp29VNdn92Us8CoaUG3aGtPtcF3AzeXvF",
		"03025324888e429ab8e3dbaf1f7802648b9cd01e9b418485c5fa4c1b9b5700e1a6",
		"bc1q8c6fshw2dlwun7ekn9qwf37cu2rn755upcp6el"},
}

func TestP2WPKHAddressMatchesBIP84Vectors(t *testing.T) {
	for _, v := range bip84Vectors {
		t.Run(v.path, func(t *testing.T) {
			priv := deriveKey(t, abandonMnemonic, v.path)
			defer priv.Zero()
			wif, err := btcutil.DecodeWIF(v.wif)
			if err != nil {
				t.Fatalf("DecodeWIF: %v", err)
			}
			if !wif.PrivKey.Key.Equals(&priv.Key) {
				t.Errorf("derived private key differs from the BIP's WIF key")
			}
			pub := priv.PubKey()
			if got := hex.EncodeToString(pub.SerializeCompressed()); got != v.pubkey {
				t.Errorf("public key = %s, want %s", got, v.pubkey)
			}
			a, err := P2WPKHAddress(pub, Mainnet)
			if err != nil {
				t.Fatalf("P2WPKHAddress: %v", err)
			}
			if got := a.String(); got != v.address {
				t.Errorf("address = %s, want %s", got, v.address)
			}
		})
	}
}

// RFC 6979 secp256k1/SHA-256 vectors from trezor/trezor-crypto tests.c
// @9fea8f8ab377dc514e40c6fd1f7c89a74c1d8dc6 (L432–L453), in the low-S DER
// form quoted by btcec/v2 ecdsa/signature_test.go TestRFC6979. The digest is
// SHA-256 of the message.
var rfc6979Vectors = []struct {
	key, msg, der string
}{
	{"cca9fbcc1b41e5a95d369eaa6ddcff73b61a4efaa279cfc6567e8daa39cbaf50", "sample",
		"3045022100af340daf02cc15c8d5d08d7735dfe6b98a474ed373bdb5fbecf7571be52b384202205009fb27f37034a9b24b707b7c6b79ca23ddef9e25f7282e8a797efe53a8f124"},
	{"0000000000000000000000000000000000000000000000000000000000000001", "Satoshi Nakamoto",
		"3045022100934b1ea10a4b3c1757e2b0c017d0b6143ce3c9a7e6a4a49860d7a6ab210ee3d802202442ce9d2b916064108014783e923ec36b49743e2ffa1c4496f01a512aafd9e5"},
	{"fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364140", "Satoshi Nakamoto",
		"3045022100fd567d121db66e382991534ada77a6bd3106f0a1098c231e47993447cd6af2d002206b39cd0eb1bc8603e159ef5c20a5c8ad685a45b06ce9bebed3f153d10d93bed5"},
	{"f8b8af8ce3c7cca5e300d33939540c10d45ce001b8f252bfbc57ba0342904181", "Alan Turing",
		"304402207063ae83e7f62bbb171798131b4a0564b956930092b33b07b395615d9ec7e15c022058dfcc1e00a35e1572f366ffe34ba0fc47db1e7189759b9fb233c5b05ab388ea"},
	{"0000000000000000000000000000000000000000000000000000000000000001", "All those moments will be lost in time, like tears in rain. Time to die...",
		"30450221008600dbd41e348fe5c9465ab92d23e3db8b98b873beecd930736488696438cb6b0220547fe64427496db33bf66019dacbf0039c04199abb0122918601db38a72cfc21"},
	{"e91671c46231f833a6406ccbea0e3e392c76c167bac1cb013f6f1013980455c2", "There is a computer disease that anybody who works with computers knows about. It's a very serious disease and it interferes completely with the work. The trouble with computers is that you 'play' with them!",
		"3045022100b552edd27580141f3b2a5463048cb7cd3e047b97c9f98076c32dbdf85a68718b0220279fa72dd19bfae05577e06c7c0c1900c371fcd5893f7e1d56a37d30174671f6"},
}

func TestSignECDSAReproducesRFC6979Vectors(t *testing.T) {
	for i, v := range rfc6979Vectors {
		t.Run(strconv.Itoa(i), func(t *testing.T) {
			priv, pub := btcec.PrivKeyFromBytes(mustHex(t, v.key))
			digest := sha256.Sum256([]byte(v.msg))
			sig, err := SignECDSA(priv, digest)
			if err != nil {
				t.Fatalf("SignECDSA: %v", err)
			}
			if got := hex.EncodeToString(sig); got != v.der {
				t.Errorf("SignECDSA = %s, want %s", got, v.der)
			}
			if !VerifyECDSA(pub, digest, sig) {
				t.Errorf("VerifyECDSA of the vector signature = false")
			}
		})
	}
}

// Segwit address vectors: bitcoin/bips bip-0350.mediawiki "Test vectors for
// v0-v16 native segregated witness addresses"
// @0310d9eeb1eda5e3626a738394f58b4ee3252074 (BSD-2-Clause), typed here.
var bip350Valid = []struct{ address, scriptPubKey string }{
	{"BC1QW508D6QEJXTDG4Y5R3ZARVARY0C5XW7KV8F3T4", "0014751e76e8199196d454941c45d1b3a323f1433bd6"},
	{"tb1qrp33g0q5c5txsp9arysrx4k6zdkfs4nce4xj0gdcccefvpysxf3q0sl5k7", "00201863143c14c5166804bd19203356da136c985678cd4d27a1b8c6329604903262"},
	{"bc1pw508d6qejxtdg4y5r3zarvary0c5xw7kw508d6qejxtdg4y5r3zarvary0c5xw7kt5nd6y", "5128751e76e8199196d454941c45d1b3a323f1433bd6751e76e8199196d454941c45d1b3a323f1433bd6"},
	{"BC1SW50QGDZ25J", "6002751e"},
	{"bc1zw508d6qejxtdg4y5r3zarvaryvaxxpcs", "5210751e76e8199196d454941c45d1b3a323"},
	{"tb1qqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesrxh6hy", "0020000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
	{"tb1pqqqqp399et2xygdj5xreqhjjvcmzhxw4aywxecjdzew6hylgvsesf3hn0c", "5120000000c4a5cad46221b2a187905e5266362b99d5e91c6ce24d165dab93e86433"},
	{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqzk5jj0", "512079be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798"},
}

var bip350Invalid = []struct{ address, reason string }{
	{"tc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq5zuyut", "invalid human-readable part"},
	{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqh2y7hd", "bech32 instead of bech32m"},
	{"tb1z0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vqglt7rf", "bech32 instead of bech32m"},
	{"BC1S0XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ54WELL", "bech32 instead of bech32m"},
	{"bc1qw508d6qejxtdg4y5r3zarvary0c5xw7kemeawh", "bech32m instead of bech32"},
	{"tb1q0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq24jc47", "bech32m instead of bech32"},
	{"bc1p38j9r5y49hruaue7wxjce0updqjuyyx0kh56v8s25huc6995vvpql3jow4", "invalid character in checksum"},
	{"BC130XLXVLHEMJA6C4DQV22UAPCTQUPFHLXM9H8Z3K2E72Q4K9HCZ7VQ7ZWS8R", "invalid witness version"},
	{"bc1pw5dgrnzv", "invalid program length (1 byte)"},
	{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v8n0nx0muaewav253zgeav", "invalid program length (41 bytes)"},
	{"BC1QR508D6QEJXTDG4Y5R3ZARVARYV98GJ9P", "invalid program length for witness version 0"},
	{"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vq47Zagq", "mixed case"},
	{"bc1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7v07qwwzcrf", "zero padding of more than 4 bits"},
	{"tb1p0xlxvlhemja6c4dqv22uapctqupfhlxm9h8z3k2e72q4k9hcz7vpggkg4j", "non-zero padding in 8-to-5 conversion"},
	{"bc1gmk9yu", "empty data section"},
}

func TestParseAddressAcceptsBIP350ValidVectors(t *testing.T) {
	for _, v := range bip350Valid {
		t.Run(v.address, func(t *testing.T) {
			a, err := ParseAddress(v.address)
			if err != nil {
				t.Fatalf("ParseAddress: %v", err)
			}
			if got := hex.EncodeToString(a.ScriptPubKey()); got != v.scriptPubKey {
				t.Errorf("ScriptPubKey = %s, want %s", got, v.scriptPubKey)
			}
			if got, want := a.String(), strings.ToLower(v.address); got != want {
				t.Errorf("String = %s, want %s", got, want)
			}
		})
	}
}

func TestParseAddressRejectsBIP350InvalidVectors(t *testing.T) {
	for _, v := range bip350Invalid {
		t.Run(v.reason, func(t *testing.T) {
			if a, err := ParseAddress(v.address); err == nil {
				t.Errorf("ParseAddress(%s) = %v, want an error (%s)", v.address, a, v.reason)
			}
		})
	}
}
