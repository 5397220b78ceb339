package eth

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/ethereum/go-ethereum/core/types"
)

// Published vectors, copied into testdata/ (see testdata/README.md).

func TestAddressMatchesEthersVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name, PrivateKey, Address string
		}
	}
	readVectors(t, "eth_address_vectors_ethers.json", &file)
	if len(file.Vectors) != 259 {
		t.Fatalf("got %d vectors, want 259", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		key := keyFromHex(t, v.PrivateKey)
		got := AddressFromPublicKey(key.PubKey())
		if got.String() != v.Address {
			t.Errorf("%s: got address %s, want %s", v.Name, got, v.Address)
		}
		for _, form := range []string{v.Address, strings.ToLower(v.Address), "0x" + strings.ToUpper(v.Address[2:])} {
			parsed, err := ParseAddress(form)
			if err != nil || parsed != got {
				t.Errorf("%s: ParseAddress(%s) = %s, %v; want %s", v.Name, form, parsed, err, got)
			}
		}
	}
}

func TestAddressChecksumMatchesEIP55Vectors(t *testing.T) {
	var file struct {
		ChecksummedAddresses map[string][]string `json:"checksummed_addresses"`
		ExtraKnownPairs      struct {
			Pairs []struct {
				PrivateKey         string `json:"private_key"`
				AddressLower       string `json:"address_lower"`
				AddressChecksummed string `json:"address_checksummed"`
			}
		} `json:"extra_known_pairs"`
	}
	readVectors(t, "eip55_checksum_vectors.json", &file)
	n := 0
	for group, addrs := range file.ChecksummedAddresses {
		for _, s := range addrs {
			n++
			a, err := ParseAddress(s)
			if err != nil {
				t.Errorf("%s: ParseAddress(%s): %v", group, s, err)
				continue
			}
			if a.String() != s {
				t.Errorf("%s: got %s, want %s", group, a, s)
			}
		}
	}
	if n != 8 {
		t.Errorf("got %d checksummed addresses, want 8", n)
	}
	if len(file.ExtraKnownPairs.Pairs) != 4 {
		t.Errorf("got %d key pairs, want 4", len(file.ExtraKnownPairs.Pairs))
	}
	for i, p := range file.ExtraKnownPairs.Pairs {
		a := AddressFromPublicKey(keyFromHex(t, p.PrivateKey).PubKey())
		if got := strings.ToLower(a.String()); got != p.AddressLower {
			t.Errorf("pair %d: got %s, want %s", i, got, p.AddressLower)
		}
		if p.AddressChecksummed != "" && a.String() != p.AddressChecksummed {
			t.Errorf("pair %d: got %s, want %s", i, a, p.AddressChecksummed)
		}
	}
}

func TestPersonalSignMatchesEthSigUtilVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Label      string
			PrivateKey string `json:"private_key"`
			MessageHex string `json:"message_hex"`
			Signature  string
			Address    *string
		}
	}
	readVectors(t, "eip191_personal_sign_vectors.json", &file)
	if len(file.Vectors) != 4 {
		t.Fatalf("got %d vectors, want 4", len(file.Vectors))
	}
	for _, v := range file.Vectors {
		key := keyFromHex(t, v.PrivateKey)
		digest := PersonalMessageHash(unhex(t, v.MessageHex))
		sig, err := SignDigest(key, digest)
		if err != nil {
			t.Fatalf("%s: SignDigest: %v", v.Label, err)
		}
		if b := sig.LegacyBytes(); hexOf(b[:]) != v.Signature {
			t.Errorf("%s: got signature %x, want %s", v.Label, b, v.Signature)
		}
		signer := AddressFromPublicKey(key.PubKey())
		if rec, err := sig.RecoverAddress(digest); err != nil || rec != signer {
			t.Errorf("%s: recovered %s, %v; want %s", v.Label, rec, err, signer)
		}
		if v.Address != nil && strings.ToLower(signer.String()) != *v.Address {
			t.Errorf("%s: got address %s, want %s", v.Label, signer, *v.Address)
		}
	}
}

