package eth

import (
	"encoding/hex"
	"errors"
	"math/big"
	"strings"
	"testing"

	"github.com/fxamacker/cbor/v2"
)

// Bad input: each case is rejected with the right sentinel and a message that
// says why, and nothing panics.

func TestParseAddressRejectsMalformed(t *testing.T) {
	good := "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAed"
	tests := []struct {
		name, in string
		want     error
	}{
		{"wrong checksum (one letter's case flipped)", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeD", ErrAddressChecksum},
		{"wrong checksum (mixed case, other address)", "0x5AAeb6053F3E94C9b9A09f33669435E7Ef1BeAed", ErrAddressChecksum},
		{"no 0x", good[2:], ErrInvalidAddress},
		{"0X prefix", "0X" + good[2:], ErrInvalidAddress},
		{"39 digits", good[:41], ErrInvalidAddress},
		{"41 digits", good + "0", ErrInvalidAddress},
		{"not hex", "0x5aAeb6053F3E94C9b9A09f33669435E7Ef1BeAeg", ErrInvalidAddress},
		{"empty", "", ErrInvalidAddress},
		{"spaces", " " + good[1:], ErrInvalidAddress},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, err := ParseAddress(tt.in)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %s, %v; want error %v", a, err, tt.want)
			}
		})
	}
}

func TestParseSignatureRejectsMalformed(t *testing.T) {
	n := secp256k1N()
	halfN := new(big.Int).Rsh(n, 1)
	word := func(x *big.Int) []byte { return x.FillBytes(make([]byte, 32)) }
	sig := func(r, s *big.Int, v byte) []byte {
		return append(append(word(r), word(s)...), v)
	}
	one := big.NewInt(1)
	tests := []struct {
		name string
		in   []byte
		want string
	}{
		{"64 bytes", make([]byte, 64), "want 65 bytes"},
		{"v = 2", sig(one, one, 2), "v must be"},
		{"v = 29", sig(one, one, 29), "v must be"},
		{"r = 0", sig(new(big.Int), one, 0), "r out of range"},
		{"r = n", sig(n, one, 0), "r out of range"},
		{"s = 0", sig(one, new(big.Int), 27), "s out of range"},
		{"s = n", sig(one, n, 27), "s out of range"},
		{"s = n/2 + 1 (high, EIP-2)", sig(one, new(big.Int).Add(halfN, one), 1), "not low"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseSignature(tt.in)
			if !errors.Is(err, ErrInvalidSignature) || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("got %v, want ErrInvalidSignature containing %q", err, tt.want)
			}
		})
	}
	if _, err := ParseSignature(sig(one, halfN, 28)); err != nil {
		t.Errorf("s = n/2 (the largest low s): got %v, want nil", err)
	}
}

func secp256k1N() *big.Int {
	n, _ := new(big.Int).SetString("fffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141", 16)
	return n
}

func TestSignDigestRejectsNilKey(t *testing.T) {
	if _, err := SignDigest(nil, [32]byte{}); !errors.Is(err, ErrInvalidKey) {
		t.Fatalf("got %v, want ErrInvalidKey", err)
	}
}

func TestRecoverAddressRejectsBadSignature(t *testing.T) {
	tests := []struct {
		name string
		sig  Signature
	}{
		{"v = 2", Signature{R: [32]byte{31: 1}, S: [32]byte{31: 1}, V: 2}},
		{"r = 0", Signature{S: [32]byte{31: 1}}},
		{"s = 0", Signature{R: [32]byte{31: 1}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if a, err := tt.sig.RecoverAddress([32]byte{1}); !errors.Is(err, ErrInvalidSignature) {
				t.Fatalf("got %s, %v; want ErrInvalidSignature", a, err)
			}
		})
	}
}

