package eth

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// EIP-712 typed data (https://eips.ethereum.org/EIPS/eip-712), as
// eth_signTypedData_v4 sends it: a JSON object
//
//	{"types": {...}, "primaryType": "...", "domain": {...}, "message": {...}}
//
// The digest signed is keccak256("\x19\x01" ‖ domainSeparator ‖
// hashStruct(message)), where domainSeparator = hashStruct(domain) under the
// EIP712Domain type and
//
//	hashStruct(s) = keccak256(typeHash ‖ encodeData(s))
//	typeHash      = keccak256(encodeType(type))
//
// The input is untrusted, so it is read under the limits below and every rule
// that other wallets leave loose is made strict here (the list is on
// ParseTypedData).

// Limits on typed data. Each one is far above what real dApps send (a Permit2
// batch is a few KiB, nesting under 8); inputs over them get
// ErrTypedDataLimit.
const (
	// MaxTypedDataSize is the largest JSON document accepted, in bytes.
	MaxTypedDataSize = 64 << 10
	// MaxTypedDataDepth is the deepest nesting of JSON objects and arrays,
	// counting the outer object.
	MaxTypedDataDepth = 32
	// MaxTypedDataTypes is the most struct types in "types", EIP712Domain
	// included.
	MaxTypedDataTypes = 64
	// MaxTypedDataFields is the most fields in one struct type.
	MaxTypedDataFields = 64
	// MaxTypedDataArrayLen is the longest JSON array, and the largest fixed
	// array length T[k] a type may declare.
	MaxTypedDataArrayLen = 1024
	// MaxTypedDataNameLen is the longest type name, field name or field type
	// string, in bytes.
	MaxTypedDataNameLen = 256
	// MaxTypedDataEncoded caps the bytes of encodeData and array encodings
	// hashed for one document. The limits above bound the JSON, not the
	// work: an array of 1024 "{}" whose type has 64 absent struct fields
	// costs 3 bytes of JSON and 2,080 bytes of hashing per item, so a 64 KiB
	// document could otherwise cost ~45 MB of Keccak (~0.25 s). Honest
	// documents hash at most ~16× their size (an array of one-digit
	// integers), 1 MiB at 64 KiB; 4 MiB leaves room and caps the cost at a
	// few tens of milliseconds.
	MaxTypedDataEncoded = 4 << 20
)

// domainTypeName is the struct type of the domain separator.
const domainTypeName = "EIP712Domain"

// domainFieldTypes are the EIP712Domain fields the spec defines, with their
// types. A domain may use any subset, in any order; no other field is
// accepted, so Domain can always show a policy the whole domain.
var domainFieldTypes = map[string]string{
	"name":              "string",
	"version":           "string",
	"chainId":           "uint256",
	"verifyingContract": "address",
	"salt":              "bytes32",
}

// Domain is the EIP-712 domain of a typed-data request, the part a signing
// policy checks (which chain, which contract). A nil field is absent from the
// EIP712Domain type.
type Domain struct {
	Name              *string
	Version           *string
	ChainID           *big.Int
	VerifyingContract *Address
	Salt              *[32]byte
}

// TypedData is a parsed, validated and hashed eth_signTypedData_v4 request.
type TypedData struct {
	// PrimaryType is the struct type of the message.
	PrimaryType string
	// Domain is the domain, field by field.
	Domain Domain
	// DomainSeparator is hashStruct(domain).
	DomainSeparator [32]byte
	// MessageHash is hashStruct(message); zero when PrimaryType is
	// EIP712Domain (see ParseTypedData).
	MessageHash [32]byte
	// Digest is the hash to sign: keccak256("\x19\x01" ‖ DomainSeparator ‖
	// MessageHash).
	Digest [32]byte
}