type eip712SpecFile struct {
	Spec struct {
		TypedData json.RawMessage `json:"typed_data"`
		Expected  struct {
			EncodeTypeMail  string `json:"encodeType_Mail"`
			TypeHashMail    string `json:"typeHash_Mail"`
			EncodeDataMail  string `json:"encodeData_Mail"`
			HashStructMail  string `json:"hashStruct_Mail"`
			DomainSeparator string
			SignHash        string
			SignerAddress   string `json:"signer_address"`
			V               json.Number
			R, S            string
			SignatureRSV    string `json:"signature_rsv"`
		}
		PrivateKey string `json:"private_key"`
	} `json:"eip712_spec_example"`
	MetaMask struct {
		PrivateKey string `json:"private_key"`
		Cases      []struct {
			Name       string
			Version    string
			TypedData  json.RawMessage `json:"typed_data"`
			EIP712Hash string          `json:"eip712_hash"`
			Signature  string
		}
	} `json:"metamask_eth_sig_util"`
}

func TestTypedDataMatchesSpecMailExample(t *testing.T) {
	var file eip712SpecFile
	readVectors(t, "eip712_vectors.json", &file)
	spec := file.Spec
	td, sch, err := parseTypedData(spec.TypedData)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	if got := sch.encodeType("Mail"); got != spec.Expected.EncodeTypeMail {
		t.Errorf("encodeType(Mail): got %s, want %s", got, spec.Expected.EncodeTypeMail)
	}
	if got := sch.typeHash("Mail"); hexOf(got[:]) != spec.Expected.TypeHashMail {
		t.Errorf("typeHash(Mail): got %x, want %s", got, spec.Expected.TypeHashMail)
	}
	var doc struct {
		Message map[string]any
	}
	if err := json.Unmarshal(spec.TypedData, &doc); err != nil {
		t.Fatal(err)
	}
	enc, err := sch.encodeData("Mail", doc.Message)
	if err != nil || hexOf(enc) != spec.Expected.EncodeDataMail {
		t.Errorf("encodeData(Mail): got %x, %v; want %s", enc, err, spec.Expected.EncodeDataMail)
	}
	checks := []struct {
		name string
		got  [32]byte
		want string
	}{
		{"hashStruct(Mail)", td.MessageHash, spec.Expected.HashStructMail},
		{"domainSeparator", td.DomainSeparator, spec.Expected.DomainSeparator},
		{"digest", td.Digest, spec.Expected.SignHash},
	}
	for _, c := range checks {
		if hexOf(c.got[:]) != c.want {
			t.Errorf("%s: got %x, want %s", c.name, c.got, c.want)
		}
	}
	if td.Domain.Name == nil || *td.Domain.Name != "Ether Mail" || td.Domain.Version == nil || *td.Domain.Version != "1" ||
		td.Domain.ChainID == nil || td.Domain.ChainID.Int64() != 1 || td.Domain.VerifyingContract == nil ||
		td.Domain.VerifyingContract.String() != "0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC" || td.Domain.Salt != nil {
		t.Errorf("domain: got %+v, want Ether Mail / 1 / chain 1 / 0xCcCC…cC / no salt", td.Domain)
	}
	key := keyFromHex(t, spec.PrivateKey)
	sig, err := SignDigest(key, td.Digest)
	if err != nil {
		t.Fatal(err)
	}
	if b := sig.LegacyBytes(); hexOf(b[:]) != spec.Expected.SignatureRSV {
		t.Errorf("signature: got %x, want %s", b, spec.Expected.SignatureRSV)
	}
	if hexOf(sig.R[:]) != spec.Expected.R || hexOf(sig.S[:]) != spec.Expected.S || spec.Expected.V.String() != "28" || sig.V != 1 {
		t.Errorf("r, s, v: got %x, %x, %d; want %s, %s, %s", sig.R, sig.S, sig.V+27, spec.Expected.R, spec.Expected.S, spec.Expected.V)
	}
	if a := AddressFromPublicKey(key.PubKey()); strings.ToLower(a.String()) != spec.Expected.SignerAddress {
		t.Errorf("signer: got %s, want %s", a, spec.Expected.SignerAddress)
	}
}

func TestTypedDataMatchesEthSigUtilV4Vectors(t *testing.T) {
	var file eip712SpecFile
	readVectors(t, "eip712_vectors.json", &file)
	key := keyFromHex(t, file.MetaMask.PrivateKey)
	if len(file.MetaMask.Cases) != 6 {
		t.Fatalf("got %d cases, want 6", len(file.MetaMask.Cases))
	}
	v4 := 0
	for _, c := range file.MetaMask.Cases {
		if !strings.Contains(c.Version, "V4") {
			continue // the V3-only case has its own test below
		}
		v4++
		td, err := ParseTypedData(c.TypedData)
		if err != nil {
			t.Errorf("%s: %v", c.Name, err)
			continue
		}
		if c.EIP712Hash != "" && hexOf(td.Digest[:]) != c.EIP712Hash {
			t.Errorf("%s: got digest %x, want %s", c.Name, td.Digest, c.EIP712Hash)
		}
		sig, err := SignDigest(key, td.Digest)
		if err != nil {
			t.Fatal(err)
		}
		if b := sig.LegacyBytes(); hexOf(b[:]) != c.Signature {
			t.Errorf("%s: got signature %x, want %s", c.Name, b, c.Signature)
		}
	}
	if v4 != 5 {
		t.Errorf("got %d V4 cases, want 5", v4)
	}
}

