package eth

import (
	"bytes"
	"crypto/ecdsa"
	"encoding/json"
	"fmt"
	"math/big"
	"math/rand/v2"
	"strconv"
	"strings"
	"testing"

	"github.com/decred/dcrd/dcrec/secp256k1/v4"
	"github.com/ethereum/go-ethereum/accounts"
	"github.com/ethereum/go-ethereum/common"
	"github.com/ethereum/go-ethereum/core/types"
	"github.com/ethereum/go-ethereum/crypto"
	"github.com/ethereum/go-ethereum/signer/core/apitypes"
)

// Differential tests: go-ethereum is the second implementation. Inputs come
// from a seeded generator so a failure reproduces; keys are never printed.

const interopRounds = 200

func newRand(seed uint64) *rand.Rand {
	var s [32]byte
	s[0] = byte(seed)
	return rand.New(rand.NewChaCha8(s))
}

func randomKey(t *testing.T, r *rand.Rand) *secp256k1.PrivateKey {
	t.Helper()
	for {
		var b [32]byte
		for i := range b {
			b[i] = byte(r.UintN(256))
		}
		var s secp256k1.ModNScalar
		if overflow := s.SetBytes(&b); overflow == 0 && !s.IsZero() {
			return secp256k1.NewPrivateKey(&s)
		}
	}
}

func randomBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.UintN(256))
	}
	return b
}

// randomBig returns an integer of up to bits bits, biased to small sizes and
// edges.
func randomBig(r *rand.Rand, bits int) *big.Int {
	switch r.IntN(6) {
	case 0:
		return big.NewInt(0)
	case 1: // 2^bits - 1
		return new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), uint(bits)), big.NewInt(1))
	}
	n := 1 + r.IntN(bits)
	x := new(big.Int).SetBytes(randomBytes(r, (n+7)/8))
	return x.Rsh(x, uint((n+7)/8*8-n))
}

func gethKey(t *testing.T, k *secp256k1.PrivateKey) *ecdsa.PrivateKey {
	t.Helper()
	b := k.Serialize()
	g, err := crypto.ToECDSA(b)
	if err != nil {
		t.Fatalf("go-ethereum key: %v", err)
	}
	return g
}

func TestSignatureRecoversWithGoEthereum(t *testing.T) {
	r := newRand(1)
	for i := range interopRounds {
		key := randomKey(t, r)
		gk := gethKey(t, key)
		addr := AddressFromPublicKey(key.PubKey())
		if want := crypto.PubkeyToAddress(gk.PublicKey); addr != Address(want) {
			t.Fatalf("round %d: got address %s, want %s", i, addr, want.Hex())
		}
		msg := randomBytes(r, r.IntN(200))
		personal := PersonalMessageHash(msg)
		if want := accounts.TextHash(msg); !bytes.Equal(personal[:], want) {
			t.Fatalf("round %d: got personal hash %x, want %x", i, personal, want)
		}
		for _, digest := range [][32]byte{[32]byte(randomBytes(r, 32)), personal} {
			sig, err := SignDigest(key, digest)
			if err != nil {
				t.Fatal(err)
			}
			rsv := sig.Bytes()
			pub, err := crypto.SigToPub(digest[:], rsv[:])
			if err != nil {
				t.Fatalf("round %d: SigToPub: %v", i, err)
			}
			if got := crypto.PubkeyToAddress(*pub); Address(got) != addr {
				t.Errorf("round %d: go-ethereum recovered %s, want %s", i, got.Hex(), addr)
			}
			uncompressed, err := crypto.Ecrecover(digest[:], rsv[:])
			if err != nil || !bytes.Equal(uncompressed, key.PubKey().SerializeUncompressed()) {
				t.Errorf("round %d: Ecrecover got %x, %v; want our public key", i, uncompressed, err)
			}
			if !crypto.VerifySignature(uncompressed, digest[:], rsv[:64]) {
				t.Errorf("round %d: go-ethereum rejects the signature (not low-s?)", i)
			}
			if own, err := sig.RecoverAddress(digest); err != nil || own != addr {
				t.Errorf("round %d: RecoverAddress got %s, %v; want %s", i, own, err, addr)
			}
			legacy := sig.LegacyBytes()
			for _, form := range [][65]byte{rsv, legacy} {
				back, err := ParseSignature(form[:])
				if err != nil || back != sig {
					t.Errorf("round %d: ParseSignature(%x) = %+v, %v; want %+v", i, form, back, err, sig)
				}
			}
		}
	}
}