// ParseTypedData parses eth_signTypedData_v4 JSON, checks it against its own
// types and returns its domain and hashes. It is strict where wallets differ,
// so that what a user is shown and what is signed cannot diverge:
//
//   - the document is valid UTF-8 JSON within the Max* limits, with no
//     duplicate keys and no keys besides types, primaryType, domain and
//     message;
//   - types holds EIP712Domain, whose fields are a subset of name, version,
//     chainId, verifyingContract and salt with their spec types;
//   - type and field names are identifiers ([A-Za-z_$][A-Za-z0-9_$]*), field
//     names are unique, and field types are canonical: uint8…uint256 and
//     int8…int256 in steps of 8, bytes1…bytes32, bool, address, string,
//     bytes, a defined struct, or any of these followed by [] or [k] with
//     1 ≤ k ≤ MaxTypedDataArrayLen (so "uint" and "int" are refused);
//   - a message or domain object has no field its type lacks, and every
//     atomic or dynamic field is present; fixed arrays have exactly k items;
//   - integers are JSON integers of magnitude at most 2⁵³-1 (larger ones
//     lose precision in the JavaScript that produced them), or strings:
//     decimal ("-" allowed) or "0x" hexadecimal; they must fit the type's
//     range (uintN: [0, 2ᴺ), intN: [-2ᴺ⁻¹, 2ᴺ⁻¹));
//   - bytes and bytesN are "0x" with an even number of hex digits, bytesN
//     exactly N bytes; bool is a JSON boolean; an address is "0x" and 40 hex
//     digits in any case (the EIP-55 checksum is not enforced here, as
//     MetaMask and go-ethereum do not enforce it and the bytes are
//     unambiguous).
//
// Two MetaMask v4 rules are followed because real requests depend on them:
// a struct-typed field that is absent or null encodes as 32 zero bytes
// (without it a recursive type such as Mail.replyTo could never end), and a
// request whose primaryType is EIP712Domain signs keccak256("\x19\x01" ‖
// domainSeparator) with no message hash; its message must then be empty.
//
// Known limit: encoding/json turns a lone UTF-16 surrogate escape ("\ud800")
// into U+FFFD, so such a string hashes as U+FFFD, where JavaScript would keep
// the surrogate.
func ParseTypedData(data []byte) (*TypedData, error) {
	td, _, err := parseTypedData(data)
	return td, err
}

// parseTypedData is ParseTypedData, also returning the schema for tests.
func parseTypedData(data []byte) (*TypedData, *schema, error) {
	if len(data) > MaxTypedDataSize {
		return nil, nil, limitTD("document over %d bytes", MaxTypedDataSize)
	}
	if !utf8.Valid(data) {
		return nil, nil, invalidTD("document is not valid UTF-8")
	}
	root, err := readJSON(data)
	if err != nil {
		return nil, nil, err
	}
	doc, ok := root.(map[string]any)
	if !ok {
		return nil, nil, invalidTD("document is not a JSON object")
	}
	if k, ok := unknownKey(doc, func(k string) bool {
		return k == "types" || k == "primaryType" || k == "domain" || k == "message"
	}); ok {
		return nil, nil, invalidTD("unknown top-level key %s", shortQuote(k))
	}
	sch, err := parseTypes(doc["types"])
	if err != nil {
		return nil, nil, at(err, "types")
	}
	primary, ok := doc["primaryType"].(string)
	if !ok {
		return nil, nil, invalidTD("primaryType: want a string")
	}
	if sch.structs[primary] == nil {
		return nil, nil, invalidTD("primaryType: %s is not a type in types", shortQuote(primary))
	}
	domainObj, ok := doc["domain"].(map[string]any)
	if !ok {
		return nil, nil, invalidTD("domain: want a JSON object")
	}

	td := &TypedData{PrimaryType: primary}
	if td.DomainSeparator, err = sch.hashStruct(domainTypeName, domainObj); err != nil {
		return nil, nil, at(err, "domain")
	}
	if td.Domain, err = sch.domain(domainObj); err != nil {
		return nil, nil, at(err, "domain")
	}
	if primary == domainTypeName {
		// MetaMask's eip712Hash leaves out the message hash here.
		if msg, present := doc["message"]; present {
			if m, ok := msg.(map[string]any); !ok || len(m) != 0 {
				return nil, nil, invalidTD("message: must be {} when primaryType is EIP712Domain")
			}
		}
		td.Digest = keccak256([]byte{0x19, 0x01}, td.DomainSeparator[:])
		return td, sch, nil
	}
	msg, ok := doc["message"].(map[string]any)
	if !ok {
		return nil, nil, invalidTD("message: want a JSON object")
	}
	if td.MessageHash, err = sch.hashStruct(primary, msg); err != nil {
		return nil, nil, at(err, "message")
	}
	td.Digest = keccak256([]byte{0x19, 0x01}, td.DomainSeparator[:], td.MessageHash[:])
	return td, sch, nil
}