// The eth-sig-util "recursive data type (V3 semantics)" case was not
// recomputed when the vectors were collected. V3 is not what this package
// implements (V3 leaves an absent field out of encodeData altogether; V4
// encodes an absent struct as 32 zero bytes), so this test rebuilds the V3
// digest by hand from the same pieces and checks that the published
// signature is exactly ours over it; and that ParseTypedData, being V4,
// signs something else for the same document.
func TestTypedDataV3RecursiveCaseIsV3NotV4(t *testing.T) {
	var file eip712SpecFile
	readVectors(t, "eip712_vectors.json", &file)
	key := keyFromHex(t, file.MetaMask.PrivateKey)
	var v3Doc json.RawMessage
	var v3Sig string
	for _, c := range file.MetaMask.Cases {
		if c.Version == "V3" {
			v3Doc, v3Sig = c.TypedData, c.Signature
		}
	}
	if v3Doc == nil {
		t.Fatal("V3 case missing")
	}
	td, sch, err := parseTypedData(v3Doc)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	var doc struct {
		Message map[string]any
	}
	if err := json.Unmarshal(v3Doc, &doc); err != nil {
		t.Fatal(err)
	}
	person := func(v any) []byte {
		h, err := sch.hashStruct("Person", v.(map[string]any))
		if err != nil {
			t.Fatal(err)
		}
		return h[:]
	}
	str := func(v any) []byte { h := keccak256([]byte(v.(string))); return h[:] }
	mailTypeHash := sch.typeHash("Mail")
	inner := doc.Message["replyTo"].(map[string]any)
	innerHash := keccak256(mailTypeHash[:], person(inner["from"]), person(inner["to"]), str(inner["contents"])) // no replyTo slot: V3
	outerHash := keccak256(mailTypeHash[:], person(doc.Message["from"]), person(doc.Message["to"]), str(doc.Message["contents"]), innerHash[:])
	v3Digest := keccak256([]byte{0x19, 0x01}, td.DomainSeparator[:], outerHash[:])

	sig, err := SignDigest(key, v3Digest)
	if err != nil {
		t.Fatal(err)
	}
	if b := sig.LegacyBytes(); hexOf(b[:]) != v3Sig {
		t.Errorf("V3 digest rebuilt by hand: got signature %x, want %s", b, v3Sig)
	}
	if td.Digest == v3Digest {
		t.Errorf("ParseTypedData gave the V3 digest %x, want the V4 one", td.Digest)
	}
}

func TestTypedDataMatchesEthersVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name        string
			Domain      map[string]any
			PrimaryType string
			Types       map[string]any
			Data        map[string]any
			Encoded     string
			Digest      string
			PrivateKey  string
			Signature   string
		}
	}
	readVectors(t, "eip712_vectors_ethers.json", &file)
	if len(file.Vectors) != 130 {
		t.Fatalf("got %d vectors, want 130", len(file.Vectors))
	}
	signed := 0
	for _, v := range file.Vectors {
		// ethers derives EIP712Domain from the domain's keys, in this order.
		var domainType []map[string]string
		for _, f := range []string{"name", "version", "chainId", "verifyingContract", "salt"} {
			if _, ok := v.Domain[f]; ok {
				domainType = append(domainType, map[string]string{"name": f, "type": domainFieldTypes[f]})
			}
		}
		types := map[string]any{"EIP712Domain": domainType}
		for k, tv := range v.Types {
			types[k] = tv
		}
		if domainType == nil {
			types["EIP712Domain"] = []any{}
		}
		doc, err := json.Marshal(map[string]any{"types": types, "primaryType": v.PrimaryType, "domain": v.Domain, "message": v.Data})
		if err != nil {
			t.Fatal(err)
		}
		td, sch, err := parseTypedData(doc)
		if err != nil {
			t.Errorf("%s: %v", v.Name, err)
			continue
		}
		if hexOf(td.Digest[:]) != v.Digest {
			t.Errorf("%s: got digest %x, want %s", v.Name, td.Digest, v.Digest)
		}
		if enc, err := sch.encodeData(v.PrimaryType, v.Data); err != nil || hexOf(enc) != v.Encoded {
			t.Errorf("%s: got encodeData %x, %v; want %s", v.Name, enc, err, v.Encoded)
		}
		if v.PrivateKey != "" {
			signed++
			sig, err := SignDigest(keyFromHex(t, v.PrivateKey), td.Digest)
			if err != nil {
				t.Fatal(err)
			}
			if b := sig.LegacyBytes(); hexOf(b[:]) != v.Signature {
				t.Errorf("%s: got signature %x, want %s", v.Name, b, v.Signature)
			}
		}
	}
	if signed != 1 {
		t.Errorf("got %d signed vectors, want 1", signed)
	}
}

