package oidcop

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/niomon/niomon/internal/authdb"
)

// storage is op.Storage over authdb.
type storage struct {
	db       *authdb.DB
	tokens   Digester
	now      func() time.Time
	log      *slog.Logger
	loginURL func(string) string
	keys     *keyring
}

var _ op.Storage = (*storage)(nil)

func (s *storage) digest(purpose, secret string) authdb.Digest {
	return authdb.Digest(s.tokens.Digest(purpose, secret))
}

// newSecret is 32 random bytes in base64url: refresh tokens and client
// secrets.
func newSecret() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on supported platforms
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

// storageErr maps authdb's errors to OpenID errors a client may see,
// logging the cause of anything else.
func (s *storage) storageErr(what string, err error) error {
	switch {
	case errors.Is(err, authdb.ErrNotFound), errors.Is(err, authdb.ErrExpired):
		return oidc.ErrInvalidGrant().WithDescription("%s is unknown or expired", what)
	case errors.Is(err, authdb.ErrRevoked):
		return oidc.ErrInvalidGrant().WithDescription("%s was revoked (it, or a code or token issued with it, was used twice)", what)
	case errors.Is(err, authdb.ErrInvalid):
		return oidc.ErrInvalidRequest().WithDescription("%s is malformed or too large", what)
	}
	s.log.Error("oidc: storage", "what", what, "err", err)
	return oidc.ErrServerError().WithDescription("the server could not complete the request")
}

func (s *storage) authRequest(ctx context.Context, id string) (*authRequest, error) {
	g, err := s.db.GetOIDCGrant(ctx, id, s.now())
	if err != nil {
		return nil, ErrUnknownRequest
	}
	return decodeGrant(g)
}

