// Package devattest makes development attestation documents for a dev enclave, which has no
// TEE hardware.
//
// INSECURE BY DESIGN. The documents have exactly the AWS Nitro shape (see package attest) and
// are signed with ES384 by a per-boot P-384 leaf certificate valid for 3 hours, like Nitro's;
// the leaf is issued by a development root whose private key is committed in this directory
// (devroot-key.pem) and is therefore public. Anyone can forge a dev document. It proves
// nothing about the code that produced it; it only lets the dev stack run the same
// attestation code paths as production.
//
// Clients accept dev documents only when told to explicitly, by verifying with
// attest.Verify and Policy.Roots = devattest.Roots(). A dev document never verifies with
// attest.NitroRoots(), and a Nitro document never verifies with devattest.Roots().
//
// Dev PCRs: PCR0 is the "dev measurement" given to New (the SHA-384 of the enclave
// executable, see Measure), PCR1 = SHA-384("niomon dev pcr1"), PCR2 = SHA-384("niomon dev
// pcr2"), PCR3..PCR15 zero. PCR1 and PCR2 are non-zero so a dev document is not mistaken for
// a debug-mode one.
package devattest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha512"
	"crypto/x509"
	"crypto/x509/pkix"
	_ "embed"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"math/big"
	"os"
	"sync"
	"time"

	"github.com/niomon/niomon/internal/attest"
	"github.com/veraison/go-cose"
)

// The development root and ITS PUBLIC PRIVATE KEY. See README.md.
var (
	//go:embed devroot.pem
	rootPEM []byte
	//go:embed devroot-key.pem
	rootKeyPEM []byte
)

const (
	// measurementSize is a SHA-384 digest, the NSM's PCR size.
	measurementSize = sha512.Size384
	// leafValidity matches the lifetime of a Nitro attestation leaf certificate.
	leafValidity = 3 * time.Hour
	// leafRenewBefore: a leaf with less than this left is replaced before signing, so a
	// document stays verifiable for at least this long after it is made (Nitro rotates its
	// leaves too).
	leafRenewBefore = time.Hour
	// numPCRs is how many PCRs a Nitro document reports (0..15).
	numPCRs = 16
)

var root, rootKey = mustRoot()

func mustRoot() (*x509.Certificate, *ecdsa.PrivateKey) {
	cb, _ := pem.Decode(rootPEM)
	kb, _ := pem.Decode(rootKeyPEM)
	if cb == nil || cb.Type != "CERTIFICATE" || kb == nil || kb.Type != "PRIVATE KEY" {
		panic("devattest: embedded dev root is not PEM")
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		panic("devattest: embedded dev root certificate: " + err.Error())
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		panic("devattest: embedded dev root key: " + err.Error())
	}
	key, ok := k.(*ecdsa.PrivateKey)
	if !ok || !key.PublicKey.Equal(cert.PublicKey) {
		panic("devattest: embedded dev root key does not match its certificate")
	}
	return cert, key
}

// Roots returns a new pool holding only the (insecure) development root. Pass it as
// attest.Policy.Roots only where dev documents are explicitly wanted.
func Roots() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(root)
	return p
}

// PCR1 and PCR2 values of every dev document.
var (
	pcr1 = sha384([]byte("niomon dev pcr1"))
	pcr2 = sha384([]byte("niomon dev pcr2"))
)

func sha384(b []byte) []byte {
	h := sha512.Sum384(b)
	return h[:]
}

// Provider signs dev attestation documents. It is safe for concurrent use.
type Provider struct {
	moduleID string
	pcrs     map[int][]byte
	now      func() time.Time // time.Now; tests replace it

	mu      sync.Mutex
	leafKey *ecdsa.PrivateKey
	leaf    *x509.Certificate
}

var _ attest.Provider = (*Provider)(nil)

