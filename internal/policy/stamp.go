package policy

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rsa"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// Stamp is a credential's signature over request bytes. For an API or
// session key, Signature is ECDSA P-256 with SHA-256 (ASN.1 DER) over the
// request. For a passkey it is a WebAuthn assertion whose challenge is
// SHA-256 of the request, so the authenticator signs
// authenticatorData ‖ SHA-256(clientDataJSON).
type Stamp struct {
	CredentialID      []byte `cbor:"credential_id"`
	Signature         []byte `cbor:"signature"`
	AuthenticatorData []byte `cbor:"authenticator_data,omitempty"`
	ClientDataJSON    []byte `cbor:"client_data_json,omitempty"`
}

// Reasons a stamp is refused. They are fixed and say nothing about keys.
var (
	ErrUnknownCredential = errors.New("policy: stamp is by no credential of this wallet")
	ErrNoRight           = errors.New("policy: credential lacks the right for this request")
	ErrExpired           = errors.New("policy: credential has expired")
	ErrBadSignature      = errors.New("policy: stamp signature does not verify")
	ErrStale             = errors.New("policy: request time is outside the allowed window")
	ErrReplay            = errors.New("policy: request was already used")
	ErrWrongCluster      = errors.New("policy: request is for another cluster")
	ErrBusy              = errors.New("policy: too many recent requests; retry shortly")
	ErrWalletBusy        = errors.New("policy: too many recent requests for this wallet; retry shortly")
	ErrNoProof           = errors.New("policy: a credential added to the policy did not stamp the request")
)

// MaxProofs bounds the proofs of one policy change.
const MaxProofs = 16

// VerifyProofs checks that every credential a policy change adds stamped
// the change's request bytes b too (proof of possession, as at creation):
// nobody can list a key in a wallet without its holder. proofs holds
// exactly one stamp per added credential, in any order. The nonce was
// consumed by the change's own stamp, so proofs do not touch the replay
// cache.
func VerifyProofs(b []byte, added []Credential, proofs []Stamp) error {
	if len(proofs) != len(added) || len(proofs) > MaxProofs {
		return fmt.Errorf("%w: %d credentials added, %d proofs", ErrNoProof, len(added), len(proofs))
	}
	used := make([]bool, len(proofs))
	for i := range added {
		c := &added[i]
		found := false
		for j := range proofs {
			if used[j] || !bytes.Equal(proofs[j].CredentialID, c.ID) {
				continue
			}
			if err := verifyStamp(c, b, &proofs[j]); err != nil {
				return fmt.Errorf("%w: %v", ErrNoProof, err)
			}
			used[j], found = true, true
			break
		}
		if !found {
			return ErrNoProof
		}
	}
	return nil
}

// Window is how far a request's time may be from the enclave's clock:
// long enough for a user to find their authenticator, short enough that
// the replay cache stays small.
const Window = 2 * time.Minute

// Check verifies that stamp authorises request bytes b (already decoded as
// r) under policy p for right (empty: proof of possession only, as for
// create), at now. It consumes the nonce, counted against owner's share
// of the cache: a request passes Check once (a caller whose request then
// fails before any effect gives the nonce back with seen.Release). It
// returns the credential that stamped.
func Check(b []byte, r *Request, stamp *Stamp, p *Policy, right string, cluster []byte, now time.Time, seen *ReplayCache, owner []byte) (*Credential, error) {
	if string(r.Cluster) != string(cluster) {
		return nil, ErrWrongCluster
	}
	t := time.UnixMilli(r.Time)
	if t.Before(now.Add(-Window)) || t.After(now.Add(Window)) {
		return nil, ErrStale
	}
	c := p.Find(stamp.CredentialID)
	if c == nil {
		return nil, ErrUnknownCredential
	}
	if right != "" && !c.Has(right) {
		return nil, ErrNoRight
	}
	if !c.live(now.Unix()) {
		return nil, ErrExpired
	}
	if err := verifyStamp(c, b, stamp); err != nil {
		return nil, err
	}
	// Only a verified request may take a nonce, so nobody can burn
	// another user's nonces.
	switch seen.add(r.Nonce, owner, t.Add(Window)) {
	case replayed:
		return nil, ErrReplay
	case full:
		return nil, ErrBusy
	case ownerFull:
		return nil, ErrWalletBusy
	}
	return c, nil
}

func verifyStamp(c *Credential, b []byte, s *Stamp) error {
	if len(s.Signature) == 0 || len(s.Signature) > MaxStampSig {
		return ErrBadSignature
	}
	key, err := c.verifier()
	if err != nil {
		return err
	}
	var signed []byte
	switch c.Kind {
	case KindPasskey:
		if signed, err = webauthnSignedData(c, b, s); err != nil {
			return err
		}
	default:
		if len(s.AuthenticatorData) > 0 || len(s.ClientDataJSON) > 0 {
			return fmt.Errorf("%w: WebAuthn fields on a %s stamp", ErrBadSignature, c.Kind)
		}
		signed = b
	}
	if !verifySig(c.Alg, key, signed, s.Signature) {
		return ErrBadSignature
	}
	return nil
}

func verifySig(alg int, key any, msg, sig []byte) bool {
	switch alg {
	case AlgES256:
		h := sha256.Sum256(msg)
		return ecdsa.VerifyASN1(key.(*ecdsa.PublicKey), h[:], sig)
	case AlgEdDSA:
		return ed25519.Verify(key.(ed25519.PublicKey), msg, sig)
	case AlgRS256:
		h := sha256.Sum256(msg)
		return rsa.VerifyPKCS1v15(key.(*rsa.PublicKey), crypto.SHA256, h[:], sig) == nil
	}
	return false
}
