package policy

import (
	"bytes"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
)

// WebAuthn assertion checks (W3C Web Authentication Level 2, §7.2
// "Verifying an Authentication Assertion", steps 11–21), for a stamp whose
// challenge is SHA-256 of the request. Registration (attestation) happens
// outside the enclave, with a full WebAuthn library; the enclave only
// checks assertions against keys already in the sealed policy, which needs
// this much: the client data, the authenticator data's fixed header, and
// the signature.

// Authenticator data flags (§6.1).
const (
	flagUP = 1 << 0 // user present
	flagUV = 1 << 2 // user verified
)

// clientData is the part of CollectedClientData (§5.8.1) the checks read.
// Browsers add fields; they are ignored, as the spec requires.
type clientData struct {
	Type        string `json:"type"`
	Challenge   string `json:"challenge"`
	Origin      string `json:"origin"`
	CrossOrigin bool   `json:"crossOrigin"`
}

// webauthnSignedData checks a passkey stamp's client and authenticator
// data for request b and returns the bytes the signature must cover.
func webauthnSignedData(c *Credential, b []byte, s *Stamp) ([]byte, error) {
	if len(s.AuthenticatorData) < 37 || len(s.AuthenticatorData) > MaxAuthData {
		return nil, fmt.Errorf("%w: authenticator data must be 37..%d bytes", ErrBadSignature, MaxAuthData)
	}
	if len(s.ClientDataJSON) == 0 || len(s.ClientDataJSON) > MaxClientDataJSON {
		return nil, fmt.Errorf("%w: client data must be 1..%d bytes", ErrBadSignature, MaxClientDataJSON)
	}
	var cd clientData
	if err := json.Unmarshal(s.ClientDataJSON, &cd); err != nil {
		return nil, fmt.Errorf("%w: client data is not JSON", ErrBadSignature)
	}
	// Step 11: an assertion, not a registration.
	if cd.Type != "webauthn.get" {
		return nil, fmt.Errorf("%w: client data type is not webauthn.get", ErrBadSignature)
	}
	// Step 12: the challenge is this request's hash.
	want := Hash(b)
	got, err := base64.RawURLEncoding.DecodeString(cd.Challenge)
	if err != nil || !bytes.Equal(got, want[:]) {
		return nil, fmt.Errorf("%w: challenge is not this request's hash", ErrBadSignature)
	}
	// Step 13: an origin registered for this credential. Cross-origin
	// iframes are refused: a sign request comes from the app's own page.
	if !slices.Contains(c.Origins, cd.Origin) || cd.CrossOrigin {
		return nil, fmt.Errorf("%w: origin is not allowed for this credential", ErrBadSignature)
	}
	// Step 15: the RP ID hash binds the assertion to our relying party.
	ad := s.AuthenticatorData
	rp := sha256.Sum256([]byte(c.RPID))
	if !bytes.Equal(ad[:32], rp[:]) {
		return nil, fmt.Errorf("%w: authenticator data is for another RP ID", ErrBadSignature)
	}
	// Steps 16–17: user present always, user verified when required.
	if ad[32]&flagUP == 0 {
		return nil, fmt.Errorf("%w: user presence flag not set", ErrBadSignature)
	}
	if c.RequireUV && ad[32]&flagUV == 0 {
		return nil, fmt.Errorf("%w: user verification required", ErrBadSignature)
	}
	// Steps 19–20: the signature covers authData ‖ SHA-256(clientDataJSON).
	cdHash := sha256.Sum256(s.ClientDataJSON)
	return append(append(make([]byte, 0, len(ad)+32), ad...), cdHash[:]...), nil
}
