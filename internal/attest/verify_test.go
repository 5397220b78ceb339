package attest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"math/big"
	"os"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/attest/devattest"
)

// today is a date long after every vector's 3-hour leaf expired.
var today = time.Date(2026, 11, 28, 12, 0, 0, 0, time.UTC)

func nitroPolicy(now time.Time) attest.Policy {
	return attest.Policy{Roots: attest.NitroRoots(), Now: fixedClock(now), AllowDebug: true}
}

func TestNitroRootIsTheAWSRootG1(t *testing.T) {
	const want = "641a0321a3e244efe456463195d606317ed7cdcc3c1756e09893f3c68f79bb5b"
	b, err := os.ReadFile("testdata/aws_nitro_root_g1.pem")
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(b)
	if block == nil {
		t.Fatal("testdata root is not PEM")
	}
	sum := sha256.Sum256(block.Bytes)
	if got := hex.EncodeToString(sum[:]); got != want {
		t.Errorf("testdata root fingerprint: got %s, want %s", got, want)
	}
	if attest.NitroRootG1SHA256 != want {
		t.Errorf("NitroRootG1SHA256: got %s, want %s", attest.NitroRootG1SHA256, want)
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	wantPool := x509.NewCertPool()
	wantPool.AddCert(cert)
	if !attest.NitroRoots().Equal(wantPool) {
		t.Error("NitroRoots: got a pool that is not exactly the AWS Nitro root G1")
	}
}

func TestNitroRootsReturnsAFreshPoolEachCall(t *testing.T) {
	p := attest.NitroRoots()
	p.AddCert(selfSignedCA(t))
	if attest.NitroRoots().Equal(p) {
		t.Error("adding to one NitroRoots pool changed the next one")
	}
}

func TestVerifyAcceptsRealNitroDocumentsAtTheirOwnTime(t *testing.T) {
	v := loadVectors(t)
	for _, vd := range v.Documents {
		if !vd.Expected.ValidAtTimestamp {
			t.Fatalf("%s: vector not expected valid at its timestamp", vd.Name)
		}
		clocks := []struct {
			name string
			now  time.Time
		}{
			{"at the document timestamp", vd.timestamp()},
			{"at the leaf's not_before", vd.LeafNotBefore},
			{"at the leaf's not_after", vd.LeafNotAfter},
		}
		for _, c := range clocks {
			t.Run(vd.Name+"/"+c.name, func(t *testing.T) {
				d, err := attest.Verify(vd.raw(t), nitroPolicy(c.now))
				if err != nil {
					t.Fatalf("got %v, want nil", err)
				}
				checkDocumentMatchesVector(t, d, vd)
			})
		}
	}
}

func TestVerifyRejectsRealNitroDocumentsOutsideTheLeafValidity(t *testing.T) {
	v := loadVectors(t)
	for _, vd := range v.Documents {
		if vd.Expected.ValidNow {
			t.Fatalf("%s: vector unexpectedly valid now", vd.Name)
		}
		clocks := []struct {
			name string
			now  time.Time
		}{
			{"today", today},
			{"one second before not_before", vd.LeafNotBefore.Add(-time.Second)},
			{"one second after not_after", vd.LeafNotAfter.Add(time.Second)},
		}
		for _, c := range clocks {
			t.Run(vd.Name+"/"+c.name, func(t *testing.T) {
				_, err := attest.Verify(vd.raw(t), nitroPolicy(c.now))
				if !errors.Is(err, attest.ErrCertificate) {
					t.Errorf("got %v, want ErrCertificate", err)
				}
			})
		}
	}
}

func TestVerifyRejectsDebugModeDocumentsUnlessAllowed(t *testing.T) {
	v := loadVectors(t)
	wantDebug := map[string]bool{gaDebug: true, betaDebug: true, betaNonDebug: false, betaNonDebugV2: false}
	for _, vd := range v.Documents {
		t.Run(vd.Name, func(t *testing.T) {
			if got := vd.isDebug(t); got != wantDebug[vd.Name] {
				t.Fatalf("vector debug mode: got %v, want %v", got, wantDebug[vd.Name])
			}
			p := nitroPolicy(vd.timestamp())
			p.AllowDebug = false
			_, err := attest.Verify(vd.raw(t), p)
			if wantDebug[vd.Name] && !errors.Is(err, attest.ErrDebugMode) {
				t.Errorf("got %v, want ErrDebugMode", err)
			}
			if !wantDebug[vd.Name] && err != nil {
				t.Errorf("got %v, want nil", err)
			}
		})
	}
}

func TestVerifyChecksPCRsAsTheSourceSpecsExpect(t *testing.T) {
	v := loadVectors(t)
	if len(v.PCRExpectations) != 3 {
		t.Fatalf("got %d PCR expectations, want 3", len(v.PCRExpectations))
	}
	for _, e := range v.PCRExpectations {
		t.Run(e.Spec, func(t *testing.T) {
			vd := v.doc(t, e.Doc)
			p := nitroPolicy(vd.timestamp())
			p.PCRs = map[int][]byte{}
			for i, h := range map[int]string{0: e.PCR0, 1: e.PCR1, 2: e.PCR2, 8: e.PCR8} {
				if h != "" {
					p.PCRs[i] = unhex(t, h)
				}
			}
			_, err := attest.Verify(vd.raw(t), p)
			if e.ShouldMatch && err != nil {
				t.Errorf("got %v, want nil", err)
			}
			if !e.ShouldMatch && !errors.Is(err, attest.ErrPCRMismatch) {
				t.Errorf("got %v, want ErrPCRMismatch", err)
			}
		})
	}
}

func TestVerifyChecksEveryListedPCR(t *testing.T) {
	v := loadVectors(t)
	vd := v.doc(t, betaNonDebugV2)
	real := vd.pcrs(t)
	flipped := bytes.Clone(real[0])
	flipped[47] ^= 1

	tests := []struct {
		name string
		pcrs map[int][]byte
		want error
	}{
		{"all 16 PCRs of the document", real, nil},
		{"no PCRs listed", nil, nil},
		{"PCR0 with one bit flipped", map[int][]byte{0: flipped}, attest.ErrPCRMismatch},
		{"PCR0 truncated to 32 bytes", map[int][]byte{0: real[0][:32]}, attest.ErrPCRMismatch},
		{"PCR8 of another document", map[int][]byte{8: v.doc(t, betaNonDebug).pcrs(t)[8]}, attest.ErrPCRMismatch},
		{"right PCR0 and wrong PCR4", map[int][]byte{0: real[0], 4: real[3]}, attest.ErrPCRMismatch},
		{"PCR20, absent from the document", map[int][]byte{20: make([]byte, 48)}, attest.ErrPCRMismatch},
		{"empty expected value", map[int][]byte{5: {}}, attest.ErrPCRMismatch},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := nitroPolicy(vd.timestamp())
			p.PCRs = tt.pcrs
			_, err := attest.Verify(vd.raw(t), p)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyChecksNonceAndPublicKey(t *testing.T) {
	v := loadVectors(t)
	ga, beta := v.doc(t, gaDebug), v.doc(t, betaDebug)
	nonce := optHex(t, ga.NonceHex)
	otherNonce := bytes.Clone(nonce)
	otherNonce[len(otherNonce)-1] ^= 0x80
	pub := optHex(t, beta.PublicKeyHex)
	if string(pub) != "my super secret key" {
		t.Fatalf("vector public key: got %q, want %q", pub, "my super secret key")
	}

	tests := []struct {
		name      string
		vd        vectorDoc
		nonce     []byte
		publicKey []byte
		want      error
	}{
		{"the document's nonce", ga, nonce, nil, nil},
		{"a nonce differing in the last bit", ga, otherNonce, nil, attest.ErrNonce},
		{"a prefix of the nonce", ga, nonce[:len(nonce)-1], nil, attest.ErrNonce},
		{"a nonce when the document has none", beta, []byte{}, nil, attest.ErrNonce},
		{"the document's public key", beta, nil, pub, nil},
		{"another public key", beta, nil, []byte("my super secret kez"), attest.ErrPublicKey},
		{"a public key when the document has none", ga, nil, []byte("k"), attest.ErrPublicKey},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := nitroPolicy(tt.vd.timestamp())
			p.Nonce, p.PublicKey = tt.nonce, tt.publicKey
			_, err := attest.Verify(tt.vd.raw(t), p)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyChecksDocumentAge(t *testing.T) {
	vd := loadVectors(t).doc(t, gaDebug) // leaf valid 26 min before to 2.5 h after the timestamp
	ts := vd.timestamp()
	tests := []struct {
		name   string
		now    time.Time
		maxAge time.Duration
		want   error
	}{
		{"one minute old, max five", ts.Add(time.Minute), 5 * time.Minute, nil},
		{"exactly max age", ts.Add(5 * time.Minute), 5 * time.Minute, nil},
		{"ten minutes old, max five", ts.Add(10 * time.Minute), 5 * time.Minute, attest.ErrStale},
		{"dated one minute in the future", ts.Add(-time.Minute), 5 * time.Minute, nil},
		{"dated ten minutes in the future", ts.Add(-10 * time.Minute), 5 * time.Minute, attest.ErrStale},
		{"two hours old, no max age", ts.Add(2 * time.Hour), 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := nitroPolicy(tt.now)
			p.MaxAge = tt.maxAge
			_, err := attest.Verify(vd.raw(t), p)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRequiresRootsAndClock(t *testing.T) {
	vd := loadVectors(t).doc(t, betaNonDebug)
	tests := []struct {
		name string
		p    attest.Policy
	}{
		{"no roots", attest.Policy{Now: fixedClock(vd.timestamp())}},
		{"no clock", attest.Policy{Roots: attest.NitroRoots()}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := attest.Verify(vd.raw(t), tt.p); !errors.Is(err, attest.ErrPolicy) {
				t.Errorf("got %v, want ErrPolicy", err)
			}
		})
	}
}

func TestVerifyTrustsOnlyThePolicyRoots(t *testing.T) {
	vd := loadVectors(t).doc(t, betaNonDebug)
	// The document's own cabundle[0] is the AWS root; as policy root it is fine, but only
	// because the policy says so.
	ownRoot, err := attest.Parse(vd.raw(t))
	if err != nil {
		t.Fatal(err)
	}
	pool := func(certs ...*x509.Certificate) *x509.CertPool {
		p := x509.NewCertPool()
		for _, c := range certs {
			p.AddCert(c)
		}
		return p
	}
	tests := []struct {
		name  string
		roots *x509.CertPool
		want  error
	}{
		{"AWS Nitro root", attest.NitroRoots(), nil},
		{"the document's cabundle[0] given as policy root", pool(ownRoot.CABundle[0]), nil},
		{"empty pool", x509.NewCertPool(), attest.ErrCertificate},
		{"dev root", devattest.Roots(), attest.ErrCertificate},
		{"an unrelated P-384 CA", pool(selfSignedCA(t)), attest.ErrCertificate},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := attest.Verify(vd.raw(t), attest.Policy{Roots: tt.roots, Now: fixedClock(vd.timestamp())})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRejectsDevDocumentsWithNitroRoots(t *testing.T) {
	p, err := devattest.New(make([]byte, 48))
	if err != nil {
		t.Fatal(err)
	}
	doc, err := p.Attest([]byte("nonce"), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, err = attest.Verify(doc, attest.Policy{Roots: attest.NitroRoots(), Now: time.Now})
	if !errors.Is(err, attest.ErrCertificate) {
		t.Errorf("got %v, want ErrCertificate", err)
	}
}

func TestVerifyRejectsNitroDocumentsWithDevRoots(t *testing.T) {
	for _, vd := range loadVectors(t).Documents {
		t.Run(vd.Name, func(t *testing.T) {
			_, err := attest.Verify(vd.raw(t), attest.Policy{Roots: devattest.Roots(), Now: fixedClock(vd.timestamp()), AllowDebug: true})
			if !errors.Is(err, attest.ErrCertificate) {
				t.Errorf("got %v, want ErrCertificate", err)
			}
		})
	}
}

func TestVerifyAcceptsTaggedCOSESign1(t *testing.T) {
	vd := loadVectors(t).doc(t, betaNonDebug)
	tagged := append([]byte{0xd2}, vd.raw(t)...) // tag 18, COSE_Sign1_Tagged
	if _, err := attest.Verify(tagged, nitroPolicy(vd.timestamp())); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

// splitCOSE returns the four raw elements of an untagged COSE_Sign1.
func splitCOSE(tb testing.TB, doc []byte) []cbor.RawMessage {
	tb.Helper()
	var parts []cbor.RawMessage
	if err := cbor.Unmarshal(doc, &parts); err != nil || len(parts) != 4 {
		tb.Fatalf("split COSE_Sign1: %v (%d parts)", err, len(parts))
	}
	return parts
}

func joinCOSE(tb testing.TB, parts ...cbor.RawMessage) []byte {
	tb.Helper()
	b, err := cbor.Marshal(parts)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func flipAt(b []byte, i int, mask byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= mask
	return c
}

func TestVerifyRejectsTamperedDocuments(t *testing.T) {
	v := loadVectors(t)
	vd := v.doc(t, gaDebug)
	raw := vd.raw(t)
	other := v.doc(t, betaNonDebug).raw(t)
	// The document starts 84 44 a1 01 38 22 a0: array(4), bstr(4) {1: -35}, {}.
	if !bytes.HasPrefix(raw, []byte{0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0}) {
		t.Fatalf("unexpected document head % x", raw[:7])
	}
	at := func(field []byte) int {
		i := bytes.Index(raw, field)
		if i < 0 {
			t.Fatal("field not found in document")
		}
		return i
	}
	parsed, err := attest.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	parts, otherParts := splitCOSE(t, raw), splitCOSE(t, other)

	tests := []struct {
		name string
		doc  []byte
		want []error // any of these
	}{
		{"payload: a nonce byte flipped", flipAt(raw, at(parsed.Nonce)+10, 0x01), []error{attest.ErrSignature}},
		{"payload: a user_data byte flipped", flipAt(raw, at(parsed.UserData)+30, 0x40), []error{attest.ErrSignature}},
		{"payload: a PCR3 byte flipped", flipAt(raw, at(parsed.PCRs[3]), 0x01), []error{attest.ErrSignature}},
		{"payload: module_id changed", flipAt(raw, at([]byte(parsed.ModuleID))+5, 0x01), []error{attest.ErrSignature}},
		{"payload: timestamp changed", flipAt(raw, at([]byte("timestamp"))+9+8, 0x01), []error{attest.ErrSignature}},
		{"payload: leaf certificate signature byte flipped", flipAt(raw, at(parsed.Certificate.Raw)+len(parsed.Certificate.Raw)-1, 0x01), []error{attest.ErrSignature, attest.ErrMalformed}},
		{"payload: cabundle root byte flipped", flipAt(raw, at(parsed.CABundle[0].Raw)+len(parsed.CABundle[0].Raw)-1, 0x01), []error{attest.ErrSignature, attest.ErrMalformed}},
		{"payload: digest changed", flipAt(raw, at([]byte("SHA384"))+5, 0x01), []error{attest.ErrMalformed}},
		{"signature: first byte flipped", flipAt(raw, len(raw)-96, 0x01), []error{attest.ErrSignature}},
		{"signature: last byte flipped", flipAt(raw, len(raw)-1, 0x01), []error{attest.ErrSignature}},
		{"protected header: alg ES384 changed to ES512", flipAt(raw, 5, 0x01), []error{attest.ErrSignature}},
		{"protected header: alg changed to -34", flipAt(raw, 5, 0x03), []error{attest.ErrSignature}},
		{"protected header: map size changed", flipAt(raw, 2, 0x03), []error{attest.ErrMalformed}},
		{"unprotected header: changed", flipAt(raw, 6, 0x01), []error{attest.ErrMalformed}},
		{"signature of another document", joinCOSE(t, parts[0], parts[1], parts[2], otherParts[3]), []error{attest.ErrSignature}},
		{"payload of another document", joinCOSE(t, parts[0], parts[1], otherParts[2], parts[3]), []error{attest.ErrSignature}},
		{"truncated by one byte", raw[:len(raw)-1], []error{attest.ErrMalformed}},
		{"truncated to half", raw[:len(raw)/2], []error{attest.ErrMalformed}},
		{"truncated to one byte", raw[:1], []error{attest.ErrMalformed}},
		{"empty", nil, []error{attest.ErrMalformed}},
		{"one trailing byte", append(bytes.Clone(raw), 0), []error{attest.ErrMalformed}},
		{"a second document appended", append(bytes.Clone(raw), other...), []error{attest.ErrMalformed}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := attest.Verify(tt.doc, nitroPolicy(vd.timestamp()))
			if d != nil {
				t.Errorf("got a document, want nil")
			}
			if !isAny(err, tt.want...) {
				t.Errorf("got %v, want one of %v", err, tt.want)
			}
		})
	}
}

// Every single-byte change anywhere in a real document must be rejected as malformed or as
// a bad signature: the signature is checked before the chain, and everything except the
// unprotected header (which must stay a map) is signed.
func TestVerifyRejectsEverySingleByteChange(t *testing.T) {
	vd := loadVectors(t).doc(t, betaDebug)
	raw := vd.raw(t)
	// Every byte of the head (COSE framing and the first payload fields), then every 5th
	// byte; the low bit or the high bit, alternately.
	step := 5
	if testing.Short() {
		step = 31
	}
	for i := 0; i < len(raw); i++ {
		if i >= 64 && i%step != 0 {
			continue
		}
		mask := byte(0x01) << (7 * (i % 2))
		_, err := attest.Verify(flipAt(raw, i, mask), nitroPolicy(vd.timestamp()))
		if !isAny(err, attest.ErrMalformed, attest.ErrSignature) {
			t.Fatalf("byte %d ^ %#x: got %v, want ErrMalformed or ErrSignature", i, mask, err)
		}
	}
}

func isAny(err error, targets ...error) bool {
	for _, t := range targets {
		if errors.Is(err, t) {
			return true
		}
	}
	return false
}

// selfSignedCA makes an unrelated P-384 CA certificate.
func selfSignedCA(tb testing.TB) *x509.Certificate {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "aws.nitro-enclaves"}, // same name, other key
		NotBefore:             time.Date(2019, 1, 1, 0, 0, 0, 0, time.UTC),
		NotAfter:              time.Date(2049, 1, 1, 0, 0, 0, 0, time.UTC),
		KeyUsage:              x509.KeyUsageCertSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}
