// Package attest reads and verifies AWS Nitro Enclaves attestation documents.
//
// An attestation document is a CBOR (RFC 8949) COSE_Sign1 (RFC 9052 §4.2) structure
//
//	[protected: bstr .cbor {1: -35}, unprotected: {}, payload: bstr, signature: bstr]
//
// signed with ES384 by a short-lived leaf certificate that chains to the AWS Nitro root G1.
// The payload and the checks applied to it follow the AWS Nitro Enclaves NSM API document
// "Nitro Enclaves Attestation Process" (aws/aws-nitro-enclaves-nsm-api,
// docs/attestation_process.md, §2.2 and §3).
//
// Clients use [Verify] to check a secretd enclave before they pin its cluster identity (carried
// in the document's public_key); enclaves use it to check each other. Documents come from a
// [Provider]: the nitro sub-package on real hardware, devattest for a development enclave
// (same document shape, signed by a deliberately public dev root that proves nothing).
//
// Everything here treats the document as untrusted input: decoding is strict with named limits
// (see the Max* constants), and every failure is reported as one of the exported sentinel
// errors, so callers can branch with errors.Is while outsiders only ever see a fixed reason.
package attest

import "errors"

// Provider produces attestation documents from inside an enclave. nonce, userData and
// publicKey are placed, as given, in the signed document's nonce, user_data and public_key
// fields (nil or empty means absent).
type Provider interface {
	Attest(nonce, userData, publicKey []byte) ([]byte, error)
}

// Errors returned by [Verify] and [Parse]. They are wrapped with detail; use errors.Is.
var (
	// ErrMalformed: the document is not a well-formed, in-limits Nitro attestation document.
	ErrMalformed = errors.New("attest: malformed attestation document")
	// ErrSignature: the COSE signature does not verify with the leaf certificate's key, or the
	// algorithm is not ES384.
	ErrSignature = errors.New("attest: bad attestation signature")
	// ErrCertificate: the leaf does not chain to a trusted root at the policy's time (expired,
	// not yet valid, unknown root, wrong key usage).
	ErrCertificate = errors.New("attest: untrusted attestation certificate")
	// ErrPCRMismatch: a PCR required by the policy is missing or differs.
	ErrPCRMismatch = errors.New("attest: PCR mismatch")
	// ErrDebugMode: the enclave runs in debug mode (PCR0, PCR1 and PCR2 all zero) and the
	// policy does not allow it.
	ErrDebugMode = errors.New("attest: enclave is in debug mode")
	// ErrNonce: the document's nonce is missing or differs from the policy's.
	ErrNonce = errors.New("attest: nonce mismatch")
	// ErrPublicKey: the document's public_key is missing or differs from the policy's.
	ErrPublicKey = errors.New("attest: public key mismatch")
	// ErrStale: the document is older than the policy's MaxAge, or dated in the future.
	ErrStale = errors.New("attest: stale attestation document")
	// ErrPolicy: the Policy itself is unusable (no trust anchors, no clock). A programming
	// error in the caller, never a property of the document.
	ErrPolicy = errors.New("attest: invalid verification policy")
)
