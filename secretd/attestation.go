package secretd

import (
	"crypto/x509"
	"errors"
	"fmt"
	"time"

	"github.com/niomon/niomon/internal/attest"
	"github.com/niomon/niomon/internal/attest/devattest"
	"github.com/niomon/niomon/internal/wire"
)

// AttestationPolicy is what a client requires of the enclave before it
// trusts the cluster identity.
type AttestationPolicy struct {
	// PCRs maps PCR index to the value it must have (48 bytes, SHA-384).
	// For Nitro, PCR0..2 pin the enclave image, kernel and application.
	PCRs map[int][]byte
	// AllowDebug accepts Nitro debug-mode enclaves (PCR0..2 all zero),
	// whose memory the operator can read. Never in production.
	AllowDebug bool
	// AllowDev accepts documents from a dev enclave, signed by Niomon's
	// public, insecure dev root. Never in production.
	AllowDev bool
	// Roots replaces the trust anchors (default: the AWS Nitro root G1,
	// plus the dev root when AllowDev).
	Roots *x509.CertPool
	// DRK, when set, is the fingerprint of the Disaster Recovery Key the
	// cluster must have (from its published transcript): a cluster whose
	// master key is escrowed to another DRK is refused.
	DRK []byte
	// MaxAge bounds the document's age (default 5 minutes).
	MaxAge time.Duration
	// Now is the clock (default time.Now).
	Now func() time.Time
}

// ErrAttestation is the error for a document that does not satisfy the
// policy; the wrapped error says which check failed.
var ErrAttestation = errors.New("attestation rejected")

func (p *AttestationPolicy) verify(doc, nonce []byte, identity wire.PublicKey) (*attest.Document, error) {
	roots := []*x509.CertPool{p.Roots}
	if p.Roots == nil {
		roots = []*x509.CertPool{attest.NitroRoots()}
		if p.AllowDev {
			roots = append(roots, devattest.Roots())
		}
	}
	now := p.Now
	if now == nil {
		now = time.Now
	}
	maxAge := p.MaxAge
	if maxAge <= 0 {
		maxAge = 5 * time.Minute
	}
	var err error
	var d *attest.Document
	for _, r := range roots {
		d, err = attest.Verify(doc, attest.Policy{
			Roots:      r,
			Now:        now,
			PCRs:       p.PCRs,
			AllowDebug: p.AllowDebug,
			Nonce:      nonce,
			PublicKey:  identity.Bytes(),
			MaxAge:     maxAge,
		})
		// Only an untrusted chain is worth trying against the next root.
		if !errors.Is(err, attest.ErrCertificate) {
			break
		}
	}
	if err != nil {
		return nil, errors.Join(ErrAttestation, err)
	}
	return d, nil
}

// Document is an attestation document that passed a policy.
type Document struct {
	ModuleID  string
	Timestamp time.Time
	PCRs      map[int][]byte
	PublicKey []byte
	UserData  []byte
}

// VerifyDocument checks any secretd enclave document against p: from an
// enclave p accepts, naming publicKey, made for nonce (nil: no nonce
// check). The DRK pin of p is not checked here (the user data of a
// genesis or recovery document is not AttestedKeys).
func VerifyDocument(p *AttestationPolicy, doc, nonce, publicKey []byte) (*Document, error) {
	if len(publicKey) != len(wire.PublicKey{}) {
		return nil, fmt.Errorf("secretd: attestation: %w: the public key is %d bytes, want 32", ErrAttestation, len(publicKey))
	}
	d, err := p.verify(doc, nonce, wire.PublicKey(publicKey))
	if err != nil {
		return nil, fmt.Errorf("secretd: attestation: %w", err)
	}
	return &Document{ModuleID: d.ModuleID, Timestamp: d.Timestamp, PCRs: d.PCRs, PublicKey: d.PublicKey, UserData: d.UserData}, nil
}
