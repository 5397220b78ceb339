package attest_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/attest"
)

func checkDocumentMatchesVector(t *testing.T, d *attest.Document, vd vectorDoc) {
	t.Helper()
	if d.ModuleID != vd.ModuleID {
		t.Errorf("ModuleID: got %q, want %q", d.ModuleID, vd.ModuleID)
	}
	if d.Digest != vd.Digest {
		t.Errorf("Digest: got %q, want %q", d.Digest, vd.Digest)
	}
	if !d.Timestamp.Equal(vd.timestamp()) || d.Timestamp.Location() != time.UTC {
		t.Errorf("Timestamp: got %v, want %v", d.Timestamp, vd.timestamp())
	}
	want := vd.pcrs(t)
	if len(d.PCRs) != len(want) {
		t.Errorf("PCRs: got %d, want %d", len(d.PCRs), len(want))
	}
	for i, w := range want {
		if !bytes.Equal(d.PCRs[i], w) {
			t.Errorf("PCR%d: got %x, want %x", i, d.PCRs[i], w)
		}
	}
	for _, f := range []struct {
		name      string
		got, want []byte
	}{
		{"PublicKey", d.PublicKey, optHex(t, vd.PublicKeyHex)},
		{"UserData", d.UserData, optHex(t, vd.UserDataHex)},
		{"Nonce", d.Nonce, optHex(t, vd.NonceHex)},
	} {
		if !bytes.Equal(f.got, f.want) || (f.got == nil) != (f.want == nil) {
			t.Errorf("%s: got %x (nil %v), want %x (nil %v)", f.name, f.got, f.got == nil, f.want, f.want == nil)
		}
	}
	if !d.Certificate.NotBefore.Equal(vd.LeafNotBefore) || !d.Certificate.NotAfter.Equal(vd.LeafNotAfter) {
		t.Errorf("leaf validity: got %v..%v, want %v..%v", d.Certificate.NotBefore, d.Certificate.NotAfter, vd.LeafNotBefore, vd.LeafNotAfter)
	}
	if len(d.CABundle) != vd.CABundleLen {
		t.Errorf("CABundle: got %d certificates, want %d", len(d.CABundle), vd.CABundleLen)
	}
}

func TestParseReadsRealDocumentsWithoutVerifying(t *testing.T) {
	for _, vd := range loadVectors(t).Documents {
		t.Run(vd.Name, func(t *testing.T) {
			d, err := attest.Parse(vd.raw(t)) // every leaf has long expired: Parse does not care
			if err != nil {
				t.Fatalf("got %v, want nil", err)
			}
			checkDocumentMatchesVector(t, d, vd)
		})
	}
}

func TestParseReadsTheOptionalFieldsListedInTheVectors(t *testing.T) {
	v := loadVectors(t)
	tests := []struct {
		doc                          string
		publicKey, userData, nonce   string // "" = absent
		userDataLen, nonceLen, pkLen int
	}{
		{doc: gaDebug, userDataLen: 91, nonceLen: 256},
		{doc: betaNonDebug, nonceLen: 256},
		{doc: betaDebug, publicKey: "my super secret key", userData: "hello, world!", userDataLen: 13, pkLen: 19},
		{doc: betaNonDebugV2, userDataLen: 120, nonceLen: 256},
	}
	for _, tt := range tests {
		t.Run(tt.doc, func(t *testing.T) {
			d, err := attest.Parse(v.doc(t, tt.doc).raw(t))
			if err != nil {
				t.Fatal(err)
			}
			if len(d.PublicKey) != tt.pkLen || len(d.UserData) != tt.userDataLen || len(d.Nonce) != tt.nonceLen {
				t.Errorf("lengths (public_key, user_data, nonce): got (%d, %d, %d), want (%d, %d, %d)",
					len(d.PublicKey), len(d.UserData), len(d.Nonce), tt.pkLen, tt.userDataLen, tt.nonceLen)
			}
			if tt.publicKey != "" && string(d.PublicKey) != tt.publicKey {
				t.Errorf("public_key: got %q, want %q", d.PublicKey, tt.publicKey)
			}
			if tt.userData != "" && string(d.UserData) != tt.userData {
				t.Errorf("user_data: got %q, want %q", d.UserData, tt.userData)
			}
		})
	}
}

// The NSM's own encoding of each real payload is the second implementation MarshalPayload is
// held to: re-encoding a parsed document must give the very bytes the NSM signed.
func TestMarshalPayloadReproducesTheNSMEncoding(t *testing.T) {
	for _, vd := range loadVectors(t).Documents {
		t.Run(vd.Name, func(t *testing.T) {
			raw := vd.raw(t)
			d, err := attest.Parse(raw)
			if err != nil {
				t.Fatal(err)
			}
			var nsmPayload []byte
			if err := cbor.Unmarshal(splitCOSE(t, raw)[2], &nsmPayload); err != nil {
				t.Fatal(err)
			}
			got, err := d.MarshalPayload()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, nsmPayload) {
				t.Errorf("got %d bytes differing from the NSM's %d bytes", len(got), len(nsmPayload))
			}
		})
	}
}