// mail is the EIP-712 spec example; malformed cases edit it.
const mail = `{"types":{"EIP712Domain":[{"name":"name","type":"string"},{"name":"version","type":"string"},{"name":"chainId","type":"uint256"},{"name":"verifyingContract","type":"address"}],"Person":[{"name":"name","type":"string"},{"name":"wallet","type":"address"}],"Mail":[{"name":"from","type":"Person"},{"name":"to","type":"Person"},{"name":"contents","type":"string"}]},"primaryType":"Mail","domain":{"name":"Ether Mail","version":"1","chainId":1,"verifyingContract":"0xCcCCccccCCCCcCCCCCCcCcCccCcCCCcCcccccccC"},"message":{"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"},"to":{"name":"Bob","wallet":"0xbBbBBBBbbBBBbbbBbbBbbbbBBbBbbbbBbBbbBBbB"},"contents":"Hello, Bob!"}}`

// valueDoc is a one-field document: type T {v: typ} with message {"v": value}.
func valueDoc(typ, value string) string {
	return `{"types":{"EIP712Domain":[],"T":[{"name":"v","type":"` + typ + `"}]},"primaryType":"T","domain":{},"message":{"v":` + value + `}}`
}

// typesDoc is a document with the given extra types and primary type T and
// an empty message.
func typesDoc(types string) string {
	return `{"types":{"EIP712Domain":[]` + types + `},"primaryType":"T","domain":{},"message":{}}`
}

func nested(depth int) string {
	return strings.Repeat("[", depth) + strings.Repeat("]", depth)
}

func manyTypes(n int) string {
	var b strings.Builder
	b.WriteString(`,"T":[]`)
	for i := range n {
		b.WriteString(`,"U` + strings.Repeat("x", i) + `":[]`)
	}
	return b.String()
}

func manyFields(n int) string {
	var f []string
	for i := range n {
		f = append(f, `{"name":"f`+strings.Repeat("x", i)+`","type":"bool"}`)
	}
	return `,"T":[` + strings.Join(f, ",") + `]`
}

// absentStructFlood is under 64 KiB of JSON but, without
// MaxTypedDataEncoded, ~40 MB of hashing: 19 arrays of 1024 "{}" whose type
// has 64 absent struct fields.
func absentStructFlood() string {
	var tf, rf, mv []string
	for i := range 64 {
		tf = append(tf, `{"name":"f`+strings.Repeat("x", i)+`","type":"T"}`)
	}
	arr := "[" + strings.Repeat("{},", 1023) + "{}]"
	for i := range 19 {
		n := "a" + strings.Repeat("x", i)
		rf = append(rf, `{"name":"`+n+`","type":"T[]"}`)
		mv = append(mv, `"`+n+`":`+arr)
	}
	return `{"types":{"EIP712Domain":[],"T":[` + strings.Join(tf, ",") + `],"R":[` + strings.Join(rf, ",") +
		`]},"primaryType":"R","domain":{},"message":{` + strings.Join(mv, ",") + `}}`
}

