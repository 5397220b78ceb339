package btc

import (
	"bytes"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcutil"
	"github.com/btcsuite/btcd/chaincfg"
	"github.com/btcsuite/btcd/txscript"
)

// FuzzParseAddress checks the round trip (an accepted string prints as its
// lower-case self and parses back to the same Address) and, for versions 0
// and 1, agreement with btcutil's decoder.
func FuzzParseAddress(f *testing.F) {
	for _, v := range bip350Valid {
		f.Add(v.address)
	}
	for _, v := range bip350Invalid {
		f.Add(v.address)
	}
	for _, v := range bip84Vectors {
		f.Add(v.address)
	}
	for _, v := range bip86Vectors {
		f.Add(v.address)
	}
	f.Add("bcrt1qw508d6qejxtdg4y5r3zarvary0c5xw7kygt080")
	f.Fuzz(func(t *testing.T, s string) {
		a, err := ParseAddress(s)
		if err != nil {
			return
		}
		if got := a.String(); got != strings.ToLower(s) {
			t.Fatalf("String() = %q, want %q", got, strings.ToLower(s))
		}
		b, err := ParseAddress(a.String())
		if err != nil || b != a {
			t.Fatalf("re-parse = %v, %v; want %v", b, err, a)
		}
		script := a.ScriptPubKey()
		if len(script) != 2+len(a.WitnessProgram()) {
			t.Fatalf("ScriptPubKey is %d bytes for a %d-byte program", len(script), len(a.WitnessProgram()))
		}
		if a.WitnessVersion() > 1 {
			return // btcutil v1.1.6 decodes versions 0 and 1 only
		}
		params := map[string]*chaincfg.Params{"bc": &chaincfg.MainNetParams, "tb": &chaincfg.TestNet3Params, "bcrt": &chaincfg.RegressionNetParams}[a.Network().HRP()]
		theirs, err := btcutil.DecodeAddress(s, params)
		if a.WitnessVersion() == 1 && len(a.WitnessProgram()) != 32 {
			return // btcutil rejects v1 programs other than P2TR's 32 bytes
		}
		if err != nil {
			t.Fatalf("we accept %q, btcutil.DecodeAddress rejects it: %v", s, err)
		}
		ts, err := txscript.PayToAddrScript(theirs)
		if err != nil || !bytes.Equal(ts, script) {
			t.Fatalf("ScriptPubKey %x, btcd %x (%v)", script, ts, err)
		}
	})
}
