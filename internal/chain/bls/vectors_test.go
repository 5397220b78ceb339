package bls

import (
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Loaders for the vector files in testdata/ (see testdata/README.md).

type eip2333Vectors struct {
	Cases []struct {
		Seed       string `json:"seed"`
		MasterSK   string `json:"master_sk"`
		ChildIndex uint32 `json:"child_index"`
		ChildSK    string `json:"child_sk"`
	} `json:"cases"`
}

type ethBLSVectors struct {
	Sign []struct {
		Name    string  `json:"name"`
		Privkey string  `json:"privkey"`
		Message string  `json:"message"`
		Output  *string `json:"output"` // nil: the spec expects an error
	} `json:"sign"`
	Verify []struct {
		Name      string `json:"name"`
		Pubkey    string `json:"pubkey"`
		Message   string `json:"message"`
		Signature string `json:"signature"`
		Output    bool   `json:"output"`
	} `json:"verify"`
}

func loadJSON(t testing.TB, name string, v any) {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("reading vectors: %v", err)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("decoding %s: %v", name, err)
	}
}

func mustHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("bad hex in vectors: %v", err)
	}
	return b
}

func mustKeyBytes(t testing.TB, s string) [SecretKeySize]byte {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != SecretKeySize {
		t.Fatalf("vector key is %d bytes, want %d", len(b), SecretKeySize)
	}
	return [SecretKeySize]byte(b)
}

// decimalKey converts a decimal integer (ERC-2333's notation) to I2OSP(x, 32).
func decimalKey(t testing.TB, s string) [SecretKeySize]byte {
	t.Helper()
	x, ok := new(big.Int).SetString(s, 10)
	if !ok || x.Sign() < 0 || x.BitLen() > 256 {
		t.Fatalf("bad decimal in vectors")
	}
	var b [SecretKeySize]byte
	x.FillBytes(b[:])
	return b
}

func mustPublicKey(t testing.TB, s string) PublicKey {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != PublicKeySize {
		t.Fatalf("vector public key is %d bytes, want %d", len(b), PublicKeySize)
	}
	return PublicKey(b)
}

func mustSignature(t testing.TB, s string) Signature {
	t.Helper()
	b := mustHex(t, s)
	if len(b) != SignatureSize {
		t.Fatalf("vector signature is %d bytes, want %d", len(b), SignatureSize)
	}
	return Signature(b)
}

func mustSecretKey(t testing.TB, b [SecretKeySize]byte) *SecretKey {
	t.Helper()
	sk, err := SecretKeyFromBytes(&b)
	if err != nil {
		t.Fatalf("SecretKeyFromBytes: %v", err)
	}
	return sk
}