// kind is the kind of an EIP-712 field type.
type kind uint8

const (
	kindUint       kind = iota // uintN, size = N bits
	kindInt                    // intN, size = N bits
	kindBool                   // bool
	kindAddress                // address
	kindFixedBytes             // bytesN, size = N bytes
	kindBytes                  // bytes
	kindString                 // string
	kindStruct                 // a struct, name = its type name
	kindArray                  // elem[size], size 0 = dynamic
)

type fieldType struct {
	kind kind
	size int
	name string
	elem *fieldType
}

type field struct {
	name    string
	typeStr string // as written, canonical: it goes into encodeType
	typ     *fieldType
}

type structType struct {
	fields   []field
	index    map[string]int
	typeHash *[32]byte // computed on first use
}

type schema struct {
	structs map[string]*structType
	encoded int // bytes encoded so far, against MaxTypedDataEncoded
}

// spend accounts for n more bytes of encoding to hash.
func (sch *schema) spend(n int) error {
	if sch.encoded += n; sch.encoded > MaxTypedDataEncoded {
		return limitTD("encoding over %d bytes", MaxTypedDataEncoded)
	}
	return nil
}

// parseTypes reads and checks the "types" object.
func parseTypes(v any) (*schema, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, invalidTD("want a JSON object")
	}
	if len(obj) > MaxTypedDataTypes {
		return nil, limitTD("more than %d types", MaxTypedDataTypes)
	}
	// Sorted, so that of several errors the same one is always reported.
	names := make([]string, 0, len(obj))
	for name := range obj {
		names = append(names, name)
	}
	slices.Sort(names)

	sch := &schema{structs: make(map[string]*structType, len(obj))}
	raw := make(map[string][]any, len(obj))
	for _, name := range names {
		if !isIdentifier(name) {
			return nil, invalidTD("type name %s is not an identifier", shortQuote(name))
		}
		if isReservedTypeName(name) {
			return nil, invalidTD("type name %s is an atomic type's name", shortQuote(name))
		}
		list, ok := obj[name].([]any)
		if !ok {
			return nil, at(invalidTD("want a JSON array of fields"), "."+name)
		}
		if len(list) > MaxTypedDataFields {
			return nil, at(limitTD("more than %d fields", MaxTypedDataFields), "."+name)
		}
		raw[name] = list
		sch.structs[name] = &structType{index: make(map[string]int, len(list))}
	}
	for _, name := range names {
		st := sch.structs[name]
		for i, item := range raw[name] {
			f, err := sch.parseField(item)
			if err != nil {
				return nil, at(at(err, "["+strconv.Itoa(i)+"]"), "."+name)
			}
			if _, dup := st.index[f.name]; dup {
				return nil, at(invalidTD("duplicate field name %s", shortQuote(f.name)), "."+name)
			}
			st.index[f.name] = len(st.fields)
			st.fields = append(st.fields, f)
		}
	}
	dom := sch.structs[domainTypeName]
	if dom == nil {
		return nil, invalidTD("EIP712Domain is missing")
	}
	for _, f := range dom.fields {
		want, ok := domainFieldTypes[f.name]
		if !ok {
			return nil, at(invalidTD("field %s is not an EIP712Domain field", shortQuote(f.name)), "."+domainTypeName)
		}
		if f.typeStr != want {
			return nil, at(invalidTD("field %s must have type %s", f.name, want), "."+domainTypeName)
		}
	}
	return sch, nil
}