// New returns a provider whose documents carry measurement (the 48-byte SHA-384 of the
// enclave executable, see Measure) as PCR0, and a fresh module ID "dev-<random hex>".
func New(measurement []byte) (*Provider, error) {
	if len(measurement) != measurementSize {
		return nil, fmt.Errorf("devattest: measurement is %d bytes, want %d (SHA-384)", len(measurement), measurementSize)
	}
	var id [8]byte
	if _, err := rand.Read(id[:]); err != nil {
		return nil, err
	}
	pcrs := make(map[int][]byte, numPCRs)
	for i := range numPCRs {
		pcrs[i] = make([]byte, measurementSize)
	}
	copy(pcrs[0], measurement)
	copy(pcrs[1], pcr1)
	copy(pcrs[2], pcr2)
	p := &Provider{moduleID: "dev-" + hex.EncodeToString(id[:]), pcrs: pcrs, now: time.Now}
	if err := p.renewLeaf(p.now()); err != nil {
		return nil, err
	}
	return p, nil
}

// renewLeaf issues a new leaf key and certificate valid from now for leafValidity.
// p.mu must be held, or p not yet shared.
func (p *Provider) renewLeaf(now time.Time) error {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return err
	}
	notBefore := now.Truncate(time.Second) // X.509 times have whole seconds
	der, err := x509.CreateCertificate(rand.Reader, &x509.Certificate{
		SerialNumber: serial,
		Subject: pkix.Name{
			CommonName:   p.moduleID + ".dev.niomon",
			Organization: []string{"Niomon development (INSECURE)"},
		},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(leafValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
	}, root, &key.PublicKey, rootKey)
	if err != nil {
		return fmt.Errorf("devattest: issue leaf: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return err
	}
	p.leafKey, p.leaf = key, leaf
	return nil
}

// Attest returns a dev attestation document, timestamped now, carrying nonce, userData and
// publicKey (nil or empty means absent, encoded as null). Each must be at most the size
// attest allows (attest.MaxNonceSize, attest.MaxUserDataSize, attest.MaxPublicKeySize).
func (p *Provider) Attest(nonce, userData, publicKey []byte) ([]byte, error) {
	switch {
	case len(nonce) > attest.MaxNonceSize:
		return nil, errors.New("devattest: nonce too large")
	case len(userData) > attest.MaxUserDataSize:
		return nil, errors.New("devattest: user data too large")
	case len(publicKey) > attest.MaxPublicKeySize:
		return nil, errors.New("devattest: public key too large")
	}
	now := p.now()

	p.mu.Lock()
	if now.Before(p.leaf.NotBefore) || now.Add(leafRenewBefore).After(p.leaf.NotAfter) {
		if err := p.renewLeaf(now); err != nil {
			p.mu.Unlock()
			return nil, err
		}
	}
	leafKey, leaf := p.leafKey, p.leaf
	p.mu.Unlock()

	payload, err := (&attest.Document{
		ModuleID:    p.moduleID,
		Digest:      "SHA384",
		Timestamp:   now,
		PCRs:        p.pcrs,
		Certificate: leaf,
		CABundle:    []*x509.Certificate{root},
		PublicKey:   absentIfEmpty(publicKey),
		UserData:    absentIfEmpty(userData),
		Nonce:       absentIfEmpty(nonce),
	}).MarshalPayload()
	if err != nil {
		return nil, fmt.Errorf("devattest: %w", err)
	}
	signer, err := cose.NewSigner(cose.AlgorithmES384, leafKey)
	if err != nil {
		return nil, err
	}
	// Untagged, protected header {1: -35}, unprotected {}: as the NSM emits.
	msg := cose.UntaggedSign1Message{
		Headers: cose.Headers{
			Protected: cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES384},
		},
		Payload: payload,
	}
	if err := msg.Sign(rand.Reader, nil, signer); err != nil {
		return nil, err
	}
	return msg.MarshalCBOR()
}

func absentIfEmpty(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return b
}

// Measure returns the SHA-384 of the file at path: the dev measurement of an enclave
// executable, to pass to New (in the enclave) and to expect as PCR0 (in clients).
func Measure(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	h := sha512.New384()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	return h.Sum(nil), nil
}
