package attest

import (
	"crypto/x509"
	"fmt"
	"math"
	"time"

	"github.com/fxamacker/cbor/v2"
)

// Limits on an attestation document. They come from the NSM API's attestation document
// specification (docs/attestation_process.md §2.2 and §3.2.2) unless noted.
const (
	// MaxDocumentSize bounds the whole COSE_Sign1 document. The spec bounds the payload at
	// 16384 bytes; real documents are under 5 KiB and the NSM's response buffer is 12 KiB, so
	// bounding the whole document (framing and signature included) at 16 KiB loses nothing.
	MaxDocumentSize = 16 << 10
	// MaxCABundle bounds the cabundle array. The spec only says "non-empty"; real documents
	// carry 4 (root, regional, zonal, instance). 8 leaves room and stops a chain-building
	// amplification.
	MaxCABundle = 8
	// MaxPCRs is the number of PCR indices the NSM has (0..31).
	MaxPCRs = 32
	// MaxCertificateSize bounds certificate and each cabundle entry (DER).
	MaxCertificateSize = 1024
	// MaxPublicKeySize, MaxUserDataSize and MaxNonceSize bound the optional fields. The spec's
	// CDDL says 1024 for all three while its prose says 512 for user_data and nonce; we accept
	// the larger bound so no document the NSM can emit is refused.
	MaxPublicKeySize = 1024
	MaxUserDataSize  = 1024
	MaxNonceSize     = 1024

	// maxNesting: the deepest legitimate item is a PCR value or cabundle entry inside the
	// payload map (depth 2), or an unprotected header value inside the COSE array (depth 2).
	// 4 is the smallest limit fxamacker/cbor accepts.
	maxNesting = 4
	// maxItems: fxamacker/cbor's smallest array limit is 16; it covers the COSE array (4) and
	// cabundle (MaxCABundle), checked exactly below.
	maxItems = 16
	// maxPairs: the pcrs map is the largest map (MaxPCRs); the payload map has 9 keys.
	maxPairs = MaxPCRs

	// digestSHA384 is the only digest the spec allows.
	digestSHA384 = "SHA384"
	// cborTagSign1 is the one-byte encoding of CBOR tag 18 (COSE_Sign1_Tagged).
	cborTagSign1 = 0xd2
	// coseOverhead bounds the COSE framing around the payload: protected header (5 bytes),
	// unprotected header (1), array and bstr heads (7) and an ES384 signature (98).
	coseOverhead = 128
)

// Document is the payload of an attestation document. Parse and Verify return it;
// MarshalPayload encodes it.
type Document struct {
	ModuleID    string            // issuing NSM module, e.g. "i-0123…-enc0123…"
	Digest      string            // PCR digest algorithm, always "SHA384"
	Timestamp   time.Time         // when the NSM made the document (millisecond precision, UTC)
	PCRs        map[int][]byte    // locked PCRs by index (0..31), 32, 48 or 64 bytes each
	Certificate *x509.Certificate // leaf that signed the document
	CABundle    []*x509.Certificate
	PublicKey   []byte // nil when absent
	UserData    []byte // nil when absent
	Nonce       []byte // nil when absent
}

// Why our own decode mode and not go-cose's: go-cose decodes with library-default limits
// (nesting 32, 131072 array elements and map pairs). The attestation document reaches
// clients from an untrusted runner, so every limit is named here and set to what the format
// needs. Duplicate map keys are refused (a document must not say two things), as are
// indefinite lengths and tags (the format uses neither, except the optional outer tag 18,
// handled by hand).
var decMode = mustDecMode(cbor.DecOptions{
	DupMapKey:        cbor.DupMapKeyEnforcedAPF,
	IndefLength:      cbor.IndefLengthForbidden,
	TagsMd:           cbor.TagsForbidden,
	MaxNestedLevels:  maxNesting,
	MaxArrayElements: maxItems,
	MaxMapPairs:      maxPairs,
	UTF8:             cbor.UTF8RejectInvalid,
})

// encMode keeps struct fields in declaration order, which is the order the NSM emits;
// pcrsEncMode sorts the PCR map so encoding is deterministic.
var (
	encMode     = mustEncMode(cbor.EncOptions{})
	pcrsEncMode = mustEncMode(cbor.EncOptions{Sort: cbor.SortCanonical})
)

func mustDecMode(o cbor.DecOptions) cbor.DecMode {
	m, err := o.DecMode()
	if err != nil {
		panic(err)
	}
	return m
}

func mustEncMode(o cbor.EncOptions) cbor.EncMode {
	m, err := o.EncMode()
	if err != nil {
		panic(err)
	}
	return m
}