// typedGen builds random EIP-712 documents within what both this package
// and go-ethereum accept (see FuzzTypedData for where they differ).
type typedGen struct {
	r      *rand.Rand
	types  map[string][]map[string]string
	nTypes int
}

func (g *typedGen) atomicType() string {
	switch g.r.IntN(7) {
	case 0:
		return "uint" + strconv.Itoa(8*(1+g.r.IntN(32)))
	case 1:
		return "int" + strconv.Itoa(8*(1+g.r.IntN(32)))
	case 2:
		return "bytes" + strconv.Itoa(1+g.r.IntN(32))
	case 3:
		return "bool"
	case 4:
		return "address"
	case 5:
		return "string"
	default:
		return "bytes"
	}
}

// fieldType picks a type for a field of struct index i (which may refer
// only to structs with a larger index, so values are finite).
func (g *typedGen) fieldType(i int) string {
	base := g.atomicType()
	if i+1 < g.nTypes && g.r.IntN(3) == 0 {
		base = "S" + strconv.Itoa(i+1+g.r.IntN(g.nTypes-i-1))
	}
	for g.r.IntN(4) == 0 {
		if g.r.IntN(2) == 0 {
			base += "[]"
		} else {
			base += "[" + strconv.Itoa(1+g.r.IntN(3)) + "]"
		}
	}
	return base
}

func (g *typedGen) value(typ string) any {
	if strings.HasSuffix(typ, "]") {
		i := strings.LastIndexByte(typ, '[')
		n := g.r.IntN(4)
		if inner := typ[i+1 : len(typ)-1]; inner != "" {
			n, _ = strconv.Atoi(inner)
		}
		items := make([]any, n)
		for j := range items {
			items[j] = g.value(typ[:i])
		}
		return items
	}
	if fields, ok := g.types[typ]; ok {
		obj := map[string]any{}
		for _, f := range fields {
			obj[f["name"]] = g.value(f["type"])
		}
		return obj
	}
	switch {
	case typ == "bool":
		return g.r.IntN(2) == 0
	case typ == "address":
		a := Address(randomBytes(g.r, 20))
		if g.r.IntN(2) == 0 {
			return a.String()
		}
		return strings.ToLower(a.String())
	case typ == "string":
		return []string{"", "Hello, Bob!", "Moo é🚀", "\x00\n\"\\", strings.Repeat("x", 70)}[g.r.IntN(5)]
	case typ == "bytes":
		return hexOf(randomBytes(g.r, g.r.IntN(70)))
	case strings.HasPrefix(typ, "bytes"):
		n, _ := strconv.Atoi(typ[5:])
		return hexOf(randomBytes(g.r, n))
	case strings.HasPrefix(typ, "uint"):
		n, _ := strconv.Atoi(typ[4:])
		return g.integer(randomBig(g.r, n))
	default: // intN
		n, _ := strconv.Atoi(typ[3:])
		x := randomBig(g.r, n-1)
		switch g.r.IntN(8) {
		case 0: // the minimum, -2^(n-1)
			x.Neg(new(big.Int).Lsh(big.NewInt(1), uint(n-1)))
		case 1, 2, 3:
			x.Neg(x)
		}
		return g.integer(x)
	}
}

// integer writes x as a JSON number when exact in JavaScript, else as a
// decimal or (non-negative) hex string.
func (g *typedGen) integer(x *big.Int) any {
	switch {
	case x.IsInt64() && x.Int64() <= 1<<53-1 && x.Int64() >= -(1<<53-1) && g.r.IntN(2) == 0:
		return json.Number(x.String())
	case x.Sign() >= 0 && g.r.IntN(2) == 0:
		return "0x" + x.Text(16)
	default:
		return x.String()
	}
}