func TestTxMatchesEIP155SpecExample(t *testing.T) {
	var file struct {
		Spec struct {
			PrivateKey string `json:"private_key"`
			Tx         struct {
				Nonce    json.Number
				GasPrice string
				GasLimit json.Number
				To       string
				Value    string
				Data     string
			}
			SigningData string `json:"signing_data"`
			SigningHash string `json:"signing_hash"`
			V           json.Number
			R, S        string
			SignedTx    string `json:"signed_tx"`
		} `json:"eip155_spec_example"`
	}
	readVectors(t, "eth_tx_signing_vectors.json", &file)
	s := file.Spec
	tx := &Tx{
		Type:     LegacyTxType,
		ChainID:  QuantityFromUint64(1),
		Nonce:    bigFrom(t, s.Tx.Nonce).Uint64(),
		GasPrice: quantity(t, s.Tx.GasPrice),
		Gas:      bigFrom(t, s.Tx.GasLimit).Uint64(),
		To:       unhex(t, s.Tx.To),
		Value:    quantity(t, s.Tx.Value),
		Data:     unhex(t, s.Tx.Data),
	}
	if got := tx.signingPayload(); hexOf(got) != s.SigningData {
		t.Errorf("signing data: got %x, want %s", got, s.SigningData)
	}
	h, err := tx.SigningHash()
	if err != nil || hexOf(h[:]) != s.SigningHash {
		t.Errorf("signing hash: got %x, %v; want %s", h, err, s.SigningHash)
	}
	sig, err := SignDigest(keyFromHex(t, s.PrivateKey), h)
	if err != nil {
		t.Fatal(err)
	}
	if sig.R != [32]byte(bigFrom(t, s.R).FillBytes(make([]byte, 32))) || sig.S != [32]byte(bigFrom(t, s.S).FillBytes(make([]byte, 32))) || 37+int(sig.V) != int(bigFrom(t, s.V).Int64()) {
		t.Errorf("signature: got r=%x s=%x v=%d, want r=%s s=%s v=%s", sig.R, sig.S, 37+int(sig.V), s.R, s.S, s.V)
	}
	signed, err := tx.Assemble(sig)
	if err != nil || hexOf(signed.Raw) != s.SignedTx {
		t.Errorf("signed tx: got %x, %v; want %s", signed.Raw, err, s.SignedTx)
	}
	checkHashAgainstGeth(t, "EIP-155 example", signed)
}

func TestTxMatchesEthereumJSEIP1559Vectors(t *testing.T) {
	var file struct {
		EIP1559 struct {
			Vectors []struct {
				ChainID              json.Number
				Nonce                json.Number
				Value                json.Number
				GasLimit             json.Number
				MaxPriorityFeePerGas json.Number
				MaxFeePerGas         json.Number
				To                   string
				Data                 string
				AccessList           []any
				PrivateKey           string
				SignedTxEnvelope     string `json:"signed_tx_envelope"`
			}
		} `json:"eip1559_ethereumjs_vectors"`
	}
	readVectors(t, "eth_tx_signing_vectors.json", &file)
	if len(file.EIP1559.Vectors) != 10 {
		t.Fatalf("got %d vectors, want 10", len(file.EIP1559.Vectors))
	}
	for i, v := range file.EIP1559.Vectors {
		if len(v.AccessList) != 0 {
			t.Fatalf("vector %d has an access list; the test does not read it", i)
		}
		tx := &Tx{
			Type:                 DynamicFeeTxType,
			ChainID:              quantity(t, v.ChainID),
			Nonce:                bigFrom(t, v.Nonce).Uint64(),
			MaxPriorityFeePerGas: quantity(t, v.MaxPriorityFeePerGas),
			MaxFeePerGas:         quantity(t, v.MaxFeePerGas),
			Gas:                  bigFrom(t, v.GasLimit).Uint64(),
			To:                   unhex(t, v.To),
			Value:                quantity(t, v.Value),
			Data:                 unhex(t, v.Data),
		}
		signed, err := tx.Sign(keyFromHex(t, v.PrivateKey))
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if hexOf(signed.Raw) != v.SignedTxEnvelope {
			t.Errorf("vector %d: got %x, want %s", i, signed.Raw, v.SignedTxEnvelope)
		}
		checkHashAgainstGeth(t, "ethereumjs EIP-1559", signed)
	}
}