// coseSign1 is the untagged COSE_Sign1 array. Each element is kept raw and its CBOR major
// type checked by hand: fxamacker/cbor would otherwise decode an array of small integers into
// a []byte.
type coseSign1 struct {
	_           struct{} `cbor:",toarray"`
	Protected   cbor.RawMessage
	Unprotected cbor.RawMessage
	Payload     cbor.RawMessage
	Signature   cbor.RawMessage
}

// payloadWire is the payload as the NSM encodes it: a map with text keys, in this order,
// absent optional fields encoded as null.
type payloadWire struct {
	ModuleID    string          `cbor:"module_id"`
	Digest      string          `cbor:"digest"`
	Timestamp   uint64          `cbor:"timestamp"`
	PCRs        cbor.RawMessage `cbor:"pcrs"`
	Certificate []byte          `cbor:"certificate"`
	CABundle    [][]byte        `cbor:"cabundle"`
	PublicKey   []byte          `cbor:"public_key"`
	UserData    []byte          `cbor:"user_data"`
	Nonce       []byte          `cbor:"nonce"`
}

// message is a decoded COSE_Sign1 attestation document.
type message struct {
	rawProtected   cbor.RawMessage // the protected bstr exactly as received (signed over)
	rawUnprotected cbor.RawMessage
	alg            int64
	payload        []byte
	signature      []byte
	doc            *Document
}

// Parse decodes an attestation document WITHOUT verifying anything: not the signature, not
// the certificates, not the time. Use it only to display a document; use [Verify] to trust
// one. Decoding is as strict as Verify's. Every error wraps [ErrMalformed].
func Parse(doc []byte) (*Document, error) {
	m, err := decode(doc)
	if err != nil {
		return nil, err
	}
	return m.doc, nil
}

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

func decode(doc []byte) (*message, error) {
	if len(doc) == 0 {
		return nil, malformed("empty")
	}
	if len(doc) > MaxDocumentSize {
		return nil, malformed("%d bytes, limit %d", len(doc), MaxDocumentSize)
	}
	// Accept COSE_Sign1_Tagged too (the NSM emits untagged): strip the one-byte tag 18.
	if doc[0] == cborTagSign1 {
		doc = doc[1:]
	}
	var w coseSign1
	if err := decMode.Unmarshal(doc, &w); err != nil {
		return nil, malformed("COSE_Sign1: %v", err)
	}

	protected, err := bytesValue(w.Protected)
	if err != nil {
		return nil, malformed("protected header: %v", err)
	}
	// The protected header must be exactly {1: alg}: an integer label and an integer value.
	// Any other parameter (crit, kid, …) is refused rather than ignored.
	var hdr map[int64]int64
	if majorType(protected) != cborMap || decMode.Unmarshal(protected, &hdr) != nil {
		return nil, malformed("protected header is not a map of integers")
	}
	alg, ok := hdr[1]
	if !ok || len(hdr) != 1 {
		return nil, malformed("protected header must hold only alg")
	}
	// The unprotected header is not signed and nothing in it is used; it must be a map.
	if majorType(w.Unprotected) != cborMap {
		return nil, malformed("unprotected header is not a map")
	}
	payload, err := bytesValue(w.Payload)
	if err != nil || len(payload) == 0 {
		return nil, malformed("payload is not a non-empty byte string")
	}
	sig, err := bytesValue(w.Signature)
	if err != nil || len(sig) == 0 {
		return nil, malformed("signature is not a non-empty byte string")
	}
	d, err := parsePayload(payload)
	if err != nil {
		return nil, err
	}
	return &message{
		rawProtected:   w.Protected,
		rawUnprotected: w.Unprotected,
		alg:            alg,
		payload:        payload,
		signature:      sig,
		doc:            d,
	}, nil
}

// CBOR major types (RFC 8949 §3.1).
const (
	cborUint  = 0
	cborBytes = 2
	cborText  = 3
	cborArray = 4
	cborMap   = 5
)

func majorType(raw []byte) int {
	if len(raw) == 0 {
		return -1
	}
	return int(raw[0] >> 5)
}

func isNull(raw []byte) bool { return len(raw) == 1 && raw[0] == 0xf6 }

// bytesValue decodes a CBOR byte string. The result is never nil (an empty string gives an
// empty, non-nil slice), so "present but empty" stays distinct from "absent".
func bytesValue(raw []byte) ([]byte, error) {
	if majorType(raw) != cborBytes {
		return nil, fmt.Errorf("not a byte string")
	}
	var b []byte
	if err := decMode.Unmarshal(raw, &b); err != nil {
		return nil, err
	}
	if b == nil {
		b = []byte{}
	}
	return b, nil
}

