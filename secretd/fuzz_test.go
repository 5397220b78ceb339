package secretd_test

import (
	"crypto/ed25519"
	"errors"
	"testing"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/wire"
	"github.com/niomon/niomon/secretd"
)

// FuzzVerifyAddress feeds VerifyAddress what a server could send: any
// statement and signature. Only the one statement the key signed passes.
func FuzzVerifyAddress(f *testing.F) {
	pub, priv, err := ed25519.GenerateKey(nil)
	if err != nil {
		f.Fatal(err)
	}
	good := api.AddressStatement{OID: "frank", Instance: []byte("0123456789abcdef"), Scheme: secretd.AddrEth, Path: "m/44'/60'/0'/0/0", Address: "0xEAb9", PublicKey: "02aa"}
	st, err := wire.Marshal(good)
	if err != nil {
		f.Fatal(err)
	}
	sig := ed25519.Sign(priv, append([]byte(api.AddressContext), st...))
	f.Add(st, sig, "0xEAb9")
	f.Add([]byte{0xa0}, sig, "")
	f.Add([]byte{}, []byte{}, "x")
	f.Fuzz(func(t *testing.T, statement, signature []byte, address string) {
		a := &secretd.Address{Address: address, PublicKey: good.PublicKey, Statement: statement, Signature: signature}
		inst, err := secretd.VerifyAddress(pub, a, good.OID, good.Scheme, good.Path, good.HRP)
		if err != nil && !errors.Is(err, secretd.ErrAddressStatement) {
			t.Fatalf("an error that is not ErrAddressStatement: %v", err)
		}
		if err == nil && (string(statement) != string(st) || address != good.Address || string(inst) != string(good.Instance)) {
			t.Fatalf("accepted statement %x for address %q", statement, address)
		}
	})
}
