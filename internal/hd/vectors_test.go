package hd

import (
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// Loaders for the vector files in testdata/ (see testdata/README.md).

// trezorVectors maps a language to [entropy hex, mnemonic, seed hex, xprv].
type trezorVectors map[string][][4]string

type bip32Vectors struct {
	Valid []struct {
		Vector  int    `json:"vector"`
		SeedHex string `json:"seed_hex"`
		Chains  []struct {
			Path string `json:"path"`
			Xpub string `json:"xpub"`
			Xprv string `json:"xprv"`
		} `json:"chains"`
	} `json:"valid"`
	Invalid []struct {
		Vector int    `json:"vector"`
		Key    string `json:"key"`
		Reason string `json:"reason"`
	} `json:"invalid"`
}

type slip10Vectors struct {
	Vectors []struct {
		Name    string `json:"name"`
		Curve   string `json:"curve"`
		SeedHex string `json:"seed_hex"`
		Chains  []struct {
			Path        string `json:"path"`
			Fingerprint string `json:"fingerprint"`
			ChainCode   string `json:"chain_code"`
			Private     string `json:"private"`
			Public      string `json:"public"`
		} `json:"chains"`
	} `json:"vectors"`
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
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("bad hex in vectors: %v", err)
	}
	return b
}

func mustSeed(t testing.TB, b []byte) *Seed {
	t.Helper()
	s, err := NewSeed(b)
	if err != nil {
		t.Fatalf("NewSeed: %v", err)
	}
	return s
}

func mustPath(t testing.TB, s string) Path {
	t.Helper()
	p, err := ParsePath(s)
	if err != nil {
		t.Fatalf("ParsePath(%q): %v", s, err)
	}
	return p
}
