package server

import (
	"bytes"
	"crypto/rand"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"time"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/protocol/webauthncose"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/policy"
)

// ceremonyTTL is how long a WebAuthn ceremony may take.
const ceremonyTTL = 5 * time.Minute

var errPasskey = apiErr(http.StatusUnauthorized, CodeUnauthorized, "the passkey could not be verified")

// waUser is a user as go-webauthn sees one.
type waUser struct {
	handle []byte
	name   string
	creds  []webauthn.Credential
}

func (u *waUser) WebAuthnID() []byte                         { return u.handle }
func (u *waUser) WebAuthnName() string                       { return u.name }
func (u *waUser) WebAuthnDisplayName() string                { return u.name }
func (u *waUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

// passkeyFlow is a ceremony's sealed state.
type passkeyFlow struct {
	Session webauthn.SessionData `json:"s"`
	Handle  []byte               `json:"h,omitempty"`
	UserID  string               `json:"u,omitempty"` // adding a passkey: the signed-in user
}

// es256Only: a passkey must be able to stamp wallet requests, and the
// wallet policy checks ES256 assertions.
var es256Only = webauthn.WithCredentialParameters([]protocol.CredentialParameter{
	{Type: protocol.PublicKeyCredentialType, Algorithm: webauthncose.AlgES256},
})

func (s *Server) beginRegistration(w http.ResponseWriter, u *waUser, userID string) error {
	var excl []protocol.CredentialDescriptor
	for _, c := range u.creds {
		excl = append(excl, c.Descriptor())
	}
	creation, session, err := s.wa.BeginRegistration(u, es256Only,
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired),
		webauthn.WithExclusions(excl))
	if err != nil {
		return err
	}
	flow, err := s.sealFlow(flowPasskeyReg, passkeyFlow{Session: *session, Handle: u.handle, UserID: userID}, ceremonyTTL)
	if err != nil {
		return err
	}
	opts, err := json.Marshal(creation)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nioapi.PasskeyBegin{Flow: flow, Options: opts})
	return nil
}

// finishRegistration checks an attestation against its flow, spends the
// flow, and returns the passkey to store.
func (s *Server) finishRegistration(r *http.Request, in *nioapi.PasskeyFinish, u *waUser, f *passkeyFlow, created time.Time) (authdb.Passkey, error) {
	parsed, err := protocol.ParseCredentialCreationResponseBytes(in.Credential)
	if err != nil {
		return authdb.Passkey{}, badRequest("credential: not a WebAuthn registration response")
	}
	cred, err := s.wa.CreateCredential(u, f.Session, parsed)
	if err != nil {
		return authdb.Passkey{}, apiErr(http.StatusBadRequest, CodeInvalidRequest, "the passkey registration did not verify")
	}
	spki, err := coseToSPKI(cred.PublicKey)
	if err != nil {
		return authdb.Passkey{}, badRequest("the passkey's key is not ES256")
	}
	if err := s.spendFlow(r.Context(), in.Flow, created); err != nil {
		if errors.Is(err, errFlow) {
			return authdb.Passkey{}, badRequest("flow: already used")
		}
		return authdb.Passkey{}, err
	}
	p := authdb.Passkey{
		CredentialID: cred.ID, PublicKey: cred.PublicKey, SPKI: spki, Alg: int64(webauthncose.AlgES256),
		SignCount: cred.Authenticator.SignCount, BackupEligible: cred.Flags.BackupEligible,
		BackupState: cred.Flags.BackupEligible && cred.Flags.BackupState, AttestationFormat: cred.AttestationFormat,
	}
	for _, t := range cred.Transport {
		p.Transports = append(p.Transports, string(t))
	}
	copy(p.AAGUID[:], cred.Authenticator.AAGUID)
	if p.AttestationFormat == "" {
		p.AttestationFormat = "none"
	}
	return p, nil
}

func coseToSPKI(cose []byte) ([]byte, error) {
	k, err := webauthncose.ParsePublicKey(cose)
	if err != nil {
		return nil, err
	}
	ec, ok := k.(webauthncose.EC2PublicKeyData)
	if !ok || ec.Algorithm != int64(webauthncose.AlgES256) {
		return nil, errors.New("not an ES256 key")
	}
	pk, err := ec.ToECDSA()
	if err != nil {
		return nil, err
	}
	return x509.MarshalPKIXPublicKey(pk)
}