func (g *typedGen) document() []byte {
	g.nTypes = 1 + g.r.IntN(4)
	g.types = map[string][]map[string]string{}
	for i := g.nTypes - 1; i >= 0; i-- { // later structs first: values need them
		var fields []map[string]string
		for j := range g.r.IntN(7) {
			fields = append(fields, map[string]string{"name": "f" + strconv.Itoa(j), "type": g.fieldType(i)})
		}
		g.types["S"+strconv.Itoa(i)] = fields
	}
	message := g.value("S0")

	domain := map[string]any{}
	var domainType []map[string]string
	for _, f := range g.r.Perm(5)[:1+g.r.IntN(5)] {
		name := []string{"name", "version", "chainId", "verifyingContract", "salt"}[f]
		domainType = append(domainType, map[string]string{"name": name, "type": domainFieldTypes[name]})
		switch name {
		case "name":
			domain[name] = "Ether Mail"
		case "version":
			domain[name] = strconv.Itoa(1 + g.r.IntN(9))
		case "chainId":
			domain[name] = g.integer(randomBig(g.r, 64))
		case "verifyingContract":
			domain[name] = Address(randomBytes(g.r, 20)).String()
		case "salt":
			domain[name] = hexOf(randomBytes(g.r, 32))
		}
	}
	types := map[string]any{"EIP712Domain": domainType}
	for k, v := range g.types {
		if v == nil {
			v = []map[string]string{}
		}
		types[k] = v
	}
	doc, err := json.Marshal(map[string]any{"types": types, "primaryType": "S0", "domain": domain, "message": message})
	if err != nil {
		panic(err)
	}
	return doc
}

// gethTypedDataHash hashes with go-ethereum, turning its panics (it has some
// on malformed input) into errors.
func gethTypedDataHash(doc []byte) (digest, domainSep []byte, err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("go-ethereum panicked: %v", p)
		}
	}()
	var td apitypes.TypedData
	if err := json.Unmarshal(doc, &td); err != nil {
		return nil, nil, err
	}
	digest, _, err = apitypes.TypedDataAndHash(td)
	if err != nil {
		return nil, nil, err
	}
	domainSep, err = td.HashStruct("EIP712Domain", td.Domain.Map())
	return digest, domainSep, err
}

func TestTypedDataDigestMatchesGoEthereum(t *testing.T) {
	g := &typedGen{r: newRand(2)}
	for i := range interopRounds {
		doc := g.document()
		td, err := ParseTypedData(doc)
		if err != nil {
			t.Fatalf("round %d: %v\n%s", i, err, doc)
		}
		want, wantDomain, err := gethTypedDataHash(doc)
		if err != nil {
			t.Fatalf("round %d: go-ethereum: %v\n%s", i, err, doc)
		}
		if !bytes.Equal(td.Digest[:], want) {
			t.Errorf("round %d: got digest %x, want %x\n%s", i, td.Digest, want, doc)
		}
		if !bytes.Equal(td.DomainSeparator[:], wantDomain) {
			t.Errorf("round %d: got domain separator %x, want %x", i, td.DomainSeparator, wantDomain)
		}
	}
}

// randomTx returns a random valid transaction of the given type; chainID 0
// with type 0 is a pre-EIP-155 transaction.
func randomTx(r *rand.Rand, typ uint8, chainID uint64) *Tx {
	tx := &Tx{
		Type:    typ,
		ChainID: QuantityFromUint64(chainID),
		Nonce:   randomBig(r, 63).Uint64(),
		Gas:     randomBig(r, 63).Uint64(),
		Data:    randomBytes(r, []int{0, 1, 4, 55, 56, 300}[r.IntN(6)]),
	}
	tx.Value, _ = QuantityFromBig(randomBig(r, 256))
	if r.IntN(8) != 0 {
		tx.To = randomBytes(r, 20)
	}
	if typ == DynamicFeeTxType {
		tx.MaxPriorityFeePerGas, _ = QuantityFromBig(randomBig(r, 256))
		tx.MaxFeePerGas, _ = QuantityFromBig(randomBig(r, 256))
	} else {
		tx.GasPrice, _ = QuantityFromBig(randomBig(r, 256))
	}
	if typ != LegacyTxType {
		for range r.IntN(3) {
			tuple := AccessTuple{Address: randomBytes(r, 20)}
			for range r.IntN(3) {
				tuple.StorageKeys = append(tuple.StorageKeys, randomBytes(r, 32))
			}
			tx.AccessList = append(tx.AccessList, tuple)
		}
	}
	return tx
}