// client reads app id as an OpenID client.
func (s *storage) client(ctx context.Context, id string) (*client, error) {
	app, err := s.db.GetApp(ctx, id)
	if err != nil {
		return nil, oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	// A pending app still signs in its own developer (the login page
	// checks who); a rejected or suspended one signs in nobody.
	if app.Status == authdb.AppSuspended || app.Status == authdb.AppRejected {
		return nil, oidc.ErrUnauthorizedClient().WithDescription("this app is %s and cannot sign users in", app.Status)
	}
	secret, err := s.db.GetOIDCClient(ctx, id)
	if err != nil && !errors.Is(err, authdb.ErrNotFound) {
		return nil, s.storageErr("the client", err)
	}
	return &client{app: app, confidential: !secret.IsZero(), loginURL: s.loginURL}, nil
}

// --- op.AuthStorage

func (s *storage) CreateAuthRequest(ctx context.Context, ar *oidc.AuthRequest, userID string) (op.AuthRequest, error) {
	c, err := s.client(ctx, ar.ClientID)
	if err != nil {
		return nil, err
	}
	if ar.ResponseMode != "" && ar.ResponseMode != oidc.ResponseModeQuery {
		return nil, oidc.ErrInvalidRequest().WithDescription("only response_mode=query is supported")
	}
	var scopes []string
	for _, sc := range ar.Scopes {
		if !slices.Contains(scopes, sc) {
			scopes = append(scopes, sc)
		}
	}
	if len(strings.Join(scopes, " ")) > authdb.MaxOIDCScopesLen {
		return nil, oidc.ErrInvalidScope().WithDescription("the scopes are too long")
	}
	ar.Scopes = scopes
	if ar.ResponseType != oidc.ResponseTypeCode {
		return nil, oidc.ErrInvalidRequest().WithDescription("only the authorization code flow (response_type=code) is supported")
	}
	switch {
	case ar.CodeChallenge != "" && ar.CodeChallengeMethod != oidc.CodeChallengeMethodS256:
		return nil, oidc.ErrInvalidRequest().WithDescription("code_challenge_method must be S256")
	case !c.confidential && ar.CodeChallenge == "":
		return nil, oidc.ErrInvalidRequest().WithDescription("a public client must use PKCE (code_challenge with S256)")
	}
	req := request{
		ClientID: ar.ClientID, RedirectURI: ar.RedirectURI, Scopes: ar.Scopes, ResponseType: ar.ResponseType,
		ResponseMode: ar.ResponseMode, State: ar.State, Nonce: ar.Nonce, CodeChallenge: ar.CodeChallenge,
		CodeChallengeMethod: ar.CodeChallengeMethod, Prompt: ar.Prompt, MaxAge: ar.MaxAge, LoginHint: ar.LoginHint,
		HintSubject: userID,
	}
	enc, err := json.Marshal(req)
	if err != nil {
		return nil, oidc.ErrServerError()
	}
	now := s.now()
	g := authdb.OIDCGrant{ID: authdb.NewOIDCID(), AppID: ar.ClientID, Request: enc, CreatedAt: now, ExpiresAt: now.Add(RequestLifetime)}
	if err := s.db.CreateOIDCGrant(ctx, g); err != nil {
		return nil, s.storageErr("the authorization request", err)
	}
	return decodeGrant(g)
}

func (s *storage) AuthRequestByID(ctx context.Context, id string) (op.AuthRequest, error) {
	return s.authRequest(ctx, id)
}

// AuthRequestByCode reads the request a code was issued for and changes
// nothing: op checks the client, its authentication, the redirect URI
// and PKCE next, and only then asks for tokens, which spends the code
// (spendCode). So someone who saw a code can neither burn it nor, once
// it was used, revoke what it gave; a second use by the client itself
// revokes its grant.
func (s *storage) AuthRequestByCode(ctx context.Context, code string) (op.AuthRequest, error) {
	d := s.digest(purposeCode, code)
	g, err := s.db.GetOIDCGrantByCode(ctx, d, s.now())
	if err != nil {
		return nil, s.storageErr("the code", err)
	}
	if g.UserID == "" {
		return nil, oidc.ErrInvalidGrant().WithDescription("the code was not approved")
	}
	ar, err := decodeGrant(g)
	if err != nil {
		return nil, err
	}
	ar.code = d
	return ar, nil
}

// spendCode spends the code ar was read by, if any: a second use revokes
// the grant and is refused.
func (s *storage) spendCode(ctx context.Context, ar *authRequest) error {
	if ar.code.IsZero() {
		return nil
	}
	now := s.now()
	g, err := s.db.SpendOIDCCode(ctx, ar.code, now, now.Add(RefreshTokenLifetime))
	if err != nil {
		if errors.Is(err, authdb.ErrRevoked) {
			s.log.Warn("oidc: a code was used twice; its grant is revoked", "grant", ar.g.ID)
		}
		return s.storageErr("the code", err)
	}
	ar.g, ar.code = g, authdb.Digest{}
	return nil
}

// appAllows reports whether app may still give userID's data to its
// client: a verified app for anyone, a pending one only for its
// developer, a rejected or suspended one for nobody.
func (s *storage) appAllows(ctx context.Context, appID, userID string) error {
	app, err := s.db.GetApp(ctx, appID)
	if err != nil {
		return oidc.ErrInvalidClient().WithDescription("unknown client")
	}
	switch {
	case app.Status == authdb.AppSuspended || app.Status == authdb.AppRejected:
		return oidc.ErrUnauthorizedClient().WithDescription("this app is %s", app.Status)
	case app.Status != authdb.AppVerified && userID != app.OwnerID:
		return oidc.ErrAccessDenied().WithDescription("this app is not verified: it may sign in only its developer")
	}
	return nil
}

// issuable spends ar's code (if it came by one) and checks that the app
// may still give the user's data.
func (s *storage) issuable(ctx context.Context, tr op.TokenRequest) (*authRequest, error) {
	ar, ok := grantOf(tr)
	if !ok {
		return nil, oidc.ErrUnsupportedGrantType()
	}
	if err := s.appAllows(ctx, ar.g.AppID, ar.g.UserID); err != nil {
		return nil, err
	}
	if err := s.spendCode(ctx, ar); err != nil {
		return nil, err
	}
	return ar, nil
}

func (s *storage) SaveAuthCode(ctx context.Context, id, code string) error {
	if err := s.db.SetOIDCCode(ctx, id, s.digest(purposeCode, code)); err != nil {
		return s.storageErr("the authorization request", err)
	}
	return nil
}

// DeleteAuthRequest keeps the grant: its tokens hang off it, and a later
// use of its code must find it to revoke them.
func (s *storage) DeleteAuthRequest(context.Context, string) error { return nil }

func (s *storage) CreateAccessToken(ctx context.Context, tr op.TokenRequest) (string, time.Time, error) {
	ar, err := s.issuable(ctx, tr)
	if err != nil {
		return "", time.Time{}, err
	}
	now := s.now()
	t := authdb.OIDCToken{ID: authdb.NewOIDCID(), GrantID: ar.g.ID, Kind: "access", Scopes: strings.Join(tr.GetScopes(), " "),
		CreatedAt: now, ExpiresAt: now.Add(AccessTokenLifetime)}
	if err := s.db.CreateOIDCTokens(ctx, authdb.Digest{}, now, t); err != nil {
		return "", time.Time{}, s.storageErr("the grant", err)
	}
	return t.ID, t.ExpiresAt, nil
}

// CreateAccessAndRefreshTokens issues an access token and a refresh
// token; with current, a refresh: current is spent in the same
// transaction, and if it was spent already, the grant is revoked.
func (s *storage) CreateAccessAndRefreshTokens(ctx context.Context, tr op.TokenRequest, current string) (string, string, time.Time, error) {
	ar, err := s.issuable(ctx, tr)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := s.now()
	scopes := strings.Join(tr.GetScopes(), " ")
	refresh := newSecret()
	at := authdb.OIDCToken{ID: authdb.NewOIDCID(), GrantID: ar.g.ID, Kind: "access", Scopes: scopes, CreatedAt: now, ExpiresAt: now.Add(AccessTokenLifetime)}
	rt := authdb.OIDCToken{ID: authdb.NewOIDCID(), GrantID: ar.g.ID, Kind: "refresh", Digest: s.digest(purposeRefresh, refresh), Scopes: scopes,
		CreatedAt: now, ExpiresAt: now.Add(RefreshTokenLifetime)}
	var spent authdb.Digest
	if current != "" {
		spent = s.digest(purposeRefresh, current)
	}
	if err := s.db.CreateOIDCTokens(ctx, spent, now, at, rt); err != nil {
		if errors.Is(err, authdb.ErrRevoked) && !spent.IsZero() {
			s.log.Warn("oidc: a refresh token was used twice; its grant is revoked", "grant", ar.g.ID)
		}
		if errors.Is(err, authdb.ErrRevoked) || errors.Is(err, authdb.ErrNotFound) {
			return "", "", time.Time{}, oidc.ErrInvalidGrant().WithDescription("the refresh token was used before, or its grant ended; the grant is revoked")
		}
		return "", "", time.Time{}, s.storageErr("the grant", err)
	}
	return at.ID, refresh, at.ExpiresAt, nil
}

func (s *storage) TokenRequestByRefreshToken(ctx context.Context, token string) (op.RefreshTokenRequest, error) {
	// A used token comes back too: op authenticates the client next, and
	// spending it again (CreateAccessAndRefreshTokens) revokes its grant.
	t, g, err := s.db.GetOIDCRefreshToken(ctx, s.digest(purposeRefresh, token), s.now())
	if err != nil {
		return nil, op.ErrInvalidRefreshToken
	}
	ar, err := decodeGrant(g)
	if err != nil {
		return nil, err
	}
	return &refreshRequest{authRequest: *ar, tokenID: t.ID, scopes: strings.Fields(t.Scopes)}, nil
}

// TerminateSession ends the user's grants to the app (RP-initiated
// logout). The user's Niomon session is theirs, and stays.
func (s *storage) TerminateSession(ctx context.Context, userID, clientID string) error {
	if userID == "" { // no id_token_hint: nothing names whose grants to end
		return nil
	}
	if _, err := s.db.RevokeOIDCGrants(ctx, userID, clientID, s.now()); err != nil {
		return s.storageErr("the session", err)
	}
	return nil
}

// RevokeToken ends a token of clientID's (RFC 7009): an access token
// alone; a refresh token with its whole grant. Someone else's token, or
// an unknown one, is answered the same way and left alone.
func (s *storage) RevokeToken(ctx context.Context, tokenID, userID, clientID string) *oidc.Error {
	t, g, err := s.db.GetOIDCToken(ctx, tokenID, s.now())
	switch {
	case errors.Is(err, authdb.ErrNotFound), errors.Is(err, authdb.ErrRevoked), errors.Is(err, authdb.ErrExpired), errors.Is(err, authdb.ErrInvalid):
		return nil
	case err != nil:
		return oidc.ErrServerError()
	case g.AppID != clientID || (userID != "" && g.UserID != userID):
		return nil
	}
	if t.Kind == "refresh" {
		err = s.db.RevokeOIDCGrant(ctx, g.ID, s.now())
	} else {
		err = s.db.RevokeOIDCToken(ctx, t.ID, s.now())
	}
	if err != nil {
		return oidc.ErrServerError()
	}
	return nil
}

func (s *storage) GetRefreshTokenInfo(ctx context.Context, clientID, token string) (string, string, error) {
	t, g, err := s.db.GetOIDCRefreshToken(ctx, s.digest(purposeRefresh, token), s.now())
	if err != nil || g.AppID != clientID || !t.UsedAt.IsZero() {
		return "", "", op.ErrInvalidRefreshToken
	}
	return g.UserID, t.ID, nil
}

func (s *storage) SigningKey(ctx context.Context) (op.SigningKey, error) {
	k, err := s.keys.signing(ctx)
	if err != nil {
		s.log.Error("oidc: signing key", "err", err)
		return nil, oidc.ErrServerError().WithDescription("no signing key")
	}
	return k, nil
}

func (s *storage) SignatureAlgorithms(context.Context) ([]jose.SignatureAlgorithm, error) {
	return []jose.SignatureAlgorithm{jose.ES256}, nil
}

func (s *storage) KeySet(ctx context.Context) ([]op.Key, error) {
	if _, err := s.keys.signing(ctx); err != nil { // the first key exists before it is published
		return nil, err
	}
	return s.keys.published(ctx)
}

// --- op.OPStorage

func (s *storage) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	return s.client(ctx, id)
}

