package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"os"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// signedSecretTTL is the life of each signed client secret. One is made
// for every code exchange, so it only has to outlive that request.
const signedSecretTTL = 5 * time.Minute

// secretSigner makes the client secret of a provider that wants a JWT
// signed by the client instead of a fixed string, as Sign in with Apple
// does: ES256, header kid = the key id; claims iss = the team id,
// sub = the client id, aud = the provider's issuer, iat and exp.
type secretSigner struct {
	teamID, clientID, audience string
	signer                     jose.Signer
}

// newSecretSigner reads the provider's signing key: a PKCS#8 PEM file
// holding a P-256 private key (Apple's .p8 file). setting names the
// provider's config entry in errors.
func newSecretSigner(setting string, c SignedClientSecret, clientID, audience string) (*secretSigner, error) {
	if c.TeamID == "" || c.KeyID == "" || c.PrivateKeyFile == "" {
		return nil, &SettingError{setting + ".signed_client_secret", "needs team_id, key_id and private_key_file"}
	}
	b, err := os.ReadFile(c.PrivateKeyFile)
	if err != nil {
		return nil, &SettingError{setting + ".signed_client_secret.private_key_file", "cannot be read"}
	}
	block, _ := pem.Decode(b)
	if block == nil || block.Type != "PRIVATE KEY" {
		return nil, &SettingError{setting + ".signed_client_secret.private_key_file", "want a PEM \"PRIVATE KEY\" (PKCS#8) block"}
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, &SettingError{setting + ".signed_client_secret.private_key_file", "not a PKCS#8 private key"}
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok || ek.Curve != elliptic.P256() {
		return nil, &SettingError{setting + ".signed_client_secret.private_key_file", "want a P-256 (ES256) key"}
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.ES256, Key: ek},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", c.KeyID))
	if err != nil {
		return nil, fmt.Errorf("server: %s: %w", setting, err)
	}
	return &secretSigner{teamID: c.TeamID, clientID: clientID, audience: audience, signer: sig}, nil
}

// secretSkew backdates iat, so that a provider whose clock is behind
// ours does not see a secret issued in its future.
const secretSkew = time.Minute

// secret makes a client secret valid from now for signedSecretTTL.
func (s *secretSigner) secret(now time.Time) (string, error) {
	return jwt.Signed(s.signer).Claims(jwt.Claims{
		Issuer:   s.teamID,
		Subject:  s.clientID,
		Audience: jwt.Audience{s.audience},
		IssuedAt: jwt.NewNumericDate(now.Add(-secretSkew)),
		Expiry:   jwt.NewNumericDate(now.Add(signedSecretTTL)),
	}).Serialize()
}
