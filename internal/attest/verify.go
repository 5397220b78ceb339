package attest

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/subtle"
	"crypto/x509"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/veraison/go-cose"
)

// Policy says what Verify must check beyond the document's own consistency.
type Policy struct {
	// Roots are the trust anchors: NitroRoots() for real enclaves, devattest.Roots() for a
	// development enclave, never both by accident. Required. The document's own cabundle only
	// supplies intermediates; its first entry is never trusted as a root.
	Roots *x509.CertPool
	// Now is the verification time. Required: Verify never reads the system clock, so tests
	// and callers say which time they mean.
	Now func() time.Time
	// PCRs lists the expected value of each PCR to check; every listed PCR must be present in
	// the document and equal. Empty means no PCR check.
	PCRs map[int][]byte
	// AllowDebug accepts debug-mode enclaves (PCR0, PCR1 and PCR2 all zero). The memory of a
	// debug-mode enclave can be read by its parent instance: never allow it in production.
	AllowDebug bool
	// Nonce, when non-nil, must equal the document's nonce (which must be present).
	Nonce []byte
	// PublicKey, when non-nil, must equal the document's public_key (which must be present).
	PublicKey []byte
	// MaxAge, when positive, bounds how old the document's timestamp may be at Now. A
	// timestamp more than MaxFutureSkew after Now is refused too.
	MaxAge time.Duration
}

// MaxFutureSkew is how far in the future a document's timestamp may be, when Policy.MaxAge
// is set, before Verify calls it stale: the NSM's clock and the verifier's are not the same.
const MaxFutureSkew = 2 * time.Minute

// Verify checks an attestation document and returns its content. In order:
//
//  1. strict decoding and the content rules of the NSM specification (ErrMalformed);
//  2. the COSE_Sign1 signature: algorithm ES384 only, with the leaf certificate's P-384 key
//     (ErrSignature);
//  3. the leaf certificate chains through the cabundle to p.Roots at p.Now(), with key usages
//     digitalSignature on the leaf and keyCertSign on every CA (ErrCertificate);
//  4. the policy: debug mode (ErrDebugMode), PCRs (ErrPCRMismatch), nonce (ErrNonce), public
//     key (ErrPublicKey), age (ErrStale).
//
// The signature is checked before the chain so that any change to the signed bytes reports
// ErrSignature, whatever it hit. Both always run before the document is trusted.
func Verify(doc []byte, p Policy) (*Document, error) {
	if p.Roots == nil {
		return nil, fmt.Errorf("%w: no trust anchors (Roots)", ErrPolicy)
	}
	if p.Now == nil {
		return nil, fmt.Errorf("%w: no clock (Now)", ErrPolicy)
	}
	now := p.Now()

	m, err := decode(doc)
	if err != nil {
		return nil, err
	}
	d := m.doc
	if err := verifySignature(m); err != nil {
		return nil, err
	}
	if err := verifyChain(d, p.Roots, now); err != nil {
		return nil, err
	}

	if !p.AllowDebug && isDebug(d.PCRs) {
		return nil, fmt.Errorf("%w: PCR0, PCR1 and PCR2 are zero", ErrDebugMode)
	}
	for _, i := range slices.Sorted(maps.Keys(p.PCRs)) {
		got, ok := d.PCRs[i]
		if !ok {
			return nil, fmt.Errorf("%w: PCR%d absent", ErrPCRMismatch, i)
		}
		if subtle.ConstantTimeCompare(got, p.PCRs[i]) != 1 {
			return nil, fmt.Errorf("%w: PCR%d differs", ErrPCRMismatch, i)
		}
	}
	if p.Nonce != nil && (d.Nonce == nil || subtle.ConstantTimeCompare(d.Nonce, p.Nonce) != 1) {
		return nil, ErrNonce
	}
	if p.PublicKey != nil && (d.PublicKey == nil || subtle.ConstantTimeCompare(d.PublicKey, p.PublicKey) != 1) {
		return nil, ErrPublicKey
	}
	if p.MaxAge > 0 {
		age := now.Sub(d.Timestamp)
		if age > p.MaxAge {
			return nil, fmt.Errorf("%w: %s old, limit %s", ErrStale, age.Round(time.Millisecond), p.MaxAge)
		}
		if -age > MaxFutureSkew {
			return nil, fmt.Errorf("%w: dated %s in the future", ErrStale, (-age).Round(time.Millisecond))
		}
	}
	return d, nil
}

func verifySignature(m *message) error {
	// Algorithm allow-list: ES384, as the NSM signs. Anything else is refused before any
	// key is looked at.
	if m.alg != int64(cose.AlgorithmES384) {
		return fmt.Errorf("%w: algorithm %d not allowed, want ES384", ErrSignature, m.alg)
	}
	pub, ok := m.doc.Certificate.PublicKey.(*ecdsa.PublicKey)
	if !ok || pub.Curve != elliptic.P384() {
		return fmt.Errorf("%w: leaf key is not ECDSA P-384", ErrSignature)
	}
	v, err := cose.NewVerifier(cose.AlgorithmES384, pub)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	msg := cose.Sign1Message{
		Headers: cose.Headers{
			// Sig_structure is computed over the protected bytes as received; decode has
			// already checked they say exactly {1: -35}.
			RawProtected:   m.rawProtected,
			Protected:      cose.ProtectedHeader{cose.HeaderLabelAlgorithm: cose.AlgorithmES384},
			RawUnprotected: m.rawUnprotected,
		},
		Payload:   m.payload,
		Signature: m.signature,
	}
	if err := msg.Verify(nil, v); err != nil {
		return fmt.Errorf("%w: %v", ErrSignature, err)
	}
	return nil
}

func verifyChain(d *Document, roots *x509.CertPool, now time.Time) error {
	leaf := d.Certificate
	if leaf.IsCA || leaf.KeyUsage&x509.KeyUsageDigitalSignature == 0 {
		return fmt.Errorf("%w: leaf is not a signing end-entity certificate", ErrCertificate)
	}
	// Every cabundle entry, the root copy at index 0 included, goes in the intermediates
	// pool: a chain counts only if it ends in roots.
	inter := x509.NewCertPool()
	for _, c := range d.CABundle {
		inter.AddCert(c)
	}
	chains, err := leaf.Verify(x509.VerifyOptions{
		Roots:         roots,
		Intermediates: inter,
		CurrentTime:   now,
		// Nitro certificates carry no extended key usage; without this crypto/x509 would
		// demand serverAuth.
		KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
	})
	if err != nil {
		return fmt.Errorf("%w: %v", ErrCertificate, err)
	}
	// crypto/x509 refuses a CA whose key usage lacks keyCertSign, but accepts a CA with no
	// key usage extension at all; the NSM specification requires the bit on every CA in the
	// chain (§3.2.3.3).
	for _, chain := range chains {
		if slices.IndexFunc(chain[1:], func(c *x509.Certificate) bool {
			return c.KeyUsage&x509.KeyUsageCertSign == 0
		}) < 0 {
			return nil
		}
	}
	return fmt.Errorf("%w: a CA in the chain lacks keyCertSign", ErrCertificate)
}

// isDebug reports whether PCR0, PCR1 and PCR2 are all zero, as the NSM reports them for an
// enclave started in debug mode. An absent PCR0–2 counts as zero: a document that does not
// prove it is not in debug mode is treated as if it were.
func isDebug(pcrs map[int][]byte) bool {
	for i := range 3 {
		for _, b := range pcrs[i] {
			if b != 0 {
				return false
			}
		}
	}
	return true
}