func (s *storage) AuthorizeClientIDSecret(ctx context.Context, id, secret string) error {
	want, err := s.db.GetOIDCClient(ctx, id)
	if err != nil || want.IsZero() || !want.Equal(s.digest(purposeClientSecret, secret)) {
		return oidc.ErrInvalidClient().WithDescription("client authentication failed")
	}
	if app, err := s.db.GetApp(ctx, id); err != nil || app.Status == authdb.AppSuspended || app.Status == authdb.AppRejected {
		return oidc.ErrUnauthorizedClient().WithDescription("this app may not sign users in")
	}
	return nil
}

// SetUserinfoFromScopes fills the claims the scopes ask for: the subject
// always; email; the wallet's addresses.
func (s *storage) SetUserinfoFromScopes(ctx context.Context, ui *oidc.UserInfo, userID, _ string, scopes []string) error {
	ui.Subject = userID
	if slices.Contains(scopes, oidc.ScopeEmail) {
		emails, err := s.db.ListEmails(ctx, userID)
		if err != nil {
			return s.storageErr("the user", err)
		}
		for _, e := range emails {
			if !e.VerifiedAt.IsZero() {
				ui.Email, ui.EmailVerified = e.Email, true
				break
			}
		}
	}
	if slices.Contains(scopes, ScopeWallet) {
		addrs, err := s.db.ListAddresses(ctx, userID)
		if err != nil {
			return s.storageErr("the user", err)
		}
		claims := []map[string]string{}
		for _, a := range addrs {
			if len(claims) == maxWalletClaims {
				break
			}
			claims = append(claims, map[string]string{"chain": a.Chain, "path": a.Path, "address": a.Address})
		}
		ui.AppendClaims(ClaimWalletAddresses, claims)
	}
	return nil
}