func TestParseTypedDataRejectsMalformed(t *testing.T) {
	limit, invalid := ErrTypedDataLimit, ErrInvalidTypedData
	tests := []struct {
		name string
		doc  string
		want error
		msg  string
	}{
		// document
		{"not JSON", `{"types":}`, invalid, "malformed JSON at byte"},
		{"truncated JSON", `{"types":`, invalid, "ends early"},
		{"trailing data", mail + `{}`, invalid, "trailing data"},
		{"not an object", `[]`, invalid, "not a JSON object"},
		{"invalid UTF-8", "{\"types\":\"\xff\"}", invalid, "UTF-8"},
		{"over 64 KiB", mail[:len(mail)-2] + `,"pad":"` + strings.Repeat("x", MaxTypedDataSize) + `"}}`, limit, "bytes"},
		{"nesting over 32", valueDoc("uint8"+strings.Repeat("[]", 40), nested(40)), limit, "nesting"},
		{"encoding over 4 MiB", absentStructFlood(), limit, "encoding over"},
		{"array over 1024", valueDoc("bool[]", "["+strings.Repeat("true,", 1024)+"true]"), limit, "array longer"},
		{"duplicate top-level key", strings.Replace(mail, `"primaryType":"Mail"`, `"primaryType":"Mail","primaryType":"Person"`, 1), invalid, "duplicate JSON key"},
		{"duplicate message key", strings.Replace(mail, `"contents":"Hello, Bob!"`, `"contents":"Hello, Bob!","contents":"Bye"`, 1), invalid, "duplicate JSON key"},
		{"unknown top-level key", strings.Replace(mail, `"primaryType"`, `"extra":1,"primaryType"`, 1), invalid, "unknown top-level key"},
		{"message missing", strings.Replace(mail, `"message"`, `"massage"`, 1), invalid, "unknown top-level key"},
		{"message not an object", `{"types":{"EIP712Domain":[],"T":[]},"primaryType":"T","domain":{},"message":[]}`, invalid, "message: want a JSON object"},

		// types
		{"types not an object", `{"types":[],"primaryType":"T","domain":{},"message":{}}`, invalid, "types: want a JSON object"},
		{"more than 64 types", typesDoc(manyTypes(64)), limit, "more than 64 types"},
		{"more than 64 fields", typesDoc(manyFields(65)), limit, "more than 64 fields"},
		{"EIP712Domain missing", `{"types":{"T":[]},"primaryType":"T","domain":{},"message":{}}`, invalid, "EIP712Domain is missing"},
		{"EIP712Domain unknown field", `{"types":{"EIP712Domain":[{"name":"owner","type":"address"}],"T":[]},"primaryType":"T","domain":{},"message":{}}`, invalid, "not an EIP712Domain field"},
		{"EIP712Domain chainId not uint256", `{"types":{"EIP712Domain":[{"name":"chainId","type":"uint64"}],"T":[]},"primaryType":"T","domain":{"chainId":1},"message":{}}`, invalid, "must have type uint256"},
		{"type name not an identifier", typesDoc(`,"T":[],"A B":[]`), invalid, "not an identifier"},
		{"type name starts with a digit", typesDoc(`,"T":[],"1A":[]`), invalid, "not an identifier"},
		{"type named uint256", typesDoc(`,"T":[],"uint256":[]`), invalid, "atomic type"},
		{"type named bytes7", typesDoc(`,"T":[],"bytes7":[]`), invalid, "atomic type"},
		{"fields not an array", typesDoc(`,"T":{}`), invalid, "want a JSON array of fields"},
		{"field without type", typesDoc(`,"T":[{"name":"a"}]`), invalid, "name and type"},
		{"field with extra key", typesDoc(`,"T":[{"name":"a","type":"bool","x":1}]`), invalid, "name and type"},
		{"field name with a space", typesDoc(`,"T":[{"name":"a b","type":"bool"}]`), invalid, "not an identifier"},
		{"duplicate field name", typesDoc(`,"T":[{"name":"a","type":"bool"},{"name":"a","type":"uint8"}]`), invalid, "duplicate field name"},
		{"unknown field type", typesDoc(`,"T":[{"name":"a","type":"Foo"}]`), invalid, "unknown type"},
		{"uint alias", typesDoc(`,"T":[{"name":"a","type":"uint"}]`), invalid, "unknown type"},
		{"int alias", typesDoc(`,"T":[{"name":"a","type":"int"}]`), invalid, "unknown type"},
		{"uint7", typesDoc(`,"T":[{"name":"a","type":"uint7"}]`), invalid, "unknown type"},
		{"uint264", typesDoc(`,"T":[{"name":"a","type":"uint264"}]`), invalid, "unknown type"},
		{"uint08", typesDoc(`,"T":[{"name":"a","type":"uint08"}]`), invalid, "unknown type"},
		{"bytes0", typesDoc(`,"T":[{"name":"a","type":"bytes0"}]`), invalid, "unknown type"},
		{"bytes33", typesDoc(`,"T":[{"name":"a","type":"bytes33"}]`), invalid, "unknown type"},
		{"array length 0", typesDoc(`,"T":[{"name":"a","type":"bool[0]"}]`), invalid, "array length"},
		{"array length 01", typesDoc(`,"T":[{"name":"a","type":"bool[01]"}]`), invalid, "array length"},
		{"array length over 1024", typesDoc(`,"T":[{"name":"a","type":"bool[1025]"}]`), limit, "over 1024"},
		{"array with space", typesDoc(`,"T":[{"name":"a","type":"bool[ ]"}]`), invalid, "array length"},
		{"bare brackets", typesDoc(`,"T":[{"name":"a","type":"[]"}]`), invalid, "malformed type"},
		{"unbalanced bracket", typesDoc(`,"T":[{"name":"a","type":"bool]"}]`), invalid, "malformed type"},
		{"type string over 256 bytes", typesDoc(`,"T":[{"name":"a","type":"bool` + strings.Repeat("[]", 128) + `"}]`), limit, "type string"},

		// primaryType and domain
		{"primaryType undefined", strings.Replace(mail, `"primaryType":"Mail"`, `"primaryType":"Letter"`, 1), invalid, "not a type"},
		{"primaryType not a string", strings.Replace(mail, `"primaryType":"Mail"`, `"primaryType":1`, 1), invalid, "primaryType: want a string"},
		{"domain not an object", `{"types":{"EIP712Domain":[],"T":[]},"primaryType":"T","domain":[],"message":{}}`, invalid, "domain: want a JSON object"},
		{"domain field missing", strings.Replace(mail, `"version":"1",`, ``, 1), invalid, "domain.version: missing value"},
		{"domain field not in type", strings.Replace(mail, `"version":"1",`, `"version":"1","salt":"0x00",`, 1), invalid, "not in type EIP712Domain"},
		{"domain chainId negative", strings.Replace(mail, `"chainId":1`, `"chainId":-1`, 1), invalid, "domain.chainId: value out of range"},
		{"EIP712Domain primary with a message", strings.Replace(mail, `"primaryType":"Mail"`, `"primaryType":"EIP712Domain"`, 1), invalid, "must be {}"},

		// message structure
		{"message field not in type", strings.Replace(mail, `"contents":"Hello, Bob!"`, `"contents":"Hello, Bob!","bcc":"Eve"`, 1), invalid, "not in type Mail"},
		{"atomic field missing", strings.Replace(mail, `,"contents":"Hello, Bob!"`, ``, 1), invalid, "message.contents: missing value"},
		{"nested field wrong", strings.Replace(mail, `"wallet":"0xbBbB`, `"wallet":"0xzBbB`, 1), invalid, "message.to.wallet"},
		{"struct given a string", strings.Replace(mail, `"from":{"name":"Cow","wallet":"0xCD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"}`, `"from":"Cow"`, 1), invalid, "message.from: want a JSON object"},
		{"null for an atomic field", valueDoc("string", "null"), invalid, "want a string"},
		{"string given a number", valueDoc("string", "1"), invalid, "want a string"},
		{"array given an object", valueDoc("bool[]", "{}"), invalid, "want a JSON array"},
		{"fixed array too short", valueDoc("bool[3]", "[true,false]"), invalid, "want 3 items, got 2"},
		{"fixed array too long", valueDoc("bool[1]", "[true,false]"), invalid, "want 1 items, got 2"},
		{"array element wrong", valueDoc("uint8[]", `[1,"x"]`), invalid, "message.v[1]"},
		{"nested array depth mismatch", valueDoc("uint8[]", `[[1]]`), invalid, "want an integer"},

		// integers
		{"uint256 overflow", valueDoc("uint256", `"115792089237316195423570985008687907853269984665640564039457584007913129639936"`), invalid, "out of range for uint256"},
		{"uint256 overflow (hex)", valueDoc("uint256", `"0x1`+strings.Repeat("0", 64)+`"`), invalid, "too long"},
		{"negative uint", valueDoc("uint8", `-1`), invalid, "out of range for uint8"},
		{"negative uint string", valueDoc("uint64", `"-5"`), invalid, "out of range for uint64"},
		{"uint8 256", valueDoc("uint8", `256`), invalid, "out of range for uint8"},
		{"int8 128", valueDoc("int8", `128`), invalid, "out of range for int8"},
		{"int8 -129", valueDoc("int8", `-129`), invalid, "out of range for int8"},
		{"int256 below minimum", valueDoc("int256", `"-57896044618658097711785492504343953926634992332820282019728792003956564819969"`), invalid, "out of range for int256"},
		{"JSON number beyond 2^53", valueDoc("uint64", `9007199254740992`), invalid, "2^53"},
		{"fraction", valueDoc("uint8", `1.5`), invalid, "fraction"},
		{"integral fraction", valueDoc("uint8", `1.0`), invalid, "fraction"},
		{"exponent", valueDoc("uint256", `1e3`), invalid, "exponent"},
		{"empty hex", valueDoc("uint8", `"0x"`), invalid, "empty"},
		{"signed hex", valueDoc("int8", `"0x-1"`), invalid, "malformed integer"},
		{"negative hex", valueDoc("int8", `"-0x1"`), invalid, "malformed integer"},
		{"plus sign", valueDoc("uint8", `"+5"`), invalid, "malformed integer"},
		{"empty string", valueDoc("uint8", `""`), invalid, "empty"},
		{"decimal with space", valueDoc("uint8", `" 5"`), invalid, "malformed integer"},
		{"bool for an integer", valueDoc("uint8", `true`), invalid, "want an integer"},

		// other atomic values
		{"bool as string", valueDoc("bool", `"true"`), invalid, "want true or false"},
		{"bool as number", valueDoc("bool", `1`), invalid, "want true or false"},
		{"address short", valueDoc("address", `"0x1234"`), invalid, "40 hex"},
		{"address without 0x", valueDoc("address", `"cd2a3d9f938e13cd947ec05abc7fe734df8dd826"`), invalid, "40 hex"},
		{"bytes odd length", valueDoc("bytes", `"0x123"`), invalid, "even number"},
		{"bytes without 0x", valueDoc("bytes", `"hello"`), invalid, "0x hex"},
		{"bytes4 too short", valueDoc("bytes4", `"0x010203"`), invalid, "want 4 bytes, got 3"},
		{"bytes4 too long", valueDoc("bytes4", `"0x0102030405"`), invalid, "want 4 bytes, got 5"},
		{"bytes32 as number", valueDoc("bytes32", `1`), invalid, "0x hex"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			td, err := ParseTypedData([]byte(tt.doc))
			if err == nil {
				t.Fatalf("got digest %x, want error %v", td.Digest, tt.want)
			}
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("got %q, want %v containing %q", err, tt.want, tt.msg)
			}
		})
	}
}

