package attest_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"testing"
	"time"

	"github.com/fxamacker/cbor/v2"
	"github.com/niomon/niomon/internal/attest"
)

// This file builds documents with its own PKI and its own COSE_Sign1 signer (RFC 9052 §4.4,
// written here from the RFC, not with go-cose), to reach the checks real documents cannot:
// the algorithm allow-list, the leaf key type, certificate key usages.

var forgeTime = time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)

type certSpec struct {
	key      crypto.Signer
	ca       bool
	keyUsage x509.KeyUsage
}

func issue(tb testing.TB, spec certSpec, parent *x509.Certificate, parentKey crypto.Signer) *x509.Certificate {
	tb.Helper()
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "forge " + serial.String()},
		NotBefore:             forgeTime.Add(-time.Hour),
		NotAfter:              forgeTime.Add(time.Hour),
		KeyUsage:              spec.keyUsage,
		BasicConstraintsValid: true,
		IsCA:                  spec.ca,
	}
	if parent == nil {
		parent, parentKey = tmpl, spec.key
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, spec.key.Public(), parentKey)
	if err != nil {
		tb.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		tb.Fatal(err)
	}
	return c
}

func p384(tb testing.TB) *ecdsa.PrivateKey {
	tb.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// forged is a document and the pool of its root.
type forged struct {
	doc   []byte
	roots *x509.CertPool
}

type forgeOpts struct {
	alg          int64             // protected header alg; 0 means -35
	leafKey      *ecdsa.PrivateKey // nil: fresh P-384
	leafUsage    x509.KeyUsage     // 0: digitalSignature
	leafIsCA     bool
	interUsage   x509.KeyUsage // 0: keyCertSign
	interNotCA   bool
	interNoUsage bool              // no key usage extension at all
	bundleRoot   *x509.Certificate // cabundle[0]; nil: the real root of the chain
	policyRootOf string            // "" = the chain's root; "other" = an unrelated root
}

func forge(tb testing.TB, o forgeOpts) forged {
	tb.Helper()
	rootKey, interKey := p384(tb), p384(tb)
	root := issue(tb, certSpec{key: rootKey, ca: true, keyUsage: x509.KeyUsageCertSign}, nil, nil)
	if o.interUsage == 0 && !o.interNoUsage {
		o.interUsage = x509.KeyUsageCertSign
	}
	inter := issue(tb, certSpec{key: interKey, ca: !o.interNotCA, keyUsage: o.interUsage}, root, rootKey)
	if o.leafKey == nil {
		o.leafKey = p384(tb)
	}
	if o.leafUsage == 0 {
		o.leafUsage = x509.KeyUsageDigitalSignature
	}
	leaf := issue(tb, certSpec{key: o.leafKey, ca: o.leafIsCA, keyUsage: o.leafUsage}, inter, interKey)

	bundleRoot := root
	if o.bundleRoot != nil {
		bundleRoot = o.bundleRoot
	}
	payload, err := (&attest.Document{
		ModuleID:    "i-forged-enc0",
		Digest:      "SHA384",
		Timestamp:   forgeTime,
		PCRs:        map[int][]byte{0: make([]byte, 48), 1: make([]byte, 48), 2: sha384sum("pcr2")},
		Certificate: leaf,
		CABundle:    []*x509.Certificate{bundleRoot, inter},
	}).MarshalPayload()
	if err != nil {
		tb.Fatal(err)
	}
	alg := o.alg
	if alg == 0 {
		alg = -35
	}
	doc := signCOSE(tb, alg, payload, o.leafKey)

	roots := x509.NewCertPool()
	roots.AddCert(root)
	if o.policyRootOf == "other" {
		roots = x509.NewCertPool()
		roots.AddCert(issue(tb, certSpec{key: p384(tb), ca: true, keyUsage: x509.KeyUsageCertSign}, nil, nil))
	}
	return forged{doc: doc, roots: roots}
}

func sha384sum(s string) []byte {
	h := sha512.Sum384([]byte(s))
	return h[:]
}

// signCOSE makes an untagged COSE_Sign1 with protected header {1: alg} and an empty
// unprotected header. It signs Sig_structure = ["Signature1", protected, external_aad (empty),
// payload] with SHA-384 and ECDSA; the signature is r‖s, each the curve's byte size.
func signCOSE(tb testing.TB, alg int64, payload []byte, key *ecdsa.PrivateKey) []byte {
	tb.Helper()
	protected, err := cbor.Marshal(map[int64]int64{1: alg})
	if err != nil {
		tb.Fatal(err)
	}
	tbs, err := cbor.Marshal([]any{"Signature1", protected, []byte{}, payload})
	if err != nil {
		tb.Fatal(err)
	}
	digest := sha512.Sum384(tbs)
	r, s, err := ecdsa.Sign(rand.Reader, key, digest[:])
	if err != nil {
		tb.Fatal(err)
	}
	n := (key.Curve.Params().BitSize + 7) / 8
	sig := make([]byte, 2*n)
	r.FillBytes(sig[:n])
	s.FillBytes(sig[n:])
	doc, err := cbor.Marshal([]any{protected, map[int]int{}, payload, sig})
	if err != nil {
		tb.Fatal(err)
	}
	return doc
}

func TestVerifyAgainstAnIndependentlySignedDocument(t *testing.T) {
	tests := []struct {
		name string
		o    forgeOpts
		want error
	}{
		{"control: ES384, P-384 leaf, root → intermediate → leaf", forgeOpts{}, nil},
		{"alg ES512 (-36) over an ES384 signature", forgeOpts{alg: -36}, attest.ErrSignature},
		{"alg ES256 (-7)", forgeOpts{alg: -7}, attest.ErrSignature},
		{"alg EdDSA (-8)", forgeOpts{alg: -8}, attest.ErrSignature},
		{"leaf without digitalSignature", forgeOpts{leafUsage: x509.KeyUsageKeyEncipherment}, attest.ErrCertificate},
		{"leaf that is a CA", forgeOpts{leafIsCA: true, leafUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign}, attest.ErrCertificate},
		{"intermediate without keyCertSign", forgeOpts{interUsage: x509.KeyUsageDigitalSignature}, attest.ErrCertificate},
		{"intermediate without a key usage extension", forgeOpts{interNoUsage: true}, attest.ErrCertificate},
		{"intermediate that is not a CA", forgeOpts{interNotCA: true}, attest.ErrCertificate},
		{"cabundle[0] is the chain's own self-signed root, unknown to the policy", forgeOpts{policyRootOf: "other"}, attest.ErrCertificate},
		{"control: cabundle[0] is junk, the policy root completes the chain", forgeOpts{bundleRoot: issue(t, certSpec{key: p384(t), ca: true, keyUsage: x509.KeyUsageCertSign}, nil, nil)}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := forge(t, tt.o)
			_, err := attest.Verify(f.doc, attest.Policy{Roots: f.roots, Now: fixedClock(forgeTime), AllowDebug: true})
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestVerifyRequiresAP384LeafKey(t *testing.T) {
	// A P-256 leaf signing with SHA-384 under alg ES384: the curve is wrong for ES384.
	k256, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	rootKey := p384(t)
	root := issue(t, certSpec{key: rootKey, ca: true, keyUsage: x509.KeyUsageCertSign}, nil, nil)
	leaf := issue(t, certSpec{key: k256, keyUsage: x509.KeyUsageDigitalSignature}, root, rootKey)
	payload, err := (&attest.Document{
		ModuleID: "i-p256", Digest: "SHA384", Timestamp: forgeTime,
		PCRs:        map[int][]byte{0: sha384sum("x")},
		Certificate: leaf, CABundle: []*x509.Certificate{root},
	}).MarshalPayload()
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AddCert(root)
	_, err = attest.Verify(signCOSE(t, -35, payload, k256), attest.Policy{Roots: roots, Now: fixedClock(forgeTime)})
	if !errors.Is(err, attest.ErrSignature) {
		t.Errorf("got %v, want ErrSignature", err)
	}
}
