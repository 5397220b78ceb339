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