func TestParseTypedDataAcceptsEdgeValues(t *testing.T) {
	tests := []struct {
		name, typ, value string
		want             string // the 32-byte encoding
	}{
		{"uint256 max (decimal)", "uint256", `"115792089237316195423570985008687907853269984665640564039457584007913129639935"`, strings.Repeat("ff", 32)},
		{"uint256 max (hex)", "uint256", `"0x` + strings.Repeat("fF", 32) + `"`, strings.Repeat("ff", 32)},
		{"int8 -128", "int8", `-128`, strings.Repeat("ff", 31) + "80"},
		{"int8 127", "int8", `"127"`, strings.Repeat("00", 31) + "7f"},
		{"int256 min", "int256", `"-57896044618658097711785492504343953926634992332820282019728792003956564819968"`, "80" + strings.Repeat("00", 31)},
		{"2^53-1 as a JSON number", "uint64", `9007199254740991`, strings.Repeat("00", 25) + "1fffffffffffff"},
		{"-(2^53-1) as a JSON number", "int64", `-9007199254740991`, strings.Repeat("ff", 25) + "e0000000000001"},
		{"-0", "uint8", `"-0"`, strings.Repeat("00", 32)},
		{"leading zeros", "uint8", `"007"`, strings.Repeat("00", 31) + "07"},
		{"bytes1", "bytes1", `"0xAb"`, "ab" + strings.Repeat("00", 31)},
		{"address, non-checksummed mixed case", "address", `"0xDD2a3d9F938E13CD947Ec05AbC7FE734Df8DD826"`, strings.Repeat("00", 12) + "dd2a3d9f938e13cd947ec05abc7fe734df8dd826"},
		{"bool false", "bool", `false`, strings.Repeat("00", 32)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, sch, err := parseTypedData([]byte(valueDoc(tt.typ, tt.value)))
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			v, err := readJSON([]byte(tt.value))
			if err != nil {
				t.Fatal(err)
			}
			ft, _ := sch.parseFieldType(tt.typ)
			enc, err := sch.encodeValue(ft, v, true)
			if err != nil || hex.EncodeToString(enc[:]) != tt.want {
				t.Fatalf("got %x, %v; want %s", enc, err, tt.want)
			}
		})
	}
}