// checkHashAgainstGeth decodes the signed bytes with go-ethereum and compares
// its transaction hash with ours.
func checkHashAgainstGeth(t *testing.T, name string, signed SignedTx) {
	t.Helper()
	var gtx types.Transaction
	if err := gtx.UnmarshalBinary(signed.Raw); err != nil {
		t.Errorf("%s: go-ethereum cannot decode our transaction: %v", name, err)
		return
	}
	if gtx.Hash() != signed.Hash {
		t.Errorf("%s: got hash %x, want %x (go-ethereum)", name, signed.Hash, gtx.Hash())
	}
}

type sigJSON struct{ R, S, V string }

type txForm struct {
	form             string
	tx               Tx
	unsigned, signed string
	sig              sigJSON
}

func TestTxMatchesEthersVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Name        string
			Transaction struct {
				To                   *string
				Nonce                json.Number
				GasLimit             any
				GasPrice             any
				MaxFeePerGas         any
				MaxPriorityFeePerGas any
				Data                 *string
				Value                any
				AccessList           []struct {
					Address     string
					StorageKeys []string
				}
				ChainID any `json:"chainId"`
			}
			PrivateKey                                                         string
			UnsignedLegacy, UnsignedEip155, UnsignedBerlin, UnsignedLondon     string
			SignedLegacy, SignedEip155, SignedBerlin, SignedLondon             string
			SignatureLegacy, SignatureEip155, SignatureBerlin, SignatureLondon sigJSON
		}
	}
	readVectors(t, "eth_tx_vectors_ethers.json", &file)
	if len(file.Vectors) != 256 {
		t.Fatalf("got %d vectors, want 256", len(file.Vectors))
	}
	forms := 0
	for _, v := range file.Vectors {
		in := v.Transaction
		base := Tx{
			Gas:   bigFrom(t, in.GasLimit).Uint64(),
			Value: quantity(t, in.Value),
		}
		if !bigFrom(t, in.GasLimit).IsUint64() {
			t.Fatalf("%s: gas limit over 64 bits", v.Name)
		}
		if in.Nonce != "" {
			base.Nonce = bigFrom(t, in.Nonce).Uint64()
		}
		if in.To != nil {
			base.To = unhex(t, *in.To)
		}
		if in.Data != nil {
			base.Data = unhex(t, *in.Data)
		}
		var accessList []AccessTuple
		for _, a := range in.AccessList {
			tuple := AccessTuple{Address: unhex(t, a.Address), StorageKeys: [][]byte{}}
			for _, k := range a.StorageKeys {
				tuple.StorageKeys = append(tuple.StorageKeys, unhex(t, k))
			}
			accessList = append(accessList, tuple)
		}
		key := keyFromHex(t, v.PrivateKey)

		var cases []txForm
		legacy := base
		legacy.ChainID, legacy.GasPrice = Quantity{}, quantity(t, in.GasPrice)
		cases = append(cases, txForm{"legacy", legacy, v.UnsignedLegacy, v.SignedLegacy, v.SignatureLegacy})
		if v.SignedEip155 != "" {
			eip155 := legacy
			eip155.ChainID = quantity(t, in.ChainID)
			cases = append(cases, struct {
				form             string
				tx               Tx
				unsigned, signed string
				sig              sigJSON
			}{"eip155", eip155, v.UnsignedEip155, v.SignedEip155, v.SignatureEip155})
		}
		berlin := base
		berlin.Type, berlin.ChainID, berlin.GasPrice, berlin.AccessList = AccessListTxType, quantity(t, in.ChainID), quantity(t, in.GasPrice), accessList
		london := base
		london.Type, london.ChainID, london.AccessList = DynamicFeeTxType, quantity(t, in.ChainID), accessList
		london.MaxFeePerGas, london.MaxPriorityFeePerGas = quantity(t, in.MaxFeePerGas), quantity(t, in.MaxPriorityFeePerGas)
		cases = append(cases, txForm{"berlin", berlin, v.UnsignedBerlin, v.SignedBerlin, v.SignatureBerlin}, txForm{"london", london, v.UnsignedLondon, v.SignedLondon, v.SignatureLondon})

		for _, c := range cases {
			forms++
			name := v.Name + "/" + c.form
			if err := c.tx.Validate(); err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if got := c.tx.signingPayload(); hexOf(got) != c.unsigned {
				t.Errorf("%s: got unsigned %x, want %s", name, got, c.unsigned)
			}
			h, _ := c.tx.SigningHash()
			sig, err := SignDigest(key, h)
			if err != nil {
				t.Fatal(err)
			}
			if hexOf(sig.R[:]) != c.sig.R || hexOf(sig.S[:]) != c.sig.S {
				t.Errorf("%s: got r=%x s=%x, want r=%s s=%s", name, sig.R, sig.S, c.sig.R, c.sig.S)
			}
			signed, err := c.tx.Sign(key)
			if err != nil {
				t.Errorf("%s: %v", name, err)
				continue
			}
			if hexOf(signed.Raw) != c.signed {
				t.Errorf("%s: got signed %x, want %s", name, signed.Raw, c.signed)
			}
			checkHashAgainstGeth(t, name, signed)
		}
	}
	if forms != 896 {
		t.Errorf("got %d signed forms, want 896", forms)
	}
}

