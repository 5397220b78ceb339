// Package policy is who may use a wallet's keys, and how they prove it.
//
// A wallet's policy is a list of the user's own credentials, sealed with
// the wallet inside the enclave: passkeys (WebAuthn), P-256 API keys, and
// P-256 device session keys that expire. Each credential holds rights:
// sign, export, and change the policy. Every key-using request is a
// canonical CBOR Request (request.go) carrying a Stamp (stamp.go): a
// signature by one of those credentials over the request's exact bytes,
// fresh in time and never seen before (replay.go). The app that relays
// the request, the runner that stores the wallet and the operator who runs
// both hold no credential, so they cannot use a key (DESIGN.md invariant 2).
package policy

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"
)

// Kinds of credential.
const (
	KindPasskey    = "passkey"     // WebAuthn credential
	KindAPIKey     = "api_key"     // P-256 key held by a server-side user
	KindSessionKey = "session_key" // P-256 key made in a browser, with an expiry
)

// Rights a credential can hold.
const (
	RightSign   = "sign"
	RightExport = "export"
	RightPolicy = "policy" // add and remove credentials
)

// COSE algorithm identifiers (RFC 9053) a credential may use.
const (
	AlgES256 = -7
	AlgEdDSA = -8
	AlgRS256 = -257
)

// Limits on a policy.
const (
	MaxCredentials  = 32
	MaxCredentialID = 1023 // WebAuthn allows up to 1023 bytes
	MaxPublicKey    = 1024 // SPKI DER; RSA-4096 fits
	MaxOrigins      = 16
	MaxOriginLen    = 256
	MaxRPIDLen      = 256
	MaxLabelLen     = 128
)

// ErrInvalid reports a credential or policy that breaks a rule; the
// wrapped text names the rule.
var ErrInvalid = errors.New("policy: invalid")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

// Credential is one of the user's credentials. Its public key is a DER
// SubjectPublicKeyInfo: what a browser's PublicKeyCredential
// getPublicKey() returns for a passkey, and what WebCrypto exports as
// "spki" for a P-256 key.
type Credential struct {
	ID        []byte   `cbor:"id"`
	Kind      string   `cbor:"kind"`
	PublicKey []byte   `cbor:"public_key"`
	Alg       int      `cbor:"alg"`
	RPID      string   `cbor:"rp_id,omitempty"`      // passkeys
	Origins   []string `cbor:"origins,omitempty"`    // passkeys: exact origins allowed in clientDataJSON
	RequireUV bool     `cbor:"require_uv,omitempty"` // passkeys: demand user verification
	ExpiresAt int64    `cbor:"expires_at,omitempty"` // Unix seconds; required for session keys
	Rights    []string `cbor:"rights"`
	Label     string   `cbor:"label,omitempty"`

	key any // the parsed PublicKey, once Policy.Prepare has run
}

// KeyID is the ID of an API or session key: SHA-256 of its SPKI.
func KeyID(spki []byte) []byte {
	h := sha256.Sum256(spki)
	return h[:]
}

// Has reports whether c holds right.
func (c *Credential) Has(right string) bool { return slices.Contains(c.Rights, right) }

// Validate checks c's shape and parses its key. It does not check expiry:
// an expired session key is a valid entry that no longer authorises.
func (c *Credential) Validate() error {
	if len(c.ID) == 0 || len(c.ID) > MaxCredentialID {
		return invalid("credential id must be 1..%d bytes", MaxCredentialID)
	}
	if len(c.PublicKey) == 0 || len(c.PublicKey) > MaxPublicKey {
		return invalid("credential public key must be 1..%d bytes of SPKI DER", MaxPublicKey)
	}
	if _, err := c.verifier(); err != nil {
		return err
	}
	if len(c.Rights) == 0 || len(c.Rights) > 3 {
		return invalid("a credential needs 1..3 rights")
	}
	for i, r := range c.Rights {
		if r != RightSign && r != RightExport && r != RightPolicy {
			return invalid("unknown right %q", r)
		}
		if slices.Contains(c.Rights[:i], r) {
			return invalid("right %q listed twice", r)
		}
	}
	if len(c.Label) > MaxLabelLen || !utf8.ValidString(c.Label) {
		return invalid("label must be at most %d bytes of UTF-8", MaxLabelLen)
	}
	switch c.Kind {
	case KindPasskey:
		if c.RPID == "" || len(c.RPID) > MaxRPIDLen {
			return invalid("a passkey needs an rp_id of 1..%d bytes", MaxRPIDLen)
		}
		if len(c.Origins) == 0 || len(c.Origins) > MaxOrigins {
			return invalid("a passkey needs 1..%d origins", MaxOrigins)
		}
		for _, o := range c.Origins {
			if o == "" || len(o) > MaxOriginLen {
				return invalid("origins must be 1..%d bytes", MaxOriginLen)
			}
		}
		if c.ExpiresAt != 0 {
			return invalid("a passkey does not expire")
		}
	case KindAPIKey, KindSessionKey:
		if c.Alg != AlgES256 {
			return invalid("%s credentials are P-256 (alg -7)", c.Kind)
		}
		if !bytes.Equal(c.ID, KeyID(c.PublicKey)) {
			return invalid("the id of a %s is SHA-256 of its public key", c.Kind)
		}
		if c.RPID != "" || len(c.Origins) > 0 || c.RequireUV {
			return invalid("rp_id, origins and require_uv are for passkeys")
		}
		if c.Kind == KindSessionKey && c.ExpiresAt <= 0 {
			return invalid("a session key needs expires_at")
		}
		if c.Kind == KindAPIKey && c.ExpiresAt < 0 {
			return invalid("expires_at must not be negative")
		}
	default:
		return invalid("unknown credential kind %q", c.Kind)
	}
	return nil
}

