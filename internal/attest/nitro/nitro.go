// Package nitro gets attestation documents from the AWS Nitro Security Module (NSM), through
// /dev/nsm inside a Nitro enclave, using github.com/hf/nsm.
//
// It only works inside a Nitro enclave. Elsewhere (a laptop, CI, a dev enclave) Open fails
// because /dev/nsm does not exist; this package is built and vetted there but its Attest is
// never run by tests. Use devattest for development. It builds on Unix only: hf/nsm talks to
// the device with ioctl(2), which Windows lacks.
package nitro

import (
	"errors"
	"fmt"
	"sync"

	"github.com/hf/nsm"
	"github.com/hf/nsm/request"
	"github.com/niomon/niomon/internal/attest"
)

// Provider is an open NSM session. It is safe for concurrent use.
type Provider struct {
	mu   sync.RWMutex // Close must not run while a request is in flight (hf/nsm rule)
	sess *nsm.Session
}

var _ attest.Provider = (*Provider)(nil)

// Open opens the NSM device (/dev/nsm).
func Open() (*Provider, error) {
	sess, err := nsm.OpenDefaultSession()
	if err != nil {
		return nil, fmt.Errorf("nitro: open NSM: %w", err)
	}
	return &Provider{sess: sess}, nil
}

// Attest asks the NSM for a signed attestation document carrying nonce, userData and
// publicKey (nil means absent). The NSM enforces its own size limits.
func (p *Provider) Attest(nonce, userData, publicKey []byte) ([]byte, error) {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.sess == nil {
		return nil, errors.New("nitro: provider closed")
	}
	res, err := p.sess.Send(&request.Attestation{Nonce: nonce, UserData: userData, PublicKey: publicKey})
	if err != nil {
		return nil, fmt.Errorf("nitro: NSM attestation request: %w", err)
	}
	if res.Error != "" {
		return nil, fmt.Errorf("nitro: NSM refused attestation: %s", res.Error)
	}
	if res.Attestation == nil || len(res.Attestation.Document) == 0 {
		return nil, errors.New("nitro: NSM returned no attestation document")
	}
	return res.Attestation.Document, nil
}

// Close closes the NSM session. Attest fails afterwards.
func (p *Provider) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sess == nil {
		return nil
	}
	err := p.sess.Close()
	p.sess = nil
	return err
}
