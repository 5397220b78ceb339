package sol

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil/base58"
	"github.com/niomon/niomon/internal/hd"
)

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

type solanaVectors struct {
	Vectors []struct {
		Mnemonic     string `json:"mnemonic"`
		Passphrase   string `json:"passphrase"`
		Path         string `json:"path"`
		Address      string `json:"address"`
		PublicKeyHex string `json:"public_key_hex"`
	} `json:"vectors"`
}

// deriveEd25519 derives the SLIP-10 ed25519 key at path through package hd.
func deriveEd25519(t *testing.T, mnemonic, passphrase string, path hd.Path) ed25519.PrivateKey {
	t.Helper()
	m, err := hd.ParseMnemonic(mnemonic)
	if err != nil {
		t.Fatalf("ParseMnemonic: %v", err)
	}
	defer m.Wipe()
	seed := m.Seed(passphrase)
	defer seed.Wipe()
	master, err := hd.NewMaster(seed, hd.Ed25519)
	if err != nil {
		t.Fatalf("NewMaster: %v", err)
	}
	defer master.Wipe()
	n, err := master.Derive(path)
	if err != nil {
		t.Fatalf("Derive(%s): %v", path, err)
	}
	defer n.Wipe()
	k, err := n.Ed25519PrivateKey()
	if err != nil {
		t.Fatalf("Ed25519PrivateKey: %v", err)
	}
	return k
}

func TestAddressMatchesTrezorDerivationVectors(t *testing.T) {
	var v solanaVectors
	loadJSON(t, "solana_derivation_vectors.json", &v)
	if len(v.Vectors) != 5 {
		t.Fatalf("got %d vectors, want 5", len(v.Vectors))
	}
	addresses, keys := 0, 0
	for _, c := range v.Vectors {
		t.Run(c.Path+" "+strings.Fields(c.Mnemonic)[0], func(t *testing.T) {
			path, err := hd.ParsePath(c.Path)
			if err != nil {
				t.Fatalf("ParsePath: %v", err)
			}
			priv := deriveEd25519(t, c.Mnemonic, c.Passphrase, path)
			defer clear(priv)
			a, err := AddressFromPublicKey(priv.Public().(ed25519.PublicKey))
			if err != nil {
				t.Fatalf("AddressFromPublicKey: %v", err)
			}
			if c.PublicKeyHex != "" {
				keys++
				if want := mustHex(t, c.PublicKeyHex); !bytes.Equal(a[:], want) {
					t.Errorf("public key = %x, want %x", a[:], want)
				}
			}
			if c.Address != "" {
				addresses++
				if got := a.String(); got != c.Address {
					t.Errorf("address = %s, want %s", got, c.Address)
				}
				p, err := ParseAddress(c.Address)
				if err != nil || p != a {
					t.Errorf("ParseAddress = %v, %v; want %v", p, err, a)
				}
			}
		})
	}
	if addresses != 3 || keys != 3 {
		t.Errorf("checked %d addresses and %d public keys, want 3 and 3", addresses, keys)
	}
}

func TestAccountPathIsSolanaDefault(t *testing.T) {
	for _, c := range []struct {
		account uint32
		want    string
	}{{0, "m/44'/501'/0'/0'"}, {1, "m/44'/501'/1'/0'"}, {hd.Hardened - 1, "m/44'/501'/2147483647'/0'"}} {
		p, err := AccountPath(c.account)
		if err != nil {
			t.Fatalf("AccountPath(%d): %v", c.account, err)
		}
		if p.String() != c.want {
			t.Errorf("AccountPath(%d) = %s, want %s", c.account, p, c.want)
		}
		if !p.Hardened() {
			t.Errorf("AccountPath(%d) is not all hardened", c.account)
		}
	}
	if _, err := AccountPath(hd.Hardened); !errors.Is(err, ErrInvalidAccount) {
		t.Errorf("AccountPath(2^31) error = %v, want ErrInvalidAccount", err)
	}
}

func TestAccountPathDerivesTrezorAddresses(t *testing.T) {
	// The two m/44'/501'/i'/0' vectors of the Trezor fixture, through AccountPath.
	for _, c := range []struct {
		account uint32
		address string
	}{{0, "14CCvQzQzHCVgZM3j9soPnXuJXh1RmCfwLVUcdfbZVBS"}, {1, "CqPFGxxzrE2bgLGC98x9rYix7Nq17mh8L7pWseJt3c9N"}} {
		p, err := AccountPath(c.account)
		if err != nil {
			t.Fatal(err)
		}
		priv := deriveEd25519(t, "all all all all all all all all all all all all", "", p)
		a, _ := AddressFromPublicKey(priv.Public().(ed25519.PublicKey))
		clear(priv)
		if a.String() != c.address {
			t.Errorf("account %d: address %s, want %s", c.account, a, c.address)
		}
	}
}

type rfc8032Vectors struct {
	Vectors []struct {
		Name      string `json:"name"`
		SecretKey string `json:"secret_key"`
		PublicKey string `json:"public_key"`
		Message   string `json:"message"`
		Signature string `json:"signature"`
	} `json:"vectors"`
}

