package server

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"net/http"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
)

// challengeTTL is how long an API-key challenge may be signed and used.
const challengeTTL = 2 * time.Minute

var errAPIKey = apiErr(http.StatusUnauthorized, CodeUnauthorized, "the API key, challenge or signature is not valid")

type apiKeyFlow struct {
	Nonce []byte `json:"n"`
}

// apiKeyChallenge hands out a challenge to sign: a sealed flow, spent by
// the sign-up or login that uses it.
func (s *Server) apiKeyChallenge(w http.ResponseWriter, r *http.Request, _ *auth) error {
	nonce := make([]byte, 16)
	rand.Read(nonce)
	tok, err := s.sealFlow(flowAPIKey, apiKeyFlow{Nonce: nonce}, challengeTTL)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nioapi.APIKeyChallenge{Challenge: []byte(tok), ExpiresIn: int(challengeTTL / time.Second)})
	return nil
}

// p256Key parses a DER SubjectPublicKeyInfo holding a P-256 key.
func p256Key(spki []byte) (*ecdsa.PublicKey, error) {
	if len(spki) == 0 || len(spki) > authdb.MaxSPKILen {
		return nil, badRequest("public_key: want a P-256 key as DER SubjectPublicKeyInfo")
	}
	k, err := x509.ParsePKIXPublicKey(spki)
	pk, ok := k.(*ecdsa.PublicKey)
	if err != nil || !ok || pk.Curve != elliptic.P256() {
		return nil, badRequest("public_key: want a P-256 key as DER SubjectPublicKeyInfo")
	}
	return pk, nil
}

// checkChallenge verifies the signature over the challenge and spends it.
func (s *Server) checkChallenge(r *http.Request, pk *ecdsa.PublicKey, in *nioapi.APIKeySignIn) error {
	var f apiKeyFlow
	created, err := s.openFlow(flowAPIKey, string(in.Challenge), &f)
	if err != nil {
		return errAPIKey
	}
	h := sha256.Sum256(append([]byte(nioapi.APIKeySignedText), in.Challenge...))
	if !ecdsa.VerifyASN1(pk, h[:], in.Signature) {
		return errAPIKey
	}
	if err := s.spendFlow(r.Context(), string(in.Challenge), created); err != nil {
		if errors.Is(err, errFlow) {
			return errAPIKey
		}
		return err
	}
	return nil
}

// apiKeySignup makes a pending user for a new API key and answers with a
// bearer session. The key is then the user's credential for creating the
// wallet (POST /v1/wallet, stamped by the key).
func (s *Server) apiKeySignup(w http.ResponseWriter, r *http.Request, _ *auth) error {
	var in nioapi.APIKeySignIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.KeyID != "" {
		return badRequest("key_id: not for sign-up (send public_key)")
	}
	pk, err := p256Key(in.PublicKey)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	if err := s.allow(ctx, "signups_per_ip", s.limitIP(r)); err != nil {
		return err
	}
	if err := s.checkChallenge(r, pk, &in); err != nil {
		return err
	}
	if _, err := s.db.GetAPIKey(ctx, authdb.KeyID(in.PublicKey)); err == nil || errors.Is(err, authdb.ErrRevoked) {
		return apiErr(http.StatusConflict, CodeConflict, "this key already belongs to an account; log in with it")
	} else if !errors.Is(err, authdb.ErrNotFound) {
		return err
	}
	u, err := s.db.CreateUser(ctx, authdb.NewUser{}, now)
	if err != nil {
		return err
	}
	k, err := s.db.CreateAPIKey(ctx, u.ID, in.PublicKey, "sign-up key", now)
	if err != nil {
		// Nothing answered yet: take the user back (the cleanup would).
		if derr := s.db.DeletePendingUser(ctx, u.ID); derr != nil {
			s.log.Error("removing a user whose sign-up failed", "request_id", requestID(r), "err", derr)
		}
		if errors.Is(err, authdb.ErrExists) {
			return apiErr(http.StatusConflict, CodeConflict, "this key already belongs to an account; log in with it")
		}
		return err
	}
	return s.signInWith(w, r, u, true, true, "signup.api_key", k.ID)
}

// apiKeyAdd registers another API key for the signed-in user, with the
// same proof of possession as a sign-up. Using it with the wallet is the
// user's own policy change (POST /v1/wallet/policy).
func (s *Server) apiKeyAdd(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in nioapi.APIKeySignIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.KeyID != "" {
		return badRequest("key_id: not for adding a key (send public_key)")
	}
	pk, err := p256Key(in.PublicKey)
	if err != nil {
		return err
	}
	if err := s.checkChallenge(r, pk, &in); err != nil {
		return err
	}
	k, err := s.db.CreateAPIKey(r.Context(), a.user.ID, in.PublicKey, "added key", s.now())
	if errors.Is(err, authdb.ErrExists) {
		return apiErr(http.StatusConflict, CodeConflict, "this key is registered already")
	}
	if err != nil {
		return err
	}
	s.audit(r, a.user.ID, "api_key.added", nil)
	id, _ := hex.DecodeString(k.ID)
	writeJSON(w, http.StatusOK, nioapi.Device{Kind: policy.KindAPIKey, ID: id, Label: k.Label, CreatedAt: k.CreatedAt})
	return nil
}

// apiKeyLogin signs in with an API key: a bearer session.
func (s *Server) apiKeyLogin(w http.ResponseWriter, r *http.Request, _ *auth) error {
	var in nioapi.APIKeySignIn
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	if in.PublicKey != nil {
		return badRequest("public_key: not for login (send key_id)")
	}
	if len(in.KeyID) != 64 {
		return badRequest("key_id: want the hex SHA-256 of the key's SubjectPublicKeyInfo")
	}
	ctx := r.Context()
	k, err := s.db.GetAPIKey(ctx, in.KeyID)
	if errors.Is(err, authdb.ErrNotFound) || errors.Is(err, authdb.ErrRevoked) || errors.Is(err, authdb.ErrInvalid) {
		return s.apiKeyFailed(r)
	}
	if err != nil {
		return err
	}
	pk, err := p256Key(k.SPKI)
	if err != nil {
		return err
	}
	if err := s.checkChallenge(r, pk, &in); err != nil {
		if errors.Is(err, errAPIKey) {
			return s.apiKeyFailed(r)
		}
		return err
	}
	u, err := s.db.GetUser(ctx, k.UserID)
	if err != nil {
		return err
	}
	return s.signInWith(w, r, u, true, false, "signin.api_key", k.ID)
}

// apiKeyFailed counts a failed API-key sign-in against the caller's IP
// (a signature cannot be guessed; the limit bounds the work) and refuses.
func (s *Server) apiKeyFailed(r *http.Request) error {
	if err := s.allow(r.Context(), "verify_per_ip", s.limitIP(r)); err != nil {
		return err
	}
	return errAPIKey
}

// b64 is the standard base64 of b, for log-free ids in answers.
func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