// verifier parses the public key and checks it matches the algorithm.
func (c *Credential) verifier() (any, error) {
	if c.key != nil {
		return c.key, nil
	}
	pub, err := x509.ParsePKIXPublicKey(c.PublicKey)
	if err != nil {
		return nil, invalid("public key is not SPKI DER")
	}
	switch c.Alg {
	case AlgES256:
		k, ok := pub.(*ecdsa.PublicKey)
		if !ok || k.Curve != elliptic.P256() {
			return nil, invalid("alg -7 needs a P-256 key")
		}
		return k, nil
	case AlgEdDSA:
		k, ok := pub.(ed25519.PublicKey)
		if !ok {
			return nil, invalid("alg -8 needs an Ed25519 key")
		}
		return k, nil
	case AlgRS256:
		k, ok := pub.(*rsa.PublicKey)
		if !ok || k.N.BitLen() < 2048 {
			return nil, invalid("alg -257 needs an RSA key of at least 2048 bits")
		}
		return k, nil
	}
	return nil, invalid("unsupported alg %d", c.Alg)
}

// Policy is the set of credentials sealed with a wallet.
type Policy struct {
	Credentials []Credential `cbor:"credentials"`
}

// Validate checks every credential and the policy as a whole.
func (p *Policy) Validate() error {
	if len(p.Credentials) > MaxCredentials {
		return invalid("at most %d credentials", MaxCredentials)
	}
	for i := range p.Credentials {
		if err := p.Credentials[i].Validate(); err != nil {
			return err
		}
		for j := range i {
			if bytes.Equal(p.Credentials[i].ID, p.Credentials[j].ID) {
				return invalid("credential id listed twice")
			}
		}
	}
	return nil
}

// Prepare validates p and keeps each credential's parsed key, so that
// checking a stamp does not parse it again. For a policy held in memory.
func (p *Policy) Prepare() error {
	if err := p.Validate(); err != nil {
		return err
	}
	for i := range p.Credentials {
		k, err := p.Credentials[i].verifier()
		if err != nil {
			return err
		}
		p.Credentials[i].key = k
	}
	return nil
}

// Find returns the credential with id, or nil.
func (p *Policy) Find(id []byte) *Credential {
	for i := range p.Credentials {
		if bytes.Equal(p.Credentials[i].ID, id) {
			return &p.Credentials[i]
		}
	}
	return nil
}

// Change is an edit of a policy: credentials to add and IDs to remove.
type Change struct {
	Add    []Credential `cbor:"add,omitempty"`
	Remove [][]byte     `cbor:"remove,omitempty"`
}

// Apply returns p with c applied. The result must keep a credential that
// can change the policy, so that no edit locks the user out of their own
// wallet; removing an ID that is not there is an error, so a stale edit
// does not pass silently.
func (p *Policy) Apply(c Change, now int64) (*Policy, error) {
	if len(c.Add) == 0 && len(c.Remove) == 0 {
		return nil, invalid("the change adds and removes nothing")
	}
	out := &Policy{Credentials: slices.Clone(p.Credentials)}
	for _, id := range c.Remove {
		i := slices.IndexFunc(out.Credentials, func(k Credential) bool { return bytes.Equal(k.ID, id) })
		if i < 0 {
			return nil, invalid("no credential with that id to remove")
		}
		out.Credentials = slices.Delete(out.Credentials, i, i+1)
	}
	out.Credentials = append(out.Credentials, c.Add...)
	if err := out.Validate(); err != nil {
		return nil, err
	}
	if !slices.ContainsFunc(out.Credentials, func(k Credential) bool { return k.Has(RightPolicy) && k.live(now) }) {
		return nil, invalid("the policy must keep a live credential with the policy right")
	}
	return out, nil
}

// live reports whether c has not expired at now (Unix seconds).
func (c *Credential) live(now int64) bool { return c.ExpiresAt == 0 || now < c.ExpiresAt }