func TestParseTypedDataHandlesRecursiveTypes(t *testing.T) {
	// A type that refers to itself directly and through another type; the
	// absent replyTo ends the chain (MetaMask v4: 32 zero bytes).
	doc := `{"types":{"EIP712Domain":[],"Mail":[{"name":"body","type":"string"},{"name":"replyTo","type":"Mail"},{"name":"thread","type":"Thread"}],"Thread":[{"name":"head","type":"Mail[]"}]},
	"primaryType":"Mail","domain":{},"message":{"body":"a","replyTo":{"body":"b","replyTo":null,"thread":{"head":[]}},"thread":{"head":[{"body":"c"}]}}}`
	td, sch, err := parseTypedData([]byte(doc))
	if err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if got, want := sch.encodeType("Mail"), "Mail(string body,Mail replyTo,Thread thread)Thread(Mail[] head)"; got != want {
		t.Errorf("encodeType(Mail): got %s, want %s", got, want)
	}
	if got, want := sch.encodeType("Thread"), "Thread(Mail[] head)Mail(string body,Mail replyTo,Thread thread)"; got != want {
		t.Errorf("encodeType(Thread): got %s, want %s", got, want)
	}
	// Rebuild the digest by hand from the spec's definitions.
	mailTH, threadTH := keccak256([]byte(sch.encodeType("Mail"))), keccak256([]byte(sch.encodeType("Thread")))
	str := func(s string) []byte { h := keccak256([]byte(s)); return h[:] }
	zero := make([]byte, 32)
	emptyArray := keccak256()
	c := keccak256(mailTH[:], str("c"), zero, zero)
	headC := keccak256(c[:])
	threadC := keccak256(threadTH[:], headC[:])
	threadEmpty := keccak256(threadTH[:], emptyArray[:])
	b := keccak256(mailTH[:], str("b"), zero, threadEmpty[:])
	a := keccak256(mailTH[:], str("a"), b[:], threadC[:])
	if td.MessageHash != a {
		t.Errorf("got message hash %x, want %x", td.MessageHash, a)
	}
}