func TestMarshalPayloadRefusesDocumentsParseWouldRefuse(t *testing.T) {
	base, err := attest.Parse(loadVectors(t).doc(t, betaDebug).raw(t))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		mutate func(d *attest.Document)
	}{
		{"empty module_id", func(d *attest.Document) { d.ModuleID = "" }},
		{"digest SHA256", func(d *attest.Document) { d.Digest = "SHA256" }},
		{"zero timestamp", func(d *attest.Document) { d.Timestamp = time.UnixMilli(0) }},
		{"no PCRs", func(d *attest.Document) { d.PCRs = nil }},
		{"PCR of 47 bytes", func(d *attest.Document) { d.PCRs = map[int][]byte{0: make([]byte, 47)} }},
		{"PCR index 32", func(d *attest.Document) { d.PCRs = map[int][]byte{32: make([]byte, 48)} }},
		{"PCR index -1", func(d *attest.Document) { d.PCRs = map[int][]byte{-1: make([]byte, 48)} }},
		{"no certificate", func(d *attest.Document) { d.Certificate = nil }},
		{"empty cabundle", func(d *attest.Document) { d.CABundle = nil }},
		{"nine-entry cabundle", func(d *attest.Document) { d.CABundle = slices.Repeat(d.CABundle[:1], 9) }},
		{"empty public key", func(d *attest.Document) { d.PublicKey = []byte{} }},
		{"1025-byte user data", func(d *attest.Document) { d.UserData = make([]byte, 1025) }},
		{"1025-byte nonce", func(d *attest.Document) { d.Nonce = make([]byte, 1025) }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := *base
			tt.mutate(&d)
			if _, err := d.MarshalPayload(); !errors.Is(err, attest.ErrMalformed) {
				t.Errorf("got %v, want ErrMalformed", err)
			}
		})
	}
}

// payloadEdit rewrites the payload map of a real document; the COSE wrapper and signature are
// kept, so only decoding is exercised.
type payloadEdit func(m map[string]cbor.RawMessage)