// passkeySignupBegin starts making an account whose first credential is a
// new discoverable passkey.
func (s *Server) passkeySignupBegin(w http.ResponseWriter, r *http.Request, _ *auth) error {
	if err := s.allow(r.Context(), "signups_per_ip", s.limitIP(r)); err != nil {
		return err
	}
	handle := make([]byte, 32)
	rand.Read(handle)
	return s.beginRegistration(w, &waUser{handle: handle, name: "Niomon account"}, "")
}

// passkeySignupFinish verifies the new passkey and makes the (pending)
// user with it.
func (s *Server) passkeySignupFinish(w http.ResponseWriter, r *http.Request, _ *auth) error {
	var in nioapi.PasskeyFinish
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var f passkeyFlow
	created, err := s.openFlow(flowPasskeyReg, in.Flow, &f)
	if err != nil || f.UserID != "" {
		return badRequest("flow: expired or not a sign-up; start again")
	}
	p, err := s.finishRegistration(r, &in, &waUser{handle: f.Handle, name: "Niomon account"}, &f, created)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	u, err := s.db.CreateUser(ctx, authdb.NewUser{WebAuthnHandle: f.Handle}, now)
	if err != nil {
		return err
	}
	p.UserID = u.ID
	if _, err := s.db.CreatePasskey(ctx, p, now); err != nil {
		if derr := s.db.DeletePendingUser(ctx, u.ID); derr != nil {
			s.log.Error("removing a user whose sign-up failed", "request_id", requestID(r), "err", derr)
		}
		if errors.Is(err, authdb.ErrExists) {
			return apiErr(http.StatusConflict, CodeConflict, "this passkey is registered already; sign in with it")
		}
		return err
	}
	return s.signIn(w, r, u, in.Bearer, true, "signup.passkey")
}

// passkeyAddBegin starts adding a passkey to the signed-in user.
func (s *Server) passkeyAddBegin(w http.ResponseWriter, r *http.Request, a *auth) error {
	u, err := s.waUserOf(r, a.user)
	if err != nil {
		return err
	}
	return s.beginRegistration(w, u, a.user.ID)
}

// passkeyAddFinish stores the new passkey. Making it a wallet credential
// is the user's own policy change (POST /v1/wallet/policy).
func (s *Server) passkeyAddFinish(w http.ResponseWriter, r *http.Request, a *auth) error {
	var in nioapi.PasskeyFinish
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var f passkeyFlow
	created, err := s.openFlow(flowPasskeyReg, in.Flow, &f)
	if err != nil || f.UserID != a.user.ID {
		return badRequest("flow: expired or not yours; start again")
	}
	u, err := s.waUserOf(r, a.user)
	if err != nil {
		return err
	}
	p, err := s.finishRegistration(r, &in, u, &f, created)
	if err != nil {
		return err
	}
	p.UserID = a.user.ID
	p, err = s.db.CreatePasskey(r.Context(), p, s.now())
	if errors.Is(err, authdb.ErrExists) {
		return apiErr(http.StatusConflict, CodeConflict, "this passkey is registered already")
	}
	if err != nil {
		return err
	}
	s.audit(r, a.user.ID, "passkey.added", nil)
	writeJSON(w, http.StatusOK, passkeyView(p))
	return nil
}

// passkeyLoginBegin starts a discoverable (username-less) sign-in.
func (s *Server) passkeyLoginBegin(w http.ResponseWriter, r *http.Request, _ *auth) error {
	assertion, session, err := s.wa.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationPreferred))
	if err != nil {
		return err
	}
	// The client signs a hash of the challenge it is given, not the
	// challenge itself (nioapi.SignInChallenge), so that a sign-in
	// assertion can never be a stamp of a wallet request, whatever a
	// server puts in the options.
	session.Challenge = base64.RawURLEncoding.EncodeToString(nioapi.SignInChallenge(assertion.Response.Challenge))
	flow, err := s.sealFlow(flowPasskeyAuth, passkeyFlow{Session: *session}, ceremonyTTL)
	if err != nil {
		return err
	}
	opts, err := json.Marshal(assertion)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nioapi.PasskeyBegin{Flow: flow, Options: opts})
	return nil
}

