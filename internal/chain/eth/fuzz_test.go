package eth

import (
	"bytes"
	"errors"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/fxamacker/cbor/v2"
)

// FuzzTypedData: ParseTypedData never panics, fails only with its two
// sentinels, is deterministic, and agrees with go-ethereum whenever both
// accept a document.
//
// Where the two may both accept and still differ, and so are not compared:
//
//   - primaryType "EIP712Domain": we follow MetaMask (digest without a
//     message hash); go-ethereum hashes the message as an EIP712Domain too.
//
// Everywhere else this package is stricter, so only one side accepts: we
// reject what go-ethereum lets through (duplicate keys, case-insensitive or
// unknown keys, addresses without 0x, "+5", "0x-5", "" as 0, out-of-range
// intN such as int8 128, JSON numbers past 2⁵³ or with a fraction, fixed
// arrays of the wrong length, arrays nested deeper or shallower than their
// type, "uint"/"int", non-identifier names, duplicate field names, unknown
// EIP712Domain fields, an undefined primaryType, invalid UTF-8), and
// go-ethereum rejects what we accept (a struct field absent or null, which
// MetaMask v4 encodes as zero; a direct self-reference such as Mail.replyTo;
// an empty domain or an empty-string name/version; a null element in an
// array, on which it panics — recovered in gethTypedDataHash).
func FuzzTypedData(f *testing.F) {
	var file eip712SpecFile
	readVectors(f, "eip712_vectors.json", &file)
	f.Add([]byte(file.Spec.TypedData))
	for _, c := range file.MetaMask.Cases {
		f.Add([]byte(c.TypedData))
	}
	f.Add([]byte(mail))
	g := &typedGen{r: newRand(9)}
	for range 8 {
		f.Add(g.document())
	}
	for _, s := range []string{
		valueDoc("int8", "-128"), valueDoc("uint256[2][]", `[["0x1","2"],[3,"-0"]]`), valueDoc("bytes", `"0x"`),
		typesDoc(`,"T":[{"name":"a","type":"T[]"}]`), `{"types":{}}`, `[`, `{"a":1,"a":2}`, "",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		td, err := ParseTypedData(data)
		if err != nil {
			if !errors.Is(err, ErrInvalidTypedData) && !errors.Is(err, ErrTypedDataLimit) {
				t.Fatalf("error %v wraps neither sentinel", err)
			}
			return
		}
		again, err := ParseTypedData(data)
		if err != nil || again.Digest != td.Digest {
			t.Fatalf("second parse: got %x, %v; want %x", again.Digest, err, td.Digest)
		}
		if td.PrimaryType == domainTypeName {
			return
		}
		want, _, gerr := gethTypedDataHash(data)
		if gerr == nil && !bytes.Equal(want, td.Digest[:]) {
			t.Fatalf("got digest %x, go-ethereum %x", td.Digest, want)
		}
	})
}

// FuzzTx: a Tx decoded from arbitrary CBOR never makes Validate,
// SigningHash, Assemble or Sign panic; when it validates, go-ethereum decodes
// the signed bytes to the same hash and, where it can, recovers our signer.
func FuzzTx(f *testing.F) {
	key := secp256k1.PrivKeyFromBytes(bytes.Repeat([]byte{0x46}, 32))
	r := newRand(10)
	for _, typ := range []uint8{LegacyTxType, LegacyTxType, AccessListTxType, DynamicFeeTxType} {
		tx := randomTx(r, typ, 1+uint64(r.IntN(100)))
		b, err := cbor.Marshal(tx)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	pre := validTx(LegacyTxType)
	pre.ChainID = Quantity{}
	for _, tx := range []Tx{pre, validTx(AccessListTxType), validTx(DynamicFeeTxType)} {
		b, _ := cbor.Marshal(tx)
		f.Add(b)
	}
	f.Add([]byte{0xa0})                                 // {}
	f.Add([]byte{0xa1, 0x64, 't', 'y', 'p', 'e', 0x03}) // {"type": 3}
	f.Fuzz(func(t *testing.T, data []byte) {
		var tx Tx
		if cbor.Unmarshal(data, &tx) != nil {
			return
		}
		verr := tx.Validate()
		_, herr := tx.SigningHash()
		_, aerr := tx.Assemble(Signature{V: 1, R: [32]byte{31: 1}, S: [32]byte{31: 1}})
		if (verr == nil) != (herr == nil) || (verr == nil) != (aerr == nil) {
			t.Fatalf("Validate %v, SigningHash %v, Assemble %v: want all nil or all errors", verr, herr, aerr)
		}
		if verr != nil {
			if !errors.Is(verr, ErrInvalidTx) {
				t.Fatalf("error %v does not wrap ErrInvalidTx", verr)
			}
			return
		}
		signed, err := tx.Sign(key)
		if err != nil {
			t.Fatalf("Sign: %v", err)
		}
		var gtx types.Transaction
		if err := gtx.UnmarshalBinary(signed.Raw); err != nil {
			t.Fatalf("go-ethereum cannot decode %x: %v", signed.Raw, err)
		}
		if gtx.Hash() != signed.Hash {
			t.Fatalf("got hash %x, go-ethereum %x", signed.Hash, gtx.Hash())
		}
		if tx.Type != LegacyTxType && tx.ChainID.IsZero() {
			return // no go-ethereum signer for a typed transaction on chain 0
		}
		_, signer := gethTx(&tx)
		from, err := types.Sender(signer, &gtx)
		if want := AddressFromPublicKey(key.PubKey()); err != nil || Address(from) != want {
			t.Fatalf("go-ethereum sender %s, %v; want %s", from.Hex(), err, want)
		}
	})
}