// field names of the payload map, and whether each is required.
var payloadFields = map[string]bool{
	"module_id":   true,
	"digest":      true,
	"timestamp":   true,
	"pcrs":        true,
	"certificate": true,
	"cabundle":    true,
	"public_key":  false,
	"user_data":   false,
	"nonce":       false,
}

func parsePayload(p []byte) (*Document, error) {
	// Check the type first: CBOR null decodes into a nil map without error.
	if majorType(p) != cborMap {
		return nil, malformed("payload is not a map")
	}
	var f map[string]cbor.RawMessage
	if err := decMode.Unmarshal(p, &f); err != nil {
		return nil, malformed("payload: %v", err)
	}
	for k := range f {
		if _, ok := payloadFields[k]; !ok {
			return nil, malformed("payload: unknown field %q", k)
		}
	}
	for k, required := range payloadFields {
		// "No field content can be null" (§3.2.2.1) for the mandatory fields; the NSM
		// encodes absent optional fields as null, so null is accepted there.
		if raw, ok := f[k]; required && (!ok || isNull(raw)) {
			return nil, malformed("payload: missing %s", k)
		}
	}

	d := new(Document)
	var err error
	if majorType(f["module_id"]) != cborText {
		return nil, malformed("module_id is not text")
	}
	if err = decMode.Unmarshal(f["module_id"], &d.ModuleID); err != nil {
		return nil, malformed("module_id: %v", err)
	}
	if majorType(f["digest"]) != cborText {
		return nil, malformed("digest is not text")
	}
	if err = decMode.Unmarshal(f["digest"], &d.Digest); err != nil {
		return nil, malformed("digest: %v", err)
	}
	if majorType(f["timestamp"]) != cborUint {
		return nil, malformed("timestamp is not an unsigned integer")
	}
	var ms uint64
	if err = decMode.Unmarshal(f["timestamp"], &ms); err != nil || ms > math.MaxInt64 {
		return nil, malformed("timestamp out of range")
	}
	d.Timestamp = time.UnixMilli(int64(ms)).UTC()

	if d.PCRs, err = parsePCRs(f["pcrs"]); err != nil {
		return nil, err
	}

	certDER, err := bytesValue(f["certificate"])
	if err != nil {
		return nil, malformed("certificate: %v", err)
	}
	if d.Certificate, err = parseCert(certDER); err != nil {
		return nil, malformed("certificate: %v", err)
	}
	if d.CABundle, err = parseCABundle(f["cabundle"]); err != nil {
		return nil, err
	}

	if d.PublicKey, err = optionalBytes(f, "public_key"); err != nil {
		return nil, err
	}
	if d.UserData, err = optionalBytes(f, "user_data"); err != nil {
		return nil, err
	}
	if d.Nonce, err = optionalBytes(f, "nonce"); err != nil {
		return nil, err
	}
	if err := validate(d); err != nil {
		return nil, err
	}
	return d, nil
}

func parsePCRs(raw cbor.RawMessage) (map[int][]byte, error) {
	if majorType(raw) != cborMap {
		return nil, malformed("pcrs is not a map")
	}
	// Keys must be unsigned integers: decoding into uint64 refuses text, negative and float
	// keys, and the decode mode refuses duplicates.
	var m map[uint64]cbor.RawMessage
	if err := decMode.Unmarshal(raw, &m); err != nil {
		return nil, malformed("pcrs: %v", err)
	}
	pcrs := make(map[int][]byte, len(m))
	for i, v := range m {
		// Check before converting: on a 32-bit platform int(1<<32) would alias PCR0.
		if i >= MaxPCRs {
			return nil, malformed("PCR index %d out of range", i)
		}
		b, err := bytesValue(v)
		if err != nil {
			return nil, malformed("PCR%d: %v", i, err)
		}
		pcrs[int(i)] = b
	}
	return pcrs, nil
}

func parseCABundle(raw cbor.RawMessage) ([]*x509.Certificate, error) {
	if majorType(raw) != cborArray {
		return nil, malformed("cabundle is not an array")
	}
	var entries []cbor.RawMessage
	if err := decMode.Unmarshal(raw, &entries); err != nil {
		return nil, malformed("cabundle: %v", err)
	}
	if len(entries) == 0 || len(entries) > MaxCABundle {
		return nil, malformed("cabundle has %d entries, want 1..%d", len(entries), MaxCABundle)
	}
	certs := make([]*x509.Certificate, len(entries))
	for i, e := range entries {
		der, err := bytesValue(e)
		if err != nil {
			return nil, malformed("cabundle[%d]: %v", i, err)
		}
		if certs[i], err = parseCert(der); err != nil {
			return nil, malformed("cabundle[%d]: %v", i, err)
		}
	}
	return certs, nil
}