func TestParseTypedDataErrorsDoNotEchoValues(t *testing.T) {
	secret := "0x" + strings.Repeat("5e", 32)
	for _, doc := range []string{
		valueDoc("uint8", `"`+secret+`"`),
		valueDoc("bytes4", `"`+secret+`"`),
		valueDoc("address", `"`+secret+`"`),
		valueDoc("bool", `"`+secret+`"`),
	} {
		_, err := ParseTypedData([]byte(doc))
		if err == nil || strings.Contains(err.Error(), "5e5e") {
			t.Errorf("got %v, want an error that does not contain the value", err)
		}
	}
}

// validTx returns a valid transaction of each type for the reject table.
func validTx(typ uint8) Tx {
	tx := Tx{Type: typ, ChainID: QuantityFromUint64(1), Nonce: 1, Gas: 21000, To: make([]byte, 20), Value: QuantityFromUint64(1)}
	if typ == DynamicFeeTxType {
		tx.MaxFeePerGas, tx.MaxPriorityFeePerGas = QuantityFromUint64(2), QuantityFromUint64(1)
	} else {
		tx.GasPrice = QuantityFromUint64(1)
	}
	return tx
}

func TestTxValidateRejectsMalformed(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Tx)
		typ  uint8
		msg  string
	}{
		{"type 3", func(tx *Tx) { tx.Type = 3 }, 0, "unsupported type 3"},
		{"legacy without chain_id", func(tx *Tx) { tx.ChainID = nil }, 0, "needs chain_id"},
		{"legacy without gas_price", func(tx *Tx) { tx.GasPrice = nil }, 0, "needs gas_price"},
		{"legacy with max_fee_per_gas", func(tx *Tx) { tx.MaxFeePerGas = Quantity{} }, 0, "has no max_fee_per_gas"},
		{"legacy with access_list", func(tx *Tx) { tx.AccessList = []AccessTuple{} }, 0, "has no access_list"},
		{"EIP-2930 without gas_price", func(tx *Tx) { tx.GasPrice = nil }, 1, "needs gas_price"},
		{"EIP-2930 with max_priority_fee_per_gas", func(tx *Tx) { tx.MaxPriorityFeePerGas = Quantity{1} }, 1, "has no max_priority_fee_per_gas"},
		{"EIP-1559 with gas_price", func(tx *Tx) { tx.GasPrice = Quantity{} }, 2, "has no gas_price"},
		{"EIP-1559 without max_fee_per_gas", func(tx *Tx) { tx.MaxFeePerGas = nil }, 2, "needs max_fee_per_gas"},
		{"EIP-1559 without max_priority_fee_per_gas", func(tx *Tx) { tx.MaxPriorityFeePerGas = nil }, 2, "needs max_priority_fee_per_gas"},
		{"EIP-1559 without chain_id", func(tx *Tx) { tx.ChainID = nil }, 2, "needs chain_id"},
		{"to of 19 bytes", func(tx *Tx) { tx.To = make([]byte, 19) }, 2, "to must be 20 bytes"},
		{"to of 21 bytes", func(tx *Tx) { tx.To = make([]byte, 21) }, 0, "to must be 20 bytes"},
		{"value with a leading zero", func(tx *Tx) { tx.Value = Quantity{0, 1} }, 0, "leading zero"},
		{"chain_id of 33 bytes", func(tx *Tx) { tx.ChainID = append(Quantity{1}, make([]byte, 32)...) }, 1, "over 32 bytes"},
		{"gas_price with a leading zero", func(tx *Tx) { tx.GasPrice = Quantity{0} }, 1, "leading zero"},
		{"max_fee_per_gas of 33 bytes", func(tx *Tx) { tx.MaxFeePerGas = append(Quantity{1}, make([]byte, 32)...) }, 2, "over 32 bytes"},
		{"nonce 2^64-1", func(tx *Tx) { tx.Nonce = 1<<64 - 1 }, 2, "EIP-2681"},
		{"access list address of 19 bytes", func(tx *Tx) { tx.AccessList = []AccessTuple{{Address: make([]byte, 19)}} }, 1, "access_list[0].address"},
		{"access list key of 31 bytes", func(tx *Tx) {
			tx.AccessList = []AccessTuple{{Address: make([]byte, 20), StorageKeys: [][]byte{make([]byte, 32), make([]byte, 31)}}}
		}, 2, "access_list[0].storage_keys[1]"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tx := validTx(tt.typ)
			if err := tx.Validate(); err != nil {
				t.Fatalf("the unedited transaction: got %v, want nil", err)
			}
			tt.edit(&tx)
			for what, err := range map[string]error{
				"Validate":    tx.Validate(),
				"SigningHash": second(tx.SigningHash()),
				"Assemble":    second(tx.Assemble(Signature{})),
			} {
				if !errors.Is(err, ErrInvalidTx) || !strings.Contains(err.Error(), tt.msg) {
					t.Errorf("%s: got %v, want ErrInvalidTx containing %q", what, err, tt.msg)
				}
			}
		})
	}
	var nilTx *Tx
	if err := nilTx.Validate(); !errors.Is(err, ErrInvalidTx) {
		t.Errorf("nil transaction: got %v, want ErrInvalidTx", err)
	}
}