// The EIP-155 recovery vectors have no keys: decode each with go-ethereum,
// rebuild it as our Tx, and check that Assemble reproduces the bytes, that
// SigningHash is the vector's "hash", and that the signature recovers the
// stated sender over it. The vector's "hash" is the EIP-155 signing hash
// (go-ethereum's EIP155Signer.Hash), not keccak256 of the rlp as the
// collection's note says; the transaction hash is checked against
// go-ethereum's instead.
func TestTxReproducesEIP155RecoveryVectors(t *testing.T) {
	var file struct {
		Vectors []struct {
			Hash, RLP, Sender string
		}
	}
	readVectors(t, "eth_eip155_recovery_vectors.json", &file)
	if len(file.Vectors) != 10 {
		t.Fatalf("got %d vectors, want 10", len(file.Vectors))
	}
	for i, v := range file.Vectors {
		var gtx types.Transaction
		if err := gtx.UnmarshalBinary(unhex(t, v.RLP)); err != nil {
			t.Fatalf("vector %d: go-ethereum decode: %v", i, err)
		}
		gv, gr, gs := gtx.RawSignatureValues()
		chainID := gtx.ChainId()
		tx := &Tx{
			Type:     LegacyTxType,
			ChainID:  QuantityFromUint64(chainID.Uint64()),
			Nonce:    gtx.Nonce(),
			GasPrice: mustQuantity(t, gtx.GasPrice()),
			Gas:      gtx.Gas(),
			Value:    mustQuantity(t, gtx.Value()),
			Data:     gtx.Data(),
		}
		if gtx.To() != nil {
			tx.To = gtx.To().Bytes()
		}
		recid := gv.Int64() - 35 - 2*chainID.Int64()
		if recid != 0 && recid != 1 {
			t.Fatalf("vector %d: v=%d is not EIP-155 for chain %d", i, gv, chainID)
		}
		sig := Signature{V: byte(recid)}
		gr.FillBytes(sig.R[:])
		gs.FillBytes(sig.S[:])
		signed, err := tx.Assemble(sig)
		if err != nil {
			t.Fatalf("vector %d: %v", i, err)
		}
		if hexOf(signed.Raw) != v.RLP {
			t.Errorf("vector %d: got %x, want %s", i, signed.Raw, v.RLP)
		}
		checkHashAgainstGeth(t, "EIP-155 recovery", signed)
		h, err := tx.SigningHash()
		if err != nil || hexOf(h[:]) != "0x"+v.Hash {
			t.Errorf("vector %d: got signing hash %x, %v; want %s", i, h, err, v.Hash)
		}
		from, err := sig.RecoverAddress(h)
		if err != nil || strings.ToLower(from.String()) != "0x"+v.Sender {
			t.Errorf("vector %d: recovered %s, %v; want 0x%s", i, from, err, v.Sender)
		}
	}
}
