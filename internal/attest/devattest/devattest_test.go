package devattest_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/attest/devattest"
)

func sha384(s string) []byte {
	h := sha512.Sum384([]byte(s))
	return h[:]
}

// devPolicy is what a dev client would use: dev roots, the expected dev measurement, and
// AllowDebug false (a dev document must not look like a debug-mode one).
func devPolicy(measurement []byte, now time.Time) attest.Policy {
	return attest.Policy{
		Roots:  devattest.Roots(),
		Now:    func() time.Time { return now },
		PCRs:   map[int][]byte{0: measurement, 1: sha384("niomon dev pcr1"), 2: sha384("niomon dev pcr2")},
		MaxAge: time.Minute,
	}
}

func newProvider(t *testing.T, measurement []byte) *devattest.Provider {
	t.Helper()
	p, err := devattest.New(measurement)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAttestThenVerifyRoundTrip(t *testing.T) {
	m := sha384("secretd enclave executable")
	p := newProvider(t, m)
	nonce, userData, pub := []byte("client nonce 0123456789"), []byte("user data"), []byte("cluster identity key")
	before := time.Now()
	doc, err := p.Attest(nonce, userData, pub)
	if err != nil {
		t.Fatal(err)
	}

	pol := devPolicy(m, time.Now())
	pol.Nonce, pol.PublicKey = nonce, pub
	d, err := attest.Verify(doc, pol)
	if err != nil {
		t.Fatalf("Verify: got %v, want nil", err)
	}

	if !strings.HasPrefix(d.ModuleID, "dev-") || len(d.ModuleID) != len("dev-")+16 {
		t.Errorf("ModuleID: got %q, want dev- and 16 hex digits", d.ModuleID)
	}
	if d.Digest != "SHA384" {
		t.Errorf("Digest: got %q, want SHA384", d.Digest)
	}
	if d.Timestamp.Before(before.Truncate(time.Millisecond)) || d.Timestamp.After(time.Now()) {
		t.Errorf("Timestamp: got %v, want between %v and now", d.Timestamp, before)
	}
	if len(d.PCRs) != 16 {
		t.Errorf("PCRs: got %d, want 16", len(d.PCRs))
	}
	for i := 3; i < 16; i++ {
		if !bytes.Equal(d.PCRs[i], make([]byte, 48)) {
			t.Errorf("PCR%d: got %x, want 48 zero bytes", i, d.PCRs[i])
		}
	}
	if !bytes.Equal(d.UserData, userData) || !bytes.Equal(d.Nonce, nonce) || !bytes.Equal(d.PublicKey, pub) {
		t.Errorf("optional fields: got (%q, %q, %q), want (%q, %q, %q)", d.Nonce, d.UserData, d.PublicKey, nonce, userData, pub)
	}
	if len(d.CABundle) != 1 || !d.CABundle[0].Equal(devRoot(t)) {
		t.Errorf("CABundle: got %d certificates, want exactly the dev root", len(d.CABundle))
	}
	if got := d.Certificate.NotAfter.Sub(d.Certificate.NotBefore); got != 3*time.Hour {
		t.Errorf("leaf validity: got %v, want 3h", got)
	}
	if k, ok := d.Certificate.PublicKey.(*ecdsa.PublicKey); !ok || k.Curve != elliptic.P384() {
		t.Errorf("leaf key: got %T, want ECDSA P-384", d.Certificate.PublicKey)
	}
	// Exactly the NSM's framing: untagged array, protected {1: -35}, unprotected {}.
	if head := []byte{0x84, 0x44, 0xa1, 0x01, 0x38, 0x22, 0xa0}; !bytes.HasPrefix(doc, head) {
		t.Errorf("document head: got % x, want % x", doc[:len(head)], head)
	}
}

func TestAttestedDocumentsAreRejectedWhenThePolicyDiffers(t *testing.T) {
	m := sha384("secretd enclave executable")
	p := newProvider(t, m)
	nonce, pub := []byte("nonce"), []byte("pub")
	doc, err := p.Attest(nonce, nil, pub)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	tests := []struct {
		name string
		edit func(*attest.Policy)
		want error
	}{
		{"control: matching policy", func(*attest.Policy) {}, nil},
		{"AWS Nitro roots", func(p *attest.Policy) { p.Roots = attest.NitroRoots() }, attest.ErrCertificate},
		{"after the leaf expired (now + 4h)", func(p *attest.Policy) {
			p.Now = func() time.Time { return now.Add(4 * time.Hour) }
			p.MaxAge = 0
		}, attest.ErrCertificate},
		{"another nonce", func(p *attest.Policy) { p.Nonce = []byte("nonce2") }, attest.ErrNonce},
		{"another public key", func(p *attest.Policy) { p.PublicKey = []byte("pub2") }, attest.ErrPublicKey},
		{"PCR0 of another executable", func(p *attest.Policy) { p.PCRs[0] = sha384("another executable") }, attest.ErrPCRMismatch},
		{"older than MaxAge", func(p *attest.Policy) { p.Now = func() time.Time { return now.Add(10 * time.Minute) } }, attest.ErrStale},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pol := devPolicy(m, now)
			pol.Nonce, pol.PublicKey = nonce, pub
			tt.edit(&pol)
			_, err := attest.Verify(doc, pol)
			if !errors.Is(err, tt.want) || (tt.want == nil && err != nil) {
				t.Errorf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestAttestEncodesEmptyOptionalFieldsAsAbsent(t *testing.T) {
	p := newProvider(t, sha384("x"))
	for _, in := range [][3][]byte{{nil, nil, nil}, {{}, {}, {}}} {
		doc, err := p.Attest(in[0], in[1], in[2])
		if err != nil {
			t.Fatal(err)
		}
		d, err := attest.Parse(doc)
		if err != nil {
			t.Fatal(err)
		}
		if d.Nonce != nil || d.UserData != nil || d.PublicKey != nil {
			t.Errorf("got (%x, %x, %x), want all nil", d.Nonce, d.UserData, d.PublicKey)
		}
	}
}

// A zero measurement makes PCR0 zero, but PCR1 and PCR2 are not: still not debug mode.
func TestDevDocumentsAreNeverDebugMode(t *testing.T) {
	m := make([]byte, 48)
	doc, err := newProvider(t, m).Attest(nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := attest.Verify(doc, devPolicy(m, time.Now())); err != nil {
		t.Errorf("got %v, want nil", err)
	}
}

func TestNewRejectsMeasurementsThatAreNotSHA384(t *testing.T) {
	for _, n := range []int{0, 32, 47, 49, 64} {
		if _, err := devattest.New(make([]byte, n)); err == nil {
			t.Errorf("%d-byte measurement: got nil error, want an error", n)
		}
	}
}

func TestEachProviderHasItsOwnModuleIDAndLeaf(t *testing.T) {
	a, err := attest.Parse(must(newProvider(t, sha384("x")).Attest(nil, nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	b, err := attest.Parse(must(newProvider(t, sha384("x")).Attest(nil, nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	if a.ModuleID == b.ModuleID {
		t.Errorf("module IDs: got %q twice, want different", a.ModuleID)
	}
	if a.Certificate.Equal(b.Certificate) {
		t.Error("leaf certificates: got the same twice, want one per provider")
	}
}

func must(b []byte, err error) []byte {
	if err != nil {
		panic(err)
	}
	return b
}

func TestAttestRejectsOversizedInputs(t *testing.T) {
	p := newProvider(t, sha384("x"))
	big := make([]byte, 1025)
	tests := []struct {
		name                       string
		nonce, userData, publicKey []byte
	}{
		{"nonce", big, nil, nil},
		{"user data", nil, big, nil},
		{"public key", nil, nil, big},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := p.Attest(tt.nonce, tt.userData, tt.publicKey); err == nil {
				t.Error("got nil error, want an error")
			}
		})
	}
	// The largest inputs still make a valid document.
	max := make([]byte, 1024)
	doc, err := p.Attest(max, max, max)
	if err != nil {
		t.Fatalf("1024-byte inputs: got %v, want nil", err)
	}
	if _, err := attest.Parse(doc); err != nil {
		t.Errorf("Parse of the largest document: got %v, want nil", err)
	}
}

func TestAttestIsSafeForConcurrentUse(t *testing.T) {
	m := sha384("x")
	p := newProvider(t, m)
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for i := range 16 {
		wg.Go(func() {
			doc, err := p.Attest([]byte{byte(i)}, nil, nil)
			if err == nil {
				pol := devPolicy(m, time.Now())
				pol.Nonce = []byte{byte(i)}
				_, err = attest.Verify(doc, pol)
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("got %v, want nil", err)
		}
	}
}

func TestMeasureIsTheSHA384OfTheFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "enclave")
	content := bytes.Repeat([]byte("secretd\x00"), 100000) // larger than one read buffer
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := devattest.Measure(path)
	if err != nil {
		t.Fatal(err)
	}
	want := sha512.Sum384(content)
	if !bytes.Equal(got, want[:]) {
		t.Errorf("got %x, want %x", got, want)
	}
	if _, err := devattest.Measure(filepath.Join(t.TempDir(), "missing")); err == nil {
		t.Error("missing file: got nil error, want an error")
	}
}

func devRoot(t *testing.T) *x509.Certificate {
	t.Helper()
	d, err := attest.Parse(must(newProvider(t, sha384("x")).Attest(nil, nil, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return d.CABundle[0]
}

// The committed dev root is the one the README describes, and says loudly what it is.
func TestDevRootIsTheCommittedInsecureRoot(t *testing.T) {
	const fingerprint = "98f37c6524b8031bd023f9163ef34e47751596147b964bcf100bac3310f75834"
	root := devRoot(t)
	sum := sha256.Sum256(root.Raw)
	if got := hex.EncodeToString(sum[:]); got != fingerprint {
		t.Errorf("fingerprint: got %s, want %s", got, fingerprint)
	}
	pool := x509.NewCertPool()
	pool.AddCert(root)
	if !devattest.Roots().Equal(pool) {
		t.Error("Roots: got a pool that is not exactly the dev root")
	}
	if !strings.Contains(root.Subject.CommonName, "INSECURE") {
		t.Errorf("root CN: got %q, want it to say INSECURE", root.Subject.CommonName)
	}
	if !root.IsCA || root.MaxPathLen != 0 || !root.MaxPathLenZero {
		t.Errorf("root constraints: got CA %v pathlen %d, want CA with pathlen 0", root.IsCA, root.MaxPathLen)
	}
	wantFrom, wantTo := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2046, 1, 1, 0, 0, 0, 0, time.UTC)
	if !root.NotBefore.Equal(wantFrom) || !root.NotAfter.Equal(wantTo) {
		t.Errorf("root validity: got %v..%v, want %v..%v", root.NotBefore, root.NotAfter, wantFrom, wantTo)
	}
	for _, f := range []string{"devroot.pem", "devroot-key.pem"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, []byte("INSECURE DEVELOPMENT ATTESTATION ROOT")) {
			t.Errorf("%s: got no INSECURE header, want one", f)
		}
	}
}
