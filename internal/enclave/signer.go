package enclave

import (
	"crypto/ed25519"

	"github.com/niomon/niomon/internal/api"
	"github.com/niomon/niomon/internal/policy"
	"github.com/niomon/niomon/internal/wire"
)

// statementSigner is the cluster's receipt key. It signs exactly five
// kinds of statement, one method each, every one under its own context
// (the constants in package api, which verifiers use): policy receipts,
// address statements, import keys, audit events and DRK escrows. Nothing
// else in the enclave reaches the key, so no code path can make it sign
// bytes of one kind that read as another.
type statementSigner struct {
	k ed25519.PrivateKey
}

func (s *statementSigner) public() ed25519.PublicKey { return s.k.Public().(ed25519.PublicKey) }

func (s *statementSigner) sign(context string, msg []byte) []byte {
	return ed25519.Sign(s.k, append([]byte(context), msg...))
}

// receipt signs a wallet's policy state.
func (s *statementSigner) receipt(r *policy.Receipt) (*policy.SignedReceipt, error) {
	b, err := wire.Marshal(r)
	if err != nil {
		return nil, err
	}
	return &policy.SignedReceipt{Receipt: b, Signature: s.sign(policy.ReceiptContext, b)}, nil
}

// address signs what a wallet has at a path.
func (s *statementSigner) address(st *api.AddressStatement) (statement, signature []byte, err error) {
	b, err := wire.Marshal(st)
	if err != nil {
		return nil, nil, err
	}
	return b, s.sign(api.AddressContext, b), nil
}

// importKey signs an HPKE import key.
func (s *statementSigner) importKey(id, pub []byte) []byte {
	return s.sign(api.ImportKeyContext, append(append([]byte(nil), id...), pub...))
}

// audit signs an audit event.
func (s *statementSigner) audit(ev *api.AuditEvent) (*api.SignedAuditEvent, error) {
	b, err := wire.Marshal(ev)
	if err != nil {
		return nil, err
	}
	return &api.SignedAuditEvent{Event: b, Signature: s.sign(api.AuditContext, b)}, nil
}

// escrow signs a DRK escrow record.
func (s *statementSigner) escrow(record []byte) []byte { return s.sign(api.EscrowContext, record) }

// wipe zeroes the key.
func (s *statementSigner) wipe() {
	if s != nil {
		clear(s.k)
	}
}
