package eth

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
)

// readVectors decodes testdata/name into v, keeping JSON numbers exact.
func readVectors(t testing.TB, name string, v any) {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatalf("read vectors: %v", err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		t.Fatalf("decode %s: %v", name, err)
	}
}

// unhex decodes hex with or without 0x.
func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(strings.TrimPrefix(s, "0x"))
	if err != nil {
		t.Fatalf("bad hex in test data: %v", err)
	}
	return b
}

func unhex32(t testing.TB, s string) [32]byte {
	t.Helper()
	var out [32]byte
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("want 32 bytes of hex, got %d", len(b))
	}
	copy(out[:], b)
	return out
}

// keyFromHex parses a test private key. Keys are never printed.
func keyFromHex(t testing.TB, s string) *secp256k1.PrivateKey {
	t.Helper()
	b := unhex(t, s)
	if len(b) != 32 {
		t.Fatalf("test key is %d bytes, want 32", len(b))
	}
	return secp256k1.PrivKeyFromBytes(b)
}

// bigFrom parses a JSON number, decimal string or 0x hex string.
func bigFrom(t testing.TB, v any) *big.Int {
	t.Helper()
	var s string
	switch x := v.(type) {
	case json.Number:
		s = string(x)
	case string:
		s = x
	case nil:
		return new(big.Int)
	default:
		t.Fatalf("not a number: %T", v)
	}
	n, ok := new(big.Int).SetString(s, 0)
	if !ok {
		t.Fatalf("not a number: %q", s)
	}
	return n
}

func quantity(t testing.TB, v any) Quantity {
	t.Helper()
	q, err := QuantityFromBig(bigFrom(t, v))
	if err != nil {
		t.Fatalf("quantity: %v", err)
	}
	return q
}

func hexOf(b []byte) string { return "0x" + hex.EncodeToString(b) }

func mustQuantity(t testing.TB, x *big.Int) Quantity {
	t.Helper()
	q, err := QuantityFromBig(x)
	if err != nil {
		t.Fatalf("quantity: %v", err)
	}
	return q
}