func second[T any](_ T, err error) error { return err }

func TestTxAssembleRejectsRecoveryIDOverOne(t *testing.T) {
	tx := validTx(DynamicFeeTxType)
	if _, err := tx.Assemble(Signature{V: 2}); !errors.Is(err, ErrInvalidSignature) {
		t.Fatalf("got %v, want ErrInvalidSignature", err)
	}
}

func TestTxSignErrorsDoNotContainTheKey(t *testing.T) {
	key := keyFromHex(t, strings.Repeat("46", 32))
	tx := validTx(LegacyTxType)
	tx.GasPrice = nil
	_, err := tx.Sign(key)
	if err == nil {
		t.Fatal("got nil, want an error")
	}
	for _, form := range []string{strings.Repeat("46", 32), strings.Repeat("46", 8), "FFFF"} {
		if strings.Contains(strings.ToUpper(err.Error()), strings.ToUpper(form)) {
			t.Fatalf("error %q contains key material", err)
		}
	}
	tx = validTx(LegacyTxType)
	if _, err := tx.Sign(nil); !errors.Is(err, ErrInvalidKey) {
		t.Errorf("nil key: got %v, want ErrInvalidKey", err)
	}
}

// CBOR is how the enclave receives a Tx: check the tags, and that a zero is
// an empty byte string while an absent field is nil.
func TestTxDecodesFromCBORWithSnakeCaseKeys(t *testing.T) {
	in := map[string]any{
		"type": 2, "chain_id": []byte{1}, "nonce": 7, "max_priority_fee_per_gas": []byte{},
		"max_fee_per_gas": []byte{0x3b, 0x9a, 0xca, 0x00}, "gas": 21000, "to": make([]byte, 20),
		"value": []byte{0x0d, 0xe0, 0xb6, 0xb3, 0xa7, 0x64, 0x00, 0x00}, "data": []byte{0xa9, 0x05, 0x9c, 0xbb, 1},
		"access_list": []any{map[string]any{"address": make([]byte, 20), "storage_keys": []any{make([]byte, 32)}}},
	}
	b, err := cbor.Marshal(in)
	if err != nil {
		t.Fatal(err)
	}
	var tx Tx
	if err := cbor.Unmarshal(b, &tx); err != nil {
		t.Fatalf("decode: %v", err)
	}
	if err := tx.Validate(); err != nil {
		t.Fatalf("got %v, want nil", err)
	}
	if tx.MaxPriorityFeePerGas == nil || !tx.MaxPriorityFeePerGas.IsZero() || tx.GasPrice != nil {
		t.Errorf("got max_priority_fee_per_gas %#v, gas_price %#v; want empty (zero) and nil (absent)", tx.MaxPriorityFeePerGas, tx.GasPrice)
	}
	if tx.ChainID.Big().Int64() != 1 || tx.Nonce != 7 || tx.Gas != 21000 || tx.Value.Big().String() != "1000000000000000000" || len(tx.AccessList[0].StorageKeys) != 1 {
		t.Errorf("got %+v, want the encoded fields", tx)
	}
	if sel, ok := tx.Selector(); !ok || sel != [4]byte{0xa9, 0x05, 0x9c, 0xbb} {
		t.Errorf("Selector: got %x, %v; want a9059cbb, true", sel, ok)
	}
	if to, ok := tx.Recipient(); !ok || to != (Address{}) {
		t.Errorf("Recipient: got %s, %v; want the zero address, true", to, ok)
	}
	delete(in, "chain_id")
	b, _ = cbor.Marshal(in)
	tx = Tx{}
	if err := cbor.Unmarshal(b, &tx); err != nil {
		t.Fatal(err)
	}
	if err := tx.Validate(); !errors.Is(err, ErrInvalidTx) {
		t.Errorf("without chain_id: got %v, want ErrInvalidTx", err)
	}
}