// SetUserinfoFromToken answers userinfo for a live access token of a
// client that may still sign users in.
func (s *storage) SetUserinfoFromToken(ctx context.Context, ui *oidc.UserInfo, tokenID, subject, _ string) error {
	t, g, err := s.db.GetOIDCToken(ctx, tokenID, s.now())
	if err != nil || t.Kind != "access" || g.UserID != subject {
		return oidc.ErrInvalidRequest().WithDescription("the access token is invalid, expired or revoked")
	}
	if err := s.appAllows(ctx, g.AppID, g.UserID); err != nil {
		return err
	}
	return s.SetUserinfoFromScopes(ctx, ui, subject, g.AppID, strings.Fields(t.Scopes))
}

func (s *storage) SetIntrospectionFromToken(ctx context.Context, ir *oidc.IntrospectionResponse, tokenID, subject, clientID string) error {
	t, g, err := s.db.GetOIDCToken(ctx, tokenID, s.now())
	if err != nil || g.UserID != subject || g.AppID != clientID || s.appAllows(ctx, g.AppID, g.UserID) != nil {
		return oidc.ErrInvalidRequest().WithDescription("the token is invalid, expired or revoked")
	}
	ir.Active, ir.Scope, ir.ClientID, ir.Subject = true, strings.Fields(t.Scopes), g.AppID, g.UserID
	ir.Expiration, ir.IssuedAt = oidc.FromTime(t.ExpiresAt), oidc.FromTime(t.CreatedAt)
	return nil
}

func (s *storage) GetPrivateClaimsFromScopes(context.Context, string, string, []string) (map[string]any, error) {
	return nil, nil
}

func (s *storage) GetKeyByIDAndClientID(context.Context, string, string) (*jose.JSONWebKey, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("JWT profile grants are not supported")
}

func (s *storage) ValidateJWTProfileScopes(context.Context, string, []string) ([]string, error) {
	return nil, oidc.ErrUnsupportedGrantType().WithDescription("JWT profile grants are not supported")
}

func (s *storage) Health(ctx context.Context) error { return s.db.Ping(ctx) }
