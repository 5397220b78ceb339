package enclave

import (
	"os/exec"
	"sort"
	"strings"
	"testing"
)

// The enclave's trusted computing base is this package and everything it
// imports. Someone must be able to audit it in a day, so a new non-standard
// import fails this test until it is added here, on purpose.
var allowedImports = map[string]bool{
	"github.com/niomon/niomon/internal/hd":       true,
	"github.com/niomon/niomon/internal/hostlink": true,
	"github.com/niomon/niomon/internal/seal":     true,
	"github.com/niomon/niomon/internal/wire":     true,
	"github.com/niomon/niomon/internal/policy":   true,
	"github.com/niomon/niomon/internal/api":      true,
	// Freshness witnesses: the messages and their signatures (the
	// daemon, package witness, is not linked).
	"github.com/niomon/niomon/internal/witness/wproto": true,

	"github.com/niomon/niomon/internal/chain/bls":    true,
	"github.com/niomon/niomon/internal/chain/btc":    true,
	"github.com/niomon/niomon/internal/chain/cosmos": true,
	"github.com/niomon/niomon/internal/chain/eth":    true,
	"github.com/niomon/niomon/internal/chain/sol":    true,

	// secp256k1 signing: decred's ecdsa (RFC 6979) and btcec's BIP340
	// schnorr (decred's schnorr package is not BIP340; btcec imports it).
	"github.com/decred/dcrd/dcrec/secp256k1/v4/ecdsa":          true,
	"github.com/decred/dcrd/dcrec/secp256k1/v4/schnorr":        true,
	"github.com/decred/dcrd/crypto/blake256":                   true,
	"github.com/decred/dcrd/crypto/blake256/internal/compress": true,
	"github.com/btcsuite/btcd/btcec/v2":                        true,
	"github.com/btcsuite/btcd/btcec/v2/ecdsa":                  true,
	"github.com/btcsuite/btcd/btcec/v2/schnorr":                true,
	"github.com/btcsuite/btcd/btcutil/bech32":                  true, // btc, cosmos addresses
	"github.com/btcsuite/btcd/chaincfg/chainhash":              true, // BIP340/341 tagged hashes
	"golang.org/x/crypto/sha3":                                 true, // keccak256
	"golang.org/x/sync/semaphore":                              true, // the request byte budget

	// BLS12-381 (chain/bls): gnark-crypto, pure Go.
	"github.com/consensys/gnark-crypto/ecc":                            true,
	"github.com/consensys/gnark-crypto/ecc/bls12-381":                  true,
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fp":               true,
	"github.com/consensys/gnark-crypto/ecc/bls12-381/fr":               true,
	"github.com/consensys/gnark-crypto/ecc/bls12-381/hash_to_curve":    true,
	"github.com/consensys/gnark-crypto/ecc/bls12-381/internal/fptower": true,
	"github.com/consensys/gnark-crypto/field/asm/element_4w":           true,
	"github.com/consensys/gnark-crypto/field/asm/element_6w":           true,
	"github.com/consensys/gnark-crypto/field/hash":                     true,
	"github.com/consensys/gnark-crypto/field/pool":                     true,
	"github.com/consensys/gnark-crypto/parallel":                       true,
	"github.com/consensys/gnark-crypto/utils/cpu":                      true,
	"github.com/bits-and-blooms/bitset":                                true,

	// Disaster recovery (internal/drk): age for holders' shares, circl's
	// Shamir sharing (its group package brings ristretto, p384, k12 and
	// cryptobyte along, though only P-256 scalars are used).
	"github.com/niomon/niomon/internal/drk":         true,
	"filippo.io/age":                                true,
	"filippo.io/age/internal/bech32":                true,
	"filippo.io/age/internal/format":                true,
	"filippo.io/age/internal/stream":                true,
	"filippo.io/hpke":                               true, // age's hybrid recipients
	"filippo.io/hpke/crypto":                        true,
	"filippo.io/hpke/crypto/ecdh":                   true,
	"filippo.io/hpke/internal/byteorder":            true,
	"golang.org/x/crypto/hkdf":                      true, // age
	"golang.org/x/crypto/scrypt":                    true, // age (passphrase recipients; unused)
	"github.com/cloudflare/circl/group":             true,
	"github.com/cloudflare/circl/secretsharing":     true,
	"github.com/cloudflare/circl/math":              true,
	"github.com/cloudflare/circl/math/polynomial":   true,
	"github.com/cloudflare/circl/internal/conv":     true,
	"github.com/cloudflare/circl/internal/sha3":     true,
	"github.com/cloudflare/circl/expander":          true,
	"github.com/cloudflare/circl/xof":               true,
	"github.com/cloudflare/circl/xof/k12":           true,
	"github.com/cloudflare/circl/simd/keccakf1600":  true,
	"github.com/cloudflare/circl/ecc/p384":          true,
	"github.com/bwesterb/go-ristretto":              true,
	"github.com/bwesterb/go-ristretto/edwards25519": true,
	"golang.org/x/crypto/cryptobyte":                true,
	"golang.org/x/crypto/cryptobyte/asn1":           true,

	// Attestation of peer enclaves (joins): the verifier and COSE.
	"github.com/niomon/niomon/internal/attest": true,
	"github.com/veraison/go-cose":              true,

	"filippo.io/bigmod":                         true, // hd: constant-time P-256 scalars
	"github.com/btcsuite/btcd/btcutil/base58":   true, // hd: xpub encoding
	"github.com/cosmos/go-bip39":                true, // hd: BIP39 word list
	"github.com/decred/dcrd/dcrec/secp256k1/v4": true, // hd: secp256k1
	"github.com/flynn/noise":                    true, // wire: Noise
	"github.com/fxamacker/cbor/v2":              true, // wire, hostlink: CBOR
	"github.com/x448/float16":                   true, // cbor
	"golang.org/x/crypto/blake2b":               true, // noise
	"golang.org/x/crypto/blake2s":               true, // noise
	"golang.org/x/crypto/chacha20":              true, // seal
	"golang.org/x/crypto/chacha20poly1305":      true, // seal
	"golang.org/x/crypto/curve25519":            true, // noise
	"golang.org/x/crypto/internal/alias":        true,
	"golang.org/x/crypto/internal/poly1305":     true,
	"golang.org/x/crypto/pbkdf2":                true, // go-bip39
	"golang.org/x/crypto/ripemd160":             true, // hd: HASH160
	"golang.org/x/sys/cpu":                      true,
	"golang.org/x/text/transform":               true, // norm
	"golang.org/x/text/unicode/norm":            true, // hd: NFKD
}

func TestEnclaveImportsStayOnTheAllowList(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{if not .Standard}}{{.ImportPath}}{{end}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	var extra []string
	for _, p := range strings.Fields(string(out)) {
		if p != "github.com/niomon/niomon/internal/enclave" && !allowedImports[p] {
			extra = append(extra, p)
		}
	}
	sort.Strings(extra)
	if len(extra) > 0 {
		t.Fatalf("the enclave imports packages not on its allow-list:\n%s", strings.Join(extra, "\n"))
	}
}