// parseField reads one {"name": ..., "type": ...} entry.
func (sch *schema) parseField(v any) (field, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return field{}, invalidTD("want a {name, type} object")
	}
	name, ok1 := obj["name"].(string)
	typ, ok2 := obj["type"].(string)
	if !ok1 || !ok2 || len(obj) != 2 {
		return field{}, invalidTD("want exactly string keys name and type")
	}
	if !isIdentifier(name) {
		return field{}, invalidTD("field name %s is not an identifier", shortQuote(name))
	}
	if len(typ) > MaxTypedDataNameLen {
		return field{}, limitTD("type string over %d bytes", MaxTypedDataNameLen)
	}
	ft, err := sch.parseFieldType(typ)
	if err != nil {
		return field{}, err
	}
	return field{name: name, typeStr: typ, typ: ft}, nil
}

// parseFieldType parses a canonical EIP-712 type string; array suffixes are
// peeled from the right, so "T[2][]" is a dynamic array of T[2].
func (sch *schema) parseFieldType(s string) (*fieldType, error) {
	if strings.HasSuffix(s, "]") {
		i := strings.LastIndexByte(s, '[')
		if i <= 0 {
			return nil, invalidTD("malformed type %s", shortQuote(s))
		}
		n := 0
		if inner := s[i+1 : len(s)-1]; inner != "" {
			var ok bool
			if n, ok = canonicalInt(inner); !ok || n < 1 {
				return nil, invalidTD("malformed array length in type %s", shortQuote(s))
			}
			if n > MaxTypedDataArrayLen {
				return nil, limitTD("array length in type %s over %d", shortQuote(s), MaxTypedDataArrayLen)
			}
		}
		elem, err := sch.parseFieldType(s[:i])
		if err != nil {
			return nil, err
		}
		return &fieldType{kind: kindArray, size: n, elem: elem}, nil
	}
	switch s {
	case "bool":
		return &fieldType{kind: kindBool}, nil
	case "address":
		return &fieldType{kind: kindAddress}, nil
	case "string":
		return &fieldType{kind: kindString}, nil
	case "bytes":
		return &fieldType{kind: kindBytes}, nil
	}
	if t, ok := atomicSized(s); ok {
		return t, nil
	}
	if sch.structs[s] != nil {
		return &fieldType{kind: kindStruct, name: s}, nil
	}
	return nil, invalidTD("unknown type %s", shortQuote(s))
}

// atomicSized parses uintN, intN (N = 8…256, step 8) and bytesN (N = 1…32),
// with N written canonically.
func atomicSized(s string) (*fieldType, bool) {
	var k kind
	var rest string
	switch {
	case strings.HasPrefix(s, "uint"):
		k, rest = kindUint, s[4:]
	case strings.HasPrefix(s, "int"):
		k, rest = kindInt, s[3:]
	case strings.HasPrefix(s, "bytes"):
		k, rest = kindFixedBytes, s[5:]
	default:
		return nil, false
	}
	n, ok := canonicalInt(rest)
	if !ok {
		return nil, false
	}
	if k == kindFixedBytes {
		ok = n >= 1 && n <= 32
	} else {
		ok = n >= 8 && n <= 256 && n%8 == 0
	}
	return &fieldType{kind: k, size: n}, ok
}

// isReservedTypeName reports whether a struct name would shadow an atomic
// or dynamic type, or look like one ("uint", "bytes0", "int7").
func isReservedTypeName(s string) bool {
	switch s {
	case "bool", "address", "string", "bytes", "uint", "int":
		return true
	}
	for _, p := range []string{"uint", "int", "bytes"} {
		if rest, ok := strings.CutPrefix(s, p); ok && rest != "" && strings.Trim(rest, "0123456789") == "" {
			return true
		}
	}
	return false
}