func parseCert(der []byte) (*x509.Certificate, error) {
	if len(der) == 0 || len(der) > MaxCertificateSize {
		return nil, fmt.Errorf("%d bytes, want 1..%d", len(der), MaxCertificateSize)
	}
	return x509.ParseCertificate(der)
}

// optionalBytes returns nil for an absent or null field.
func optionalBytes(f map[string]cbor.RawMessage, name string) ([]byte, error) {
	raw, ok := f[name]
	if !ok || isNull(raw) {
		return nil, nil
	}
	b, err := bytesValue(raw)
	if err != nil {
		return nil, malformed("%s: %v", name, err)
	}
	return b, nil
}

// validate checks the content rules of §3.2.2.2 on a Document, whether it was just decoded
// or is about to be encoded.
func validate(d *Document) error {
	if d == nil {
		return malformed("nil document")
	}
	if d.ModuleID == "" {
		return malformed("empty module_id")
	}
	if d.Digest != digestSHA384 {
		return malformed("digest %q, want %q", d.Digest, digestSHA384)
	}
	if d.Timestamp.UnixMilli() <= 0 {
		return malformed("timestamp not after the epoch")
	}
	if len(d.PCRs) == 0 || len(d.PCRs) > MaxPCRs {
		return malformed("%d PCRs, want 1..%d", len(d.PCRs), MaxPCRs)
	}
	for i, v := range d.PCRs {
		if i < 0 || i >= MaxPCRs {
			return malformed("PCR index %d out of range", i)
		}
		if n := len(v); n != 32 && n != 48 && n != 64 {
			return malformed("PCR%d is %d bytes, want 32, 48 or 64", i, n)
		}
	}
	if d.Certificate == nil || len(d.Certificate.Raw) == 0 || len(d.Certificate.Raw) > MaxCertificateSize {
		return malformed("certificate missing or too large")
	}
	if len(d.CABundle) == 0 || len(d.CABundle) > MaxCABundle {
		return malformed("cabundle has %d entries, want 1..%d", len(d.CABundle), MaxCABundle)
	}
	for i, c := range d.CABundle {
		if c == nil || len(c.Raw) == 0 || len(c.Raw) > MaxCertificateSize {
			return malformed("cabundle[%d] missing or too large", i)
		}
	}
	if d.PublicKey != nil && (len(d.PublicKey) == 0 || len(d.PublicKey) > MaxPublicKeySize) {
		return malformed("public_key is %d bytes, want 1..%d", len(d.PublicKey), MaxPublicKeySize)
	}
	if len(d.UserData) > MaxUserDataSize {
		return malformed("user_data is %d bytes, limit %d", len(d.UserData), MaxUserDataSize)
	}
	if len(d.Nonce) > MaxNonceSize {
		return malformed("nonce is %d bytes, limit %d", len(d.Nonce), MaxNonceSize)
	}
	return nil
}

// MarshalPayload encodes d as an attestation document payload in the NSM's shape: a map
// with text keys in the NSM's order, PCRs sorted by index, absent optional fields as null,
// the timestamp in milliseconds. It does not sign; devattest wraps the result in COSE_Sign1.
// It fails if d would not pass Parse, or could not fit in a MaxDocumentSize document.
func (d *Document) MarshalPayload() ([]byte, error) {
	if err := validate(d); err != nil {
		return nil, err
	}
	pcrs := make(map[uint64][]byte, len(d.PCRs))
	for i, v := range d.PCRs {
		pcrs[uint64(i)] = v
	}
	rawPCRs, err := pcrsEncMode.Marshal(pcrs)
	if err != nil {
		return nil, err
	}
	bundle := make([][]byte, len(d.CABundle))
	for i, c := range d.CABundle {
		bundle[i] = c.Raw
	}
	p, err := encMode.Marshal(payloadWire{
		ModuleID:    d.ModuleID,
		Digest:      d.Digest,
		Timestamp:   uint64(d.Timestamp.UnixMilli()),
		PCRs:        rawPCRs,
		Certificate: d.Certificate.Raw,
		CABundle:    bundle,
		PublicKey:   d.PublicKey,
		UserData:    d.UserData,
		Nonce:       d.Nonce,
	})
	if err != nil {
		return nil, err
	}
	if len(p)+coseOverhead > MaxDocumentSize {
		return nil, malformed("payload is %d bytes, too large for a document", len(p))
	}
	return p, nil
}
