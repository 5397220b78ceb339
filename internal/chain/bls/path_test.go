package bls

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Path
	}{
		{"accepts the signing key of validator 0", "m/12381/3600/0/0/0", SigningKeyPath(0)},
		{"accepts the withdrawal key of validator 0", "m/12381/3600/0/0", WithdrawalKeyPath(0)},
		{"accepts the signing key of validator 7", "m/12381/3600/7/0/0", Path{12381, 3600, 7, 0, 0}},
		{"accepts another use", "m/12381/3600/3/1", Path{12381, 3600, 3, 1}},
		{"accepts 2^31 without hardening", "m/12381/3600/2147483648/0/0", Path{12381, 3600, 1 << 31, 0, 0}},
		{"accepts the largest index", "m/12381/3600/4294967295/4294967295/4294967295", Path{12381, 3600, 0xffffffff, 0xffffffff, 0xffffffff}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParsePath(tt.in)
			if err != nil {
				t.Fatalf("ParsePath(%q): %v", tt.in, err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ParsePath(%q) = %v, want %v", tt.in, got, tt.want)
			}
			if s := got.String(); s != tt.in {
				t.Errorf("ParsePath(%q).String() = %q, want the input back", tt.in, s)
			}
		})
	}
}

func TestParsePathRejects(t *testing.T) {
	tests := []struct{ name, in, detail string }{
		{"rejects empty", "", "start with m/"},
		{"rejects the master alone", "m", "0 levels"},
		{"rejects m with trailing slash", "m/", "1 levels"},
		{"rejects missing m", "12381/3600/0/0/0", "start with m/"},
		{"rejects capital M", "M/12381/3600/0/0/0", "start with m/"},
		{"rejects leading slash", "/m/12381/3600/0/0/0", "start with m/"},
		{"rejects 3 levels (EIP-2334 needs 4)", "m/12381/3600/0", "3 levels"},
		{"rejects 6 levels", "m/12381/3600/0/0/0/0", "6 levels"},
		{"rejects apostrophe hardening", "m/12381'/3600'/0'/0'/0'", "hardened"},
		{"rejects h hardening", "m/12381/3600/0h/0/0", "hardened"},
		{"rejects H hardening", "m/12381/3600/0/0H", "hardened"},
		{"rejects another purpose", "m/44/3600/0/0/0", "purpose"},
		{"rejects the Ethereum 1 coin type", "m/12381/60/0/0/0", "coin type"},
		{"rejects a uint32 overflow", "m/12381/3600/4294967296/0/0", "2^32"},
		{"rejects a huge index", "m/12381/3600/99999999999/0/0", "2^32"},
		{"rejects a leading zero", "m/12381/3600/01/0/0", "leading zero"},
		{"rejects a leading plus", "m/12381/3600/+1/0/0", "decimal"},
		{"rejects a leading minus", "m/12381/3600/-1/0/0", "decimal"},
		{"rejects hex", "m/12381/3600/0x1/0/0", "decimal"},
		{"rejects an empty component", "m/12381/3600//0/0", "empty"},
		{"rejects a trailing slash", "m/12381/3600/0/0/", "empty"},
		{"rejects a space", "m/12381/3600/ 0/0/0", "decimal"},
		{"rejects a trailing newline", "m/12381/3600/0/0/0\n", "decimal"},
		{"rejects non-ASCII digits", "m/12381/3600/\u0664/0/0", "decimal"},
		{"rejects a path longer than the limit", "m/12381/3600/0/0/" + strings.Repeat("0", maxPathLen), "longer than"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := ParsePath(tt.in)
			if !errors.Is(err, ErrInvalidPath) || p != nil {
				t.Fatalf("ParsePath(%q) = %v, %v; want ErrInvalidPath", tt.in, p, err)
			}
			if !strings.Contains(err.Error(), tt.detail) {
				t.Errorf("ParsePath(%q) error %q does not mention %q", tt.in, err, tt.detail)
			}
		})
	}
}

func TestValidatorPathHelpers(t *testing.T) {
	if got, want := SigningKeyPath(42).String(), "m/12381/3600/42/0/0"; got != want {
		t.Errorf("SigningKeyPath(42) = %q, want %q", got, want)
	}
	if got, want := WithdrawalKeyPath(42).String(), "m/12381/3600/42/0"; got != want {
		t.Errorf("WithdrawalKeyPath(42) = %q, want %q", got, want)
	}
}

func TestDerivePathWalksERC2333Children(t *testing.T) {
	var v eip2333Vectors
	loadJSON(t, "eip2333_vectors.json", &v)
	seed := mustHex(t, v.Cases[0].Seed)

	// By hand: derive_master_SK, then derive_child_SK per level.
	sk, err := DeriveMaster(seed)
	if err != nil {
		t.Fatal(err)
	}
	var withdrawal *SecretKey
	for i, index := range SigningKeyPath(5) {
		if sk, err = sk.Child(index); err != nil {
			t.Fatal(err)
		}
		if i == 3 {
			withdrawal = sk
		}
	}

	signing, err := DerivePath(seed, "m/12381/3600/5/0/0")
	if err != nil {
		t.Fatalf("DerivePath(signing): %v", err)
	}
	if !signing.Equal(sk) {
		t.Errorf("DerivePath(m/12381/3600/5/0/0) differs from the child-by-child derivation")
	}
	w, err := DerivePath(seed, "m/12381/3600/5/0")
	if err != nil {
		t.Fatalf("DerivePath(withdrawal): %v", err)
	}
	if !w.Equal(withdrawal) {
		t.Errorf("DerivePath(m/12381/3600/5/0) differs from the child-by-child derivation")
	}
	// ERC-2334: the signing key is the 0th child of the withdrawal key.
	if c, _ := w.Child(0); !c.Equal(signing) {
		t.Errorf("signing key is not child 0 of the withdrawal key")
	}
	other, err := DerivePath(seed, "m/12381/3600/6/0/0")
	if err != nil {
		t.Fatal(err)
	}
	if other.Equal(signing) {
		t.Errorf("validators 5 and 6 got the same signing key")
	}
}

func TestDerivePathRejects(t *testing.T) {
	good := make([]byte, 32)
	tests := []struct {
		name string
		seed []byte
		path string
		want error
	}{
		{"rejects a bad path", good, "m/44'/60'/0'/0/0", ErrInvalidPath},
		{"rejects a short seed", good[:31], "m/12381/3600/0/0/0", ErrInvalidSeed},
		{"checks the path before the seed", good[:31], "m/12381/3600/0", ErrInvalidPath},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sk, err := DerivePath(tt.seed, tt.path)
			if !errors.Is(err, tt.want) || sk != nil {
				t.Fatalf("DerivePath error = %v, want %v", err, tt.want)
			}
		})
	}
}