func TestSignReproducesRFC8032Vectors(t *testing.T) {
	var v rfc8032Vectors
	loadJSON(t, "rfc8032_ed25519_vectors.json", &v)
	if len(v.Vectors) != 5 {
		t.Fatalf("got %d vectors, want 5", len(v.Vectors))
	}
	for _, c := range v.Vectors {
		t.Run(c.Name, func(t *testing.T) {
			// RFC 8032's "SECRET KEY" is the 32-byte seed.
			priv := ed25519.NewKeyFromSeed(mustHex(t, c.SecretKey))
			defer clear(priv)
			pub := priv.Public().(ed25519.PublicKey)
			if want := mustHex(t, c.PublicKey); !bytes.Equal(pub, want) {
				t.Errorf("public key = %x, want %x", pub, want)
			}
			msg := mustHex(t, c.Message)
			sig, err := Sign(priv, msg)
			if err != nil {
				t.Fatalf("Sign: %v", err)
			}
			if want := mustHex(t, c.Signature); !bytes.Equal(sig[:], want) {
				t.Errorf("Sign = %x, want %x", sig, want)
			}
			if !Verify(pub, msg, sig) {
				t.Error("Verify of the vector signature = false")
			}
		})
	}
}

func TestSignVerifiesWithStdlibEd25519(t *testing.T) {
	r := rand.NewChaCha8([32]byte{1})
	for i := range 200 {
		var seed [32]byte
		r.Read(seed[:])
		priv := ed25519.NewKeyFromSeed(seed[:])
		pub := priv.Public().(ed25519.PublicKey)
		msg := make([]byte, r.Uint64()%1232) // up to Solana's packet-size transaction limit
		r.Read(msg)
		sig, err := Sign(priv, msg)
		if err != nil {
			t.Fatalf("case %d: Sign: %v", i, err)
		}
		if !ed25519.Verify(pub, msg, sig[:]) {
			t.Fatalf("case %d: ed25519.Verify = false", i)
		}
		if len(msg) > 0 {
			msg[0] ^= 1
			if ed25519.Verify(pub, msg, sig[:]) || Verify(pub, msg, sig) {
				t.Fatalf("case %d: signature verifies for a changed message", i)
			}
		}
		clear(priv)
	}
}

func TestSignAndVerifyRejectWrongKeyLengths(t *testing.T) {
	if _, err := Sign(make(ed25519.PrivateKey, 32), []byte("m")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Sign with a 32-byte key: error = %v, want ErrInvalidKey", err)
	}
	if _, err := Sign(nil, []byte("m")); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("Sign with a nil key: error = %v, want ErrInvalidKey", err)
	}
	if Verify(make(ed25519.PublicKey, 31), []byte("m"), Signature{}) {
		t.Error("Verify accepted a 31-byte public key")
	}
	if _, err := AddressFromPublicKey(make(ed25519.PublicKey, 33)); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("AddressFromPublicKey(33 bytes) error = %v, want ErrInvalidKey", err)
	}
}

func TestParseAddress(t *testing.T) {
	var zero Address
	for _, c := range []struct {
		name, s string
		ok      bool
	}{
		{"Trezor vector with a leading zero byte", "14CCvQzQzHCVgZM3j9soPnXuJXh1RmCfwLVUcdfbZVBS", true},
		{"system program (all zero)", "11111111111111111111111111111111", true},
		{"all 0xff", Address(bytes.Repeat([]byte{0xff}, 32)).String(), true},
		{"empty", "", false},
		{"surplus leading 1", "1" + "14CCvQzQzHCVgZM3j9soPnXuJXh1RmCfwLVUcdfbZVBS", false},
		{"31 bytes", "1111111111111111111111111111111", false},
		{"33 bytes", Address(bytes.Repeat([]byte{0xff}, 32)).String() + "1", false},
		{"character outside the alphabet (0)", "04CCvQzQzHCVgZM3j9soPnXuJXh1RmCfwLVUcdfbZVBS", false},
		{"character outside the alphabet (l)", "l4CCvQzQzHCVgZM3j9soPnXuJXh1RmCfwLVUcdfbZVBS", false},
		{"longer than 44 characters", strings.Repeat("z", 45), false},
		{"hex, not base58", hex.EncodeToString(zero[:]), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			a, err := ParseAddress(c.s)
			if !c.ok {
				if !errors.Is(err, ErrInvalidAddress) {
					t.Errorf("ParseAddress(%q) = %v, %v; want ErrInvalidAddress", c.s, a, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseAddress(%q): %v", c.s, err)
			}
			if a.String() != c.s {
				t.Errorf("String = %s, want %s", a, c.s)
			}
		})
	}
	if got := zero.String(); got != "11111111111111111111111111111111" {
		t.Errorf("zero Address = %s, want the system program's 32 ones", got)
	}
}

func TestAddressPublicKeyReturnsACopy(t *testing.T) {
	a := Address{1, 2, 3}
	pk := a.PublicKey()
	pk[0] = 9
	if a[0] != 1 {
		t.Error("PublicKey returned the Address's own storage")
	}
}

func TestSignatureStringIsBase58(t *testing.T) {
	// TEST 1 of RFC 8032 (empty message), printed in base58 as Solana prints
	// transaction ids.
	want := mustHex(t, "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b")
	s := Signature(want).String()
	if got := base58.Decode(s); !bytes.Equal(got, want) {
		t.Errorf("base58 decode of Signature.String = %x, want %x", got, want)
	}
	if strings.ContainsAny(s, "0OIl") || len(s) < 86 || len(s) > 88 {
		t.Errorf("Signature.String = %q, want 86–88 base58 characters", s)
	}
}