// canonicalInt parses a decimal of at most 4 digits without leading zeros.
func canonicalInt(s string) (int, bool) {
	if s == "" || len(s) > 4 || (s[0] == '0' && len(s) > 1) {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

func isIdentifier(s string) bool {
	if s == "" || len(s) > MaxTypedDataNameLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', c == '_', c == '$':
		case '0' <= c && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// encodeType returns the EIP-712 encodeType of a struct: the type itself,
// then every struct type it references directly or indirectly (through
// fields or array elements, cycles included) sorted by name, each as
// Name(type1 name1,type2 name2,…).
func (sch *schema) encodeType(name string) string {
	seen := map[string]bool{name: true}
	var deps []string
	var walk func(string)
	walk = func(n string) {
		for _, f := range sch.structs[n].fields {
			t := f.typ
			for t.kind == kindArray {
				t = t.elem
			}
			if t.kind == kindStruct && !seen[t.name] {
				seen[t.name] = true
				deps = append(deps, t.name)
				walk(t.name)
			}
		}
	}
	walk(name)
	slices.Sort(deps)
	var b strings.Builder
	for _, n := range append([]string{name}, deps...) {
		b.WriteString(n)
		b.WriteByte('(')
		for i, f := range sch.structs[n].fields {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(f.typeStr)
			b.WriteByte(' ')
			b.WriteString(f.name)
		}
		b.WriteByte(')')
	}
	return b.String()
}

func (sch *schema) typeHash(name string) [32]byte {
	st := sch.structs[name]
	if st.typeHash == nil {
		h := keccak256([]byte(sch.encodeType(name)))
		st.typeHash = &h
	}
	return *st.typeHash
}

// hashStruct returns keccak256(encodeData(name, obj)).
func (sch *schema) hashStruct(name string, obj map[string]any) ([32]byte, error) {
	enc, err := sch.encodeData(name, obj)
	if err != nil {
		return [32]byte{}, err
	}
	return keccak256(enc), nil
}

// encodeData returns typeHash ‖ enc(field₁) ‖ … ‖ enc(fieldₙ), each enc 32
// bytes, fields in their declared order.
func (sch *schema) encodeData(name string, obj map[string]any) ([]byte, error) {
	st := sch.structs[name]
	if k, ok := unknownKey(obj, func(k string) bool { _, ok := st.index[k]; return ok }); ok {
		return nil, invalidTD("field %s is not in type %s", shortQuote(k), name)
	}
	if err := sch.spend(32 * (1 + len(st.fields))); err != nil {
		return nil, err
	}
	th := sch.typeHash(name)
	out := make([]byte, 32, 32*(1+len(st.fields)))
	copy(out, th[:])
	for _, f := range st.fields {
		v, present := obj[f.name]
		enc, err := sch.encodeValue(f.typ, v, present)
		if err != nil {
			return nil, at(err, "."+f.name)
		}
		out = append(out, enc[:]...)
	}
	return out, nil
}

// encodeValue returns the 32-byte EIP-712 encoding of one value.
func (sch *schema) encodeValue(t *fieldType, v any, present bool) (out [32]byte, err error) {
	switch t.kind {
	case kindStruct:
		if !present || v == nil {
			return out, nil // MetaMask v4: an absent struct is 32 zero bytes
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return out, invalidTD("want a JSON object for %s", t.name)
		}
		return sch.hashStruct(t.name, obj)
	case kindArray:
		items, ok := v.([]any)
		if !ok {
			return out, invalidTD("want a JSON array")
		}
		if t.size != 0 && len(items) != t.size {
			return out, invalidTD("want %d items, got %d", t.size, len(items))
		}
		if err := sch.spend(32 * len(items)); err != nil {
			return out, err
		}
		buf := make([]byte, 0, 32*len(items))
		for i, item := range items {
			enc, err := sch.encodeValue(t.elem, item, true)
			if err != nil {
				return out, at(err, "["+strconv.Itoa(i)+"]")
			}
			buf = append(buf, enc[:]...)
		}
		return keccak256(buf), nil
	}
	if !present {
		return out, invalidTD("missing value")
	}
	switch t.kind {
	case kindBool:
		b, ok := v.(bool)
		if !ok {
			return out, invalidTD("want true or false")
		}
		if b {
			out[31] = 1
		}
		return out, nil
	case kindAddress:
		s, ok := v.(string)
		if !ok {
			return out, invalidTD("want an address string")
		}
		a, err := parseAddressAnyCase(s)
		if err != nil {
			return out, invalidTD("want 0x and 40 hex digits")
		}
		copy(out[12:], a[:])
		return out, nil
	case kindString:
		s, ok := v.(string)
		if !ok {
			return out, invalidTD("want a string")
		}
		return keccak256([]byte(s)), nil
	case kindBytes:
		b, err := hexBytes(v)
		if err != nil {
			return out, err
		}
		return keccak256(b), nil
	case kindFixedBytes:
		b, err := hexBytes(v)
		if err != nil {
			return out, err
		}
		if len(b) != t.size {
			return out, invalidTD("want %d bytes, got %d", t.size, len(b))
		}
		copy(out[:], b) // left-aligned, zero-padded on the right
		return out, nil
	case kindUint, kindInt:
		x, err := parseInteger(v)
		if err != nil {
			return out, err
		}
		if !inRange(x, t.kind == kindInt, t.size) {
			name := "uint"
			if t.kind == kindInt {
				name = "int"
			}
			return out, invalidTD("value out of range for %s%d", name, t.size)
		}
		if x.Sign() < 0 {
			x.Add(x, two256) // two's complement in 256 bits
		}
		x.FillBytes(out[:])
		return out, nil
	}
	return out, invalidTD("unsupported type") // not reached: parseFieldType makes only the kinds above
}

var (
	two256    = new(big.Int).Lsh(big.NewInt(1), 256)
	maxSafeJS = big.NewInt(1<<53 - 1) // Number.MAX_SAFE_INTEGER
)

// parseInteger reads a JSON integer (|n| ≤ 2⁵³-1), a decimal string with an
// optional "-", or an unsigned "0x" hex string. Strings are capped at the
// digits a 256-bit value needs, so big.Int never parses more.
func parseInteger(v any) (*big.Int, error) {
	var digits string
	base := 10
	neg := false
	switch x := v.(type) {
	case json.Number:
		s := string(x)
		if strings.ContainsAny(s, ".eE") {
			return nil, invalidTD("want an integer, not a fraction or exponent")
		}
		n, ok := new(big.Int).SetString(s, 10)
		if !ok {
			return nil, invalidTD("malformed number")
		}
		if new(big.Int).Abs(n).Cmp(maxSafeJS) > 0 {
			return nil, invalidTD("JSON number beyond 2^53-1 is inexact in JavaScript; send a string")
		}
		return n, nil
	case string:
		switch {
		case strings.HasPrefix(x, "0x"):
			digits, base = x[2:], 16
		case strings.HasPrefix(x, "-"):
			digits, neg = x[1:], true
		default:
			digits = x
		}
	default:
		return nil, invalidTD("want an integer or an integer string")
	}
	maxLen := 78 // decimal digits of 2^256
	if base == 16 {
		maxLen = 64
	}
	if digits == "" || len(digits) > maxLen {
		return nil, invalidTD("integer string empty or too long")
	}
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		if !('0' <= c && c <= '9' || base == 16 && ('a' <= c && c <= 'f' || 'A' <= c && c <= 'F')) {
			return nil, invalidTD("malformed integer string")
		}
	}
	n, _ := new(big.Int).SetString(digits, base) // digits checked above
	if neg {
		n.Neg(n)
	}
	return n, nil
}

// inRange reports whether x fits uintN ([0, 2ᴺ)) or intN ([-2ᴺ⁻¹, 2ᴺ⁻¹)).
func inRange(x *big.Int, signed bool, bits int) bool {
	if !signed {
		return x.Sign() >= 0 && x.BitLen() <= bits
	}
	if x.Sign() >= 0 {
		return x.BitLen() <= bits-1
	}
	// x ≥ -2ᴺ⁻¹  ⇔  -x-1 < 2ᴺ⁻¹  ⇔  BitLen(-x-1) ≤ N-1
	m := new(big.Int).Neg(x)
	m.Sub(m, big.NewInt(1))
	return m.BitLen() <= bits-1
}

// hexBytes decodes "0x" followed by an even number of hex digits.
func hexBytes(v any) ([]byte, error) {
	s, ok := v.(string)
	if !ok || !strings.HasPrefix(s, "0x") {
		return nil, invalidTD("want a 0x hex string")
	}
	b, err := hex.DecodeString(s[2:])
	if err != nil {
		return nil, invalidTD("want an even number of hex digits after 0x")
	}
	return b, nil
}

// domain extracts the domain fields, which hashStruct has already checked.
func (sch *schema) domain(obj map[string]any) (Domain, error) {
	var d Domain
	for _, f := range sch.structs[domainTypeName].fields {
		v := obj[f.name]
		switch f.name {
		case "name":
			s := v.(string)
			d.Name = &s
		case "version":
			s := v.(string)
			d.Version = &s
		case "chainId":
			n, err := parseInteger(v)
			if err != nil {
				return Domain{}, at(err, ".chainId")
			}
			d.ChainID = n
		case "verifyingContract":
			a, err := parseAddressAnyCase(v.(string))
			if err != nil {
				return Domain{}, at(err, ".verifyingContract")
			}
			d.VerifyingContract = &a
		case "salt":
			b, err := hexBytes(v)
			if err != nil {
				return Domain{}, at(err, ".salt")
			}
			var salt [32]byte
			copy(salt[:], b)
			d.Salt = &salt
		}
	}
	return d, nil
}

// unknownKey returns the smallest key of obj that known rejects, if any
// (the smallest, so the error is the same on every run).
func unknownKey(obj map[string]any, known func(string) bool) (string, bool) {
	var bad string
	found := false
	for k := range obj {
		if !known(k) && (!found || k < bad) {
			bad, found = k, true
		}
	}
	return bad, found
}

// tdError is a typed-data error with the place in the document where it
// was found, e.g. "message.to[1].wallet". It unwraps to ErrInvalidTypedData
// or ErrTypedDataLimit.
type tdError struct {
	kind   error
	detail string
	path   []string // innermost segment first
}

func (e *tdError) Error() string {
	var b strings.Builder
	b.WriteString(e.kind.Error())
	b.WriteString(": ")
	for i := len(e.path) - 1; i >= 0; i-- {
		b.WriteString(e.path[i])
	}
	if len(e.path) > 0 {
		b.WriteString(": ")
	}
	b.WriteString(e.detail)
	return b.String()
}

func (e *tdError) Unwrap() error { return e.kind }

func invalidTD(format string, args ...any) error {
	return &tdError{kind: ErrInvalidTypedData, detail: fmt.Sprintf(format, args...)}
}

func limitTD(format string, args ...any) error {
	return &tdError{kind: ErrTypedDataLimit, detail: fmt.Sprintf(format, args...)}
}

// at prefixes a path segment to a tdError on its way out.
func at(err error, seg string) error {
	if e, ok := err.(*tdError); ok {
		e.path = append(e.path, seg)
	}
	return err
}

// shortQuote quotes an input string for an error, cut to 40 bytes.
func shortQuote(s string) string {
	if len(s) > 40 {
		s = s[:40] + "…"
	}
	return strconv.Quote(s)
}