func TestTxPolicyViews(t *testing.T) {
	tx := validTx(LegacyTxType)
	tx.To, tx.Data = nil, []byte{1, 2, 3}
	if _, ok := tx.Recipient(); ok {
		t.Error("contract creation: Recipient got true, want false")
	}
	if _, ok := tx.Selector(); ok {
		t.Error("3 bytes of data: Selector got true, want false")
	}
}

func TestQuantityFromBig(t *testing.T) {
	max := new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 256), big.NewInt(1))
	tests := []struct {
		name string
		in   *big.Int
		want string // hex, or "error"
	}{
		{"zero", big.NewInt(0), ""},
		{"one", big.NewInt(1), "01"},
		{"256 bits", max, strings.Repeat("ff", 32)},
		{"257 bits", new(big.Int).Add(max, big.NewInt(1)), "error"},
		{"negative", big.NewInt(-1), "error"},
		{"nil", nil, "error"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			q, err := QuantityFromBig(tt.in)
			switch {
			case tt.want == "error":
				if !errors.Is(err, ErrInvalidTx) {
					t.Fatalf("got %x, %v; want ErrInvalidTx", []byte(q), err)
				}
			case err != nil || q == nil || hex.EncodeToString(q) != tt.want || q.Validate() != nil:
				t.Fatalf("got %#v, %v; want present %s", q, err, tt.want)
			}
		})
	}
}
