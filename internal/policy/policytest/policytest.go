// Package policytest makes credentials and stamps for tests: P-256 keys
// and a virtual WebAuthn authenticator that produces real assertions
// (authenticator data, client data JSON, signature) the way a browser and
// a platform authenticator do.
package policytest

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"testing"

	"github.com/fxamacker/cbor/v2"

	"github.com/niomon/niomon/internal/policy"
)

// P256Key is an API or session key.
type P256Key struct {
	Priv *ecdsa.PrivateKey
	Cred policy.Credential
}

// NewP256Key makes a key of kind (api_key or session_key) with rights.
func NewP256Key(t testing.TB, kind string, expiresAt int64, rights ...string) *P256Key {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return &P256Key{Priv: k, Cred: policy.Credential{
		ID: policy.KeyID(spki), Kind: kind, PublicKey: spki, Alg: policy.AlgES256, ExpiresAt: expiresAt, Rights: rights,
	}}
}

// Stamp signs request bytes.
func (k *P256Key) Stamp(t testing.TB, req []byte) *policy.Stamp {
	t.Helper()
	h := sha256.Sum256(req)
	sig, err := ecdsa.SignASN1(rand.Reader, k.Priv, h[:])
	if err != nil {
		t.Fatal(err)
	}
	return &policy.Stamp{CredentialID: k.Cred.ID, Signature: sig}
}

// Authenticator is a virtual WebAuthn authenticator holding one passkey.
type Authenticator struct {
	Cred   policy.Credential
	signer crypto.Signer
	// Flags to set in authenticator data (UP and UV by default).
	Flags byte
	// Origin the "browser" reports; defaults to the credential's first.
	Origin string
	// SignCount to report.
	SignCount uint32
}

// NewAuthenticator makes a passkey with COSE algorithm alg (-7, -8 or -257)
// for rpID, usable from origins.
func NewAuthenticator(t testing.TB, alg int, rpID string, origins []string, rights ...string) *Authenticator {
	t.Helper()
	var signer crypto.Signer
	var err error
	switch alg {
	case policy.AlgES256:
		signer, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	case policy.AlgEdDSA:
		_, signer, err = ed25519.GenerateKey(rand.Reader)
	case policy.AlgRS256:
		signer, err = rsa.GenerateKey(rand.Reader, 2048)
	default:
		t.Fatalf("unsupported alg %d", alg)
	}
	if err != nil {
		t.Fatal(err)
	}
	spki, err := x509.MarshalPKIXPublicKey(signer.Public())
	if err != nil {
		t.Fatal(err)
	}
	id := make([]byte, 16)
	rand.Read(id)
	return &Authenticator{
		signer: signer,
		Flags:  0x01 | 0x04 | 0x08 | 0x10, // UP, UV, BE, BS: a synced passkey
		Cred: policy.Credential{
			ID: id, Kind: policy.KindPasskey, PublicKey: spki, Alg: alg, RPID: rpID, Origins: origins, Rights: rights,
		},
	}
}

// Assertion returns what navigator.credentials.get returns for challenge.
func (a *Authenticator) Assertion(t testing.TB, challenge []byte) (authData, clientDataJSON, sig []byte) {
	t.Helper()
	origin := a.Origin
	if origin == "" {
		origin = a.Cred.Origins[0]
	}
	clientDataJSON, err := json.Marshal(map[string]any{
		"type":        "webauthn.get",
		"challenge":   base64.RawURLEncoding.EncodeToString(challenge),
		"origin":      origin,
		"crossOrigin": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	rp := sha256.Sum256([]byte(a.Cred.RPID))
	authData = append(rp[:], a.Flags)
	authData = binary.BigEndian.AppendUint32(authData, a.SignCount)
	cdHash := sha256.Sum256(clientDataJSON)
	signed := append(append([]byte{}, authData...), cdHash[:]...)
	switch a.Cred.Alg {
	case policy.AlgEdDSA:
		sig, err = a.signer.Sign(rand.Reader, signed, crypto.Hash(0))
	default:
		h := sha256.Sum256(signed)
		sig, err = a.signer.Sign(rand.Reader, h[:], crypto.SHA256)
	}
	if err != nil {
		t.Fatal(err)
	}
	return authData, clientDataJSON, sig
}

// Stamp returns a passkey stamp for request bytes.
func (a *Authenticator) Stamp(t testing.TB, req []byte) *policy.Stamp {
	t.Helper()
	h := policy.Hash(req)
	ad, cd, sig := a.Assertion(t, h[:])
	return &policy.Stamp{CredentialID: a.Cred.ID, Signature: sig, AuthenticatorData: ad, ClientDataJSON: cd}
}

// Registration returns what navigator.credentials.create returns for
// challenge with "none" attestation: the attestation object (CBOR, with
// the credential's COSE key in its authenticator data) and the client
// data JSON. ES256 passkeys only.
func (a *Authenticator) Registration(t testing.TB, challenge []byte) (attestationObject, clientDataJSON []byte) {
	t.Helper()
	pub, ok := a.signer.Public().(*ecdsa.PublicKey)
	if !ok {
		t.Fatal("Registration makes ES256 passkeys only")
	}
	origin := a.Origin
	if origin == "" {
		origin = a.Cred.Origins[0]
	}
	clientDataJSON, err := json.Marshal(map[string]any{
		"type":        "webauthn.create",
		"challenge":   base64.RawURLEncoding.EncodeToString(challenge),
		"origin":      origin,
		"crossOrigin": false,
	})
	if err != nil {
		t.Fatal(err)
	}
	ecdhPub, err := pub.ECDH()
	if err != nil {
		t.Fatal(err)
	}
	xy := ecdhPub.Bytes()[1:] // uncompressed point without the 0x04 prefix
	coseKey, err := cbor.Marshal(map[int]any{1: 2, 3: policy.AlgES256, -1: 1, -2: xy[:32], -3: xy[32:]})
	if err != nil {
		t.Fatal(err)
	}
	rp := sha256.Sum256([]byte(a.Cred.RPID))
	authData := append(rp[:], a.Flags|0x40) // AT: attested credential data follows
	authData = binary.BigEndian.AppendUint32(authData, a.SignCount)
	authData = append(authData, make([]byte, 16)...) // AAGUID: none
	authData = binary.BigEndian.AppendUint16(authData, uint16(len(a.Cred.ID)))
	authData = append(authData, a.Cred.ID...)
	authData = append(authData, coseKey...)
	attestationObject, err = cbor.Marshal(map[string]any{"fmt": "none", "attStmt": map[string]any{}, "authData": authData})
	if err != nil {
		t.Fatal(err)
	}
	return attestationObject, clientDataJSON
}