// gethTx builds the same transaction with go-ethereum's types.
func gethTx(tx *Tx) (*types.Transaction, types.Signer) {
	var to *common.Address
	if a, ok := tx.Recipient(); ok {
		c := common.Address(a)
		to = &c
	}
	var al types.AccessList
	for _, t := range tx.AccessList {
		tuple := types.AccessTuple{Address: common.Address(t.Address), StorageKeys: []common.Hash{}}
		for _, k := range t.StorageKeys {
			tuple.StorageKeys = append(tuple.StorageKeys, common.Hash(k))
		}
		al = append(al, tuple)
	}
	chainID := tx.ChainID.Big()
	switch tx.Type {
	case AccessListTxType:
		return types.NewTx(&types.AccessListTx{ChainID: chainID, Nonce: tx.Nonce, GasPrice: tx.GasPrice.Big(), Gas: tx.Gas,
			To: to, Value: tx.Value.Big(), Data: tx.Data, AccessList: al}), types.NewEIP2930Signer(chainID)
	case DynamicFeeTxType:
		return types.NewTx(&types.DynamicFeeTx{ChainID: chainID, Nonce: tx.Nonce, GasTipCap: tx.MaxPriorityFeePerGas.Big(),
			GasFeeCap: tx.MaxFeePerGas.Big(), Gas: tx.Gas, To: to, Value: tx.Value.Big(), Data: tx.Data, AccessList: al}), types.NewLondonSigner(chainID)
	}
	gtx := types.NewTx(&types.LegacyTx{Nonce: tx.Nonce, GasPrice: tx.GasPrice.Big(), Gas: tx.Gas, To: to, Value: tx.Value.Big(), Data: tx.Data})
	if chainID.Sign() == 0 {
		return gtx, types.HomesteadSigner{}
	}
	return gtx, types.NewEIP155Signer(chainID)
}

func TestTxSignMatchesGoEthereum(t *testing.T) {
	r := newRand(3)
	forms := []struct {
		name string
		typ  uint8
		pre  bool
	}{
		{"legacy pre-EIP-155", LegacyTxType, true},
		{"legacy EIP-155", LegacyTxType, false},
		{"EIP-2930", AccessListTxType, false},
		{"EIP-1559", DynamicFeeTxType, false},
	}
	for _, form := range forms {
		t.Run(form.name, func(t *testing.T) {
			for i := range interopRounds {
				key := randomKey(t, r)
				chainID := []uint64{1, 5, 137, 7822, r.Uint64() >> 1, r.Uint64()}[r.IntN(6)]
				if form.pre {
					chainID = 0
				} else if chainID == 0 {
					chainID = 1
				}
				tx := randomTx(r, form.typ, chainID)
				signed, err := tx.Sign(key)
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
				gtx, signer := gethTx(tx)
				h, _ := tx.SigningHash()
				if want := signer.Hash(gtx); h != want {
					t.Fatalf("round %d: got signing hash %x, want %x", i, h, want)
				}
				gsigned, err := types.SignTx(gtx, signer, gethKey(t, key))
				if err != nil {
					t.Fatalf("round %d: go-ethereum SignTx: %v", i, err)
				}
				want, _ := gsigned.MarshalBinary()
				if !bytes.Equal(signed.Raw, want) {
					t.Fatalf("round %d: got raw\n%x\nwant\n%x", i, signed.Raw, want)
				}
				if signed.Hash != gsigned.Hash() {
					t.Errorf("round %d: got hash %x, want %x", i, signed.Hash, gsigned.Hash())
				}
				var decoded types.Transaction
				if err := decoded.UnmarshalBinary(signed.Raw); err != nil {
					t.Fatalf("round %d: go-ethereum cannot decode our bytes: %v", i, err)
				}
				from, err := types.Sender(signer, &decoded)
				if want := AddressFromPublicKey(key.PubKey()); err != nil || Address(from) != want {
					t.Errorf("round %d: go-ethereum sender %s, %v; want %s", i, from.Hex(), err, want)
				}
			}
		})
	}
}