func mustCBOR(tb testing.TB, v any) cbor.RawMessage {
	tb.Helper()
	b, err := cbor.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// protectedHeader encodes h as a COSE protected header: a byte string holding its encoding.
func protectedHeader(tb testing.TB, h any) cbor.RawMessage {
	tb.Helper()
	return mustCBOR(tb, []byte(mustCBOR(tb, h)))
}

func TestParseRejectsMalformedDocuments(t *testing.T) {
	raw := loadVectors(t).doc(t, gaDebug).raw(t)
	parts := splitCOSE(t, raw)
	var payload []byte
	if err := cbor.Unmarshal(parts[2], &payload); err != nil {
		t.Fatal(err)
	}
	var fields map[string]cbor.RawMessage
	if err := cbor.Unmarshal(payload, &fields); err != nil {
		t.Fatal(err)
	}
	d, err := attest.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	root := d.CABundle[0].Raw
	pcr := make([]byte, 48)

	withPayloadBytes := func(p []byte) []byte {
		return joinCOSE(t, parts[0], parts[1], mustCBOR(t, p), parts[3])
	}
	withPayload := func(edit payloadEdit) []byte {
		m := make(map[string]cbor.RawMessage, len(fields))
		for k, v := range fields {
			m[k] = v
		}
		edit(m)
		return withPayloadBytes(mustCBOR(t, m))
	}
	set := func(k string, v any) payloadEdit {
		return func(m map[string]cbor.RawMessage) { m[k] = mustCBOR(t, v) }
	}
	del := func(k string) payloadEdit { return func(m map[string]cbor.RawMessage) { delete(m, k) } }
	pcrs := func(n int) map[uint64][]byte {
		m := make(map[uint64][]byte, n)
		for i := range n {
			m[uint64(i)] = pcr
		}
		return m
	}
	// A duplicate key: the payload map header says one more pair, and "digest" comes twice.
	dupPayload := append([]byte{payload[0] + 1}, payload[1:]...)
	dupPayload = append(dupPayload, mustCBOR(t, "digest")...)
	dupPayload = append(dupPayload, mustCBOR(t, "SHA384")...)
	// An extra pair with an integer key (1: 1), which a Go map[string] cannot express.
	intKey := append([]byte{payload[0] + 1}, payload[1:]...)
	intKey = append(intKey, 0x01, 0x01)
	// The same payload map, with indefinite length.
	indefPayload := append([]byte{0xbf}, payload[1:]...)
	indefPayload = append(indefPayload, 0xff)

	tests := []struct {
		name string
		doc  []byte
		ok   bool
	}{
		{"control: payload re-encoded unchanged", withPayload(func(map[string]cbor.RawMessage) {}), true},
		{"control: optional fields absent rather than null", withPayload(func(m map[string]cbor.RawMessage) {
			delete(m, "public_key")
			delete(m, "user_data")
			delete(m, "nonce")
		}), true},
		{"control: empty user_data and nonce", withPayload(func(m map[string]cbor.RawMessage) {
			m["user_data"], m["nonce"] = mustCBOR(t, []byte{}), mustCBOR(t, []byte{})
		}), true},
		{"control: tagged", append([]byte{0xd2}, raw...), true},
		{"control: protected header rebuilt", joinCOSE(t, protectedHeader(t, map[int]int{1: -35}), parts[1], parts[2], parts[3]), true},
		{"control: protected header with another alg (refused by Verify, not Parse)", joinCOSE(t, protectedHeader(t, map[int]int{1: -7}), parts[1], parts[2], parts[3]), true},

		{"module_id missing", withPayload(del("module_id")), false},
		{"module_id null", withPayload(set("module_id", nil)), false},
		{"module_id empty", withPayload(set("module_id", "")), false},
		{"module_id as bytes", withPayload(set("module_id", []byte("i-0"))), false},
		{"module_id invalid UTF-8", withPayload(func(m map[string]cbor.RawMessage) { m["module_id"] = []byte{0x62, 0xff, 0xfe} }), false},
		{"digest missing", withPayload(del("digest")), false},
		{"digest SHA256", withPayload(set("digest", "SHA256")), false},
		{"digest lower case", withPayload(set("digest", "sha384")), false},
		{"timestamp missing", withPayload(del("timestamp")), false},
		{"timestamp zero", withPayload(set("timestamp", 0)), false},
		{"timestamp negative", withPayload(set("timestamp", -1)), false},
		{"timestamp beyond int64", withPayload(set("timestamp", uint64(math.MaxUint64))), false},
		{"timestamp as text", withPayload(set("timestamp", "1695049410860")), false},
		{"timestamp as float", withPayload(set("timestamp", 1695049410860.0)), false},
		{"pcrs missing", withPayload(del("pcrs")), false},
		{"pcrs empty", withPayload(set("pcrs", map[uint64][]byte{})), false},
		{"pcrs with 33 entries", withPayload(set("pcrs", pcrs(33))), false},
		{"pcrs as array", withPayload(set("pcrs", [][]byte{pcr})), false},
		{"PCR of 47 bytes", withPayload(set("pcrs", map[uint64][]byte{0: pcr[:47]})), false},
		{"PCR of 0 bytes", withPayload(set("pcrs", map[uint64][]byte{0: {}})), false},
		{"PCR null", withPayload(set("pcrs", map[uint64]any{0: nil})), false},
		{"PCR as text", withPayload(set("pcrs", map[uint64]string{0: string(pcr)})), false},
		{"PCR index 32", withPayload(set("pcrs", map[uint64][]byte{32: pcr})), false},
		{"PCR index -1", withPayload(set("pcrs", map[int64][]byte{-1: pcr})), false},
		{"PCR index as text", withPayload(set("pcrs", map[string][]byte{"0": pcr})), false},
		{"PCR index as float", withPayload(set("pcrs", map[float64][]byte{0: pcr})), false},
		{"certificate missing", withPayload(del("certificate")), false},
		{"certificate null", withPayload(set("certificate", nil)), false},
		{"certificate not DER", withPayload(set("certificate", []byte("not a certificate"))), false},
		{"certificate of 1025 bytes", withPayload(set("certificate", make([]byte, 1025))), false},
		{"certificate empty", withPayload(set("certificate", []byte{})), false},
		{"cabundle missing", withPayload(del("cabundle")), false},
		{"cabundle empty", withPayload(set("cabundle", [][]byte{})), false},
		{"cabundle with 9 entries", withPayload(set("cabundle", slices.Repeat([][]byte{root}, 9))), false},
		{"cabundle entry as text", withPayload(set("cabundle", []string{string(root)})), false},
		{"cabundle entry empty", withPayload(set("cabundle", [][]byte{{}})), false},
		{"cabundle as bytes", withPayload(set("cabundle", root)), false},
		{"public_key empty", withPayload(set("public_key", []byte{})), false},
		{"public_key of 1025 bytes", withPayload(set("public_key", make([]byte, 1025))), false},
		{"user_data of 1025 bytes", withPayload(set("user_data", make([]byte, 1025))), false},
		{"user_data as text", withPayload(set("user_data", "hello")), false},
		{"user_data as array of small ints", withPayload(set("user_data", []int{1, 2, 3})), false},
		{"nonce of 1025 bytes", withPayload(set("nonce", make([]byte, 1025))), false},
		{"nonce nested too deep", withPayload(set("nonce", []any{[]any{[]any{[]byte{1}}}})), false},
		{"unknown field", withPayload(set("extra", []byte{1})), false},
		{"integer field name", withPayloadBytes(intKey), false},
		{"duplicate field", withPayloadBytes(dupPayload), false},
		{"indefinite-length payload map", withPayloadBytes(indefPayload), false},
		{"payload null", joinCOSE(t, parts[0], parts[1], mustCBOR(t, nil), parts[3]), false},
		{"payload empty", withPayloadBytes([]byte{}), false},
		{"payload not a map", withPayloadBytes(mustCBOR(t, []int{1})), false},
		{"payload CBOR null inside the byte string", withPayloadBytes([]byte{0xf6}), false},
		{"payload as array of small ints", joinCOSE(t, parts[0], parts[1], mustCBOR(t, []int{0xa0}), parts[3]), false},
		{"protected header empty", joinCOSE(t, mustCBOR(t, []byte{}), parts[1], parts[2], parts[3]), false},
		{"protected header as map, not bytes", joinCOSE(t, mustCBOR(t, map[int]int{1: -35}), parts[1], parts[2], parts[3]), false},
		{"protected header with kid", joinCOSE(t, protectedHeader(t, map[int]any{1: -35, 4: []byte{1}}), parts[1], parts[2], parts[3]), false},
		{"protected header with content type", joinCOSE(t, protectedHeader(t, map[int]int{1: -35, 3: 0}), parts[1], parts[2], parts[3]), false},
		{"protected header with crit", joinCOSE(t, protectedHeader(t, map[int]any{1: -35, 2: []int{1}}), parts[1], parts[2], parts[3]), false},
		{"protected header with a duplicate alg", joinCOSE(t, mustCBOR(t, []byte{0xa2, 0x01, 0x38, 0x22, 0x01, 0x38, 0x22}), parts[1], parts[2], parts[3]), false},
		{"protected header with text alg", joinCOSE(t, protectedHeader(t, map[int]any{1: "ES384"}), parts[1], parts[2], parts[3]), false},
		{"protected header without alg", joinCOSE(t, protectedHeader(t, map[int]any{3: 0}), parts[1], parts[2], parts[3]), false},
		{"unprotected header as array", joinCOSE(t, parts[0], mustCBOR(t, []int{}), parts[2], parts[3]), false},
		{"unprotected header nested too deep", joinCOSE(t, parts[0], mustCBOR(t, map[int]any{5: []any{[]any{[]any{1}}}}), parts[2], parts[3]), false},
		{"signature empty", joinCOSE(t, parts[0], parts[1], parts[2], mustCBOR(t, []byte{})), false},
		{"signature null", joinCOSE(t, parts[0], parts[1], parts[2], mustCBOR(t, nil)), false},
		{"COSE array of 3", joinCOSE(t, parts[0], parts[1], parts[2]), false},
		{"COSE array of 5", joinCOSE(t, parts[0], parts[1], parts[2], parts[3], parts[3]), false},
		{"COSE as map", mustCBOR(t, map[int]cbor.RawMessage{0: parts[0], 1: parts[1], 2: parts[2], 3: parts[3]}), false},
		{"tag 98 (COSE_Sign)", append([]byte{0xd8, 0x62}, raw...), false},
		{"tag 18 in two-byte form", append([]byte{0xd8, 0x12}, raw...), false},
		{"tag 18 twice", append([]byte{0xd2, 0xd2}, raw...), false},
		{"larger than 16 KiB", joinCOSE(t, parts[0], mustCBOR(t, map[int][]byte{5: make([]byte, 12<<10)}), parts[2], parts[3]), false},
	}

	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := attest.Parse(tt.doc)
			if tt.ok {
				if err != nil || d == nil {
					t.Fatalf("got %v, want nil", err)
				}
				return
			}
			if d != nil || !errors.Is(err, attest.ErrMalformed) {
				t.Errorf("Parse: got %v, want ErrMalformed", err)
			}
			// Verify decodes with the same rules, before any cryptography.
			if _, err := attest.Verify(tt.doc, attest.Policy{Roots: x509.NewCertPool(), Now: time.Now}); !errors.Is(err, attest.ErrMalformed) {
				t.Errorf("Verify: got %v, want ErrMalformed", err)
			}
		})
	}
}