// passkeyLoginFinish verifies the assertion, records the credential's use
// (sign count, backup state: BS may change, BE may not), and signs in.
func (s *Server) passkeyLoginFinish(w http.ResponseWriter, r *http.Request, _ *auth) error {
	var in nioapi.PasskeyFinish
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	var f passkeyFlow
	created, err := s.openFlow(flowPasskeyAuth, in.Flow, &f)
	if err != nil {
		return badRequest("flow: expired; start again")
	}
	parsed, err := protocol.ParseCredentialRequestResponseBytes(in.Credential)
	if err != nil {
		return badRequest("credential: not a WebAuthn assertion")
	}
	ctx := r.Context()
	if err := s.allow(ctx, "verify_per_ip", s.limitIP(r)); err != nil {
		return err
	}
	var owner authdb.User
	handler := func(rawID, userHandle []byte) (webauthn.User, error) {
		pk, err := s.db.GetPasskey(ctx, rawID)
		if err != nil {
			return nil, err
		}
		owner, err = s.db.GetUser(ctx, pk.UserID)
		if err != nil {
			return nil, err
		}
		return s.waUserOf(r, owner)
	}
	_, cred, err := s.wa.ValidatePasskeyLogin(handler, f.Session, parsed)
	if err != nil {
		return errPasskey
	}
	if cred.Authenticator.CloneWarning {
		s.log.Warn("passkey sign count went backwards; refusing", "request_id", requestID(r), "user", owner.ID)
		return errPasskey
	}
	if err := s.spendFlow(ctx, in.Flow, created); err != nil {
		if errors.Is(err, errFlow) {
			return errPasskey
		}
		return err
	}
	flags := parsed.Response.AuthenticatorData.Flags
	if err := s.db.UpdatePasskeyUse(ctx, cred.ID, cred.Authenticator.SignCount, flags.HasBackupState(), s.now()); err != nil {
		return err
	}
	return s.signIn(w, r, owner, in.Bearer, false, "signin.passkey")
}

// waUserOf loads a user's passkeys for go-webauthn.
func (s *Server) waUserOf(r *http.Request, u authdb.User) (*waUser, error) {
	pks, err := s.db.ListPasskeys(r.Context(), u.ID)
	if err != nil {
		return nil, err
	}
	wu := &waUser{handle: u.WebAuthnHandle, name: "Niomon account"}
	for _, p := range pks {
		c := webauthn.Credential{
			ID: p.CredentialID, PublicKey: p.PublicKey, AttestationFormat: p.AttestationFormat,
			Flags: webauthn.CredentialFlags{UserPresent: true, BackupEligible: p.BackupEligible, BackupState: p.BackupState},
		}
		c.Authenticator.SignCount = p.SignCount
		c.Authenticator.AAGUID = bytes.Clone(p.AAGUID[:])
		for _, t := range p.Transports {
			c.Transport = append(c.Transport, protocol.AuthenticatorTransport(t))
		}
		wu.creds = append(wu.creds, c)
	}
	return wu, nil
}

// passkeyList answers the user's passkeys with what a client needs to
// enrol one in the wallet policy (its SPKI public key).
func (s *Server) passkeyList(w http.ResponseWriter, r *http.Request, a *auth) error {
	pks, err := s.db.ListPasskeys(r.Context(), a.user.ID)
	if err != nil {
		return err
	}
	out := []nioapi.Passkey{}
	for _, p := range pks {
		out = append(out, passkeyView(p))
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func passkeyView(p authdb.Passkey) nioapi.Passkey {
	return nioapi.Passkey{
		CredentialID: p.CredentialID, PublicKey: p.SPKI, Alg: policy.AlgES256,
		BackupEligible: p.BackupEligible, BackupState: p.BackupState,
		CreatedAt: p.CreatedAt, LastUsed: p.LastUsedAt,
	}
}
