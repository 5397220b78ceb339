package attest_test

import (
	"bytes"
	"crypto/x509"
	"errors"
	"maps"
	"slices"
	"testing"

	"github.com/niomon/niomon/internal/attest"
)

func addSeeds(f *testing.F) {
	v := loadVectors(f)
	for _, vd := range v.Documents {
		f.Add(vd.raw(f))
	}
	f.Add(append([]byte{0xd2}, v.Documents[0].raw(f)...))
}

// FuzzParse: Parse never panics, fails only with ErrMalformed, and whatever it accepts
// survives a round trip: re-encoding the payload and parsing it again gives the same
// document, and re-encoding that gives the same bytes.
func FuzzParse(f *testing.F) {
	addSeeds(f)
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := attest.Parse(doc)
		if err != nil {
			if d != nil {
				t.Fatal("got a document with an error, want nil")
			}
			if !errors.Is(err, attest.ErrMalformed) {
				t.Fatalf("got %v, want ErrMalformed", err)
			}
			return
		}
		p, err := d.MarshalPayload()
		if err != nil {
			// Only a document at the size limit can fail: absent optional fields are
			// re-encoded as null, a few bytes longer.
			if len(doc) < attest.MaxDocumentSize-256 {
				t.Fatalf("MarshalPayload of a %d-byte parsed document: got %v, want nil", len(doc), err)
			}
			return
		}
		// A fresh wrapper: {1: -35}, {}, payload, a dummy signature (Parse does not check it).
		rewrapped := joinCOSE(t, protectedHeader(t, map[int]int{1: -35}), mustCBOR(t, map[int]int{}), mustCBOR(t, p), mustCBOR(t, make([]byte, 96)))
		d2, err := attest.Parse(rewrapped)
		if err != nil {
			t.Fatalf("Parse of the re-encoded document: got %v, want nil", err)
		}
		if !sameDocument(d, d2) {
			t.Fatal("round trip changed the document")
		}
		p2, err := d2.MarshalPayload()
		if err != nil || !bytes.Equal(p, p2) {
			t.Fatalf("second encoding: got %v and %d differing bytes, want the same %d bytes", err, len(p2), len(p))
		}
	})
}

// FuzzVerify: Verify never panics and fails only with one of the document errors.
func FuzzVerify(f *testing.F) {
	addSeeds(f)
	vd := loadVectors(f).doc(f, gaDebug)
	f.Fuzz(func(t *testing.T, doc []byte) {
		d, err := attest.Verify(doc, nitroPolicy(vd.timestamp()))
		if err == nil {
			if _, perr := attest.Parse(doc); perr != nil || d == nil {
				t.Fatalf("Verify accepted what Parse refuses: %v", perr)
			}
			return
		}
		if d != nil {
			t.Fatal("got a document with an error, want nil")
		}
		if !isAny(err, attest.ErrMalformed, attest.ErrSignature, attest.ErrCertificate,
			attest.ErrPCRMismatch, attest.ErrDebugMode, attest.ErrNonce, attest.ErrPublicKey, attest.ErrStale) {
			t.Fatalf("got %v, want one of the document errors", err)
		}
	})
}

func sameDocument(a, b *attest.Document) bool {
	sameOpt := func(x, y []byte) bool { return bytes.Equal(x, y) && (x == nil) == (y == nil) }
	raws := func(cs []*x509.Certificate) [][]byte {
		out := make([][]byte, len(cs))
		for i, c := range cs {
			out[i] = c.Raw
		}
		return out
	}
	return a.ModuleID == b.ModuleID &&
		a.Digest == b.Digest &&
		a.Timestamp.Equal(b.Timestamp) &&
		maps.EqualFunc(a.PCRs, b.PCRs, bytes.Equal) &&
		bytes.Equal(a.Certificate.Raw, b.Certificate.Raw) &&
		slices.EqualFunc(raws(a.CABundle), raws(b.CABundle), bytes.Equal) &&
		sameOpt(a.PublicKey, b.PublicKey) &&
		sameOpt(a.UserData, b.UserData) &&
		sameOpt(a.Nonce, b.Nonce)
}
