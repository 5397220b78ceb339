// Package oidcop is Niomon's OpenID Provider ("Login with Niomon"):
// zitadel/oidc's op over the provider's tables in authdb. It holds no
// user session of its own: the server's login page (LoginPath) signs the
// user in, checks the app's vetting and the redirect's phishing verdict,
// asks for consent, and then calls Approve or Deny.
//
// What this package adds to op: codes and refresh tokens are stored only
// as keyed digests, each is spent once, and a second use revokes the
// grant and every token issued from it (RFC 6749 4.1.2 and the refresh
// token rotation of the OAuth 2.0 Security BCP); public clients must use
// PKCE with S256; signing keys are sealed in the database and rotated;
// and the authorization response is produced only by the login page of
// the browser that approved it (op's /authorize/callback, which anyone
// holding a request id could call, is not served).
package oidcop

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/zitadel/oidc/v3/pkg/oidc"
	"github.com/zitadel/oidc/v3/pkg/op"
	"golang.org/x/text/language"

	"github.com/niomon/niomon/internal/authdb"
)

// Scopes and claims beyond OpenID Connect's.
const (
	// ScopeWallet asks for the user's wallet addresses
	// (ClaimWalletAddresses) in the ID token and userinfo.
	ScopeWallet          = "wallet"
	ClaimWalletAddresses = "wallet_addresses"
)

// Lifetimes.
const (
	// RequestLifetime bounds an authorization request from its start to
	// the code's exchange.
	RequestLifetime      = 10 * time.Minute
	AccessTokenLifetime  = time.Hour
	IDTokenLifetime      = time.Hour
	RefreshTokenLifetime = 30 * 24 * time.Hour
	// maxWalletClaims bounds the addresses an ID token carries.
	maxWalletClaims = 32
)

// Digester computes keyed digests (the server's token key): of codes,
// refresh tokens and client secrets before they are stored, and of the
// provider's own keys.
type Digester interface {
	Digest(purpose, secret string) [32]byte
}

// Purposes of digests.
const (
	purposeCode         = "oidc-code"
	purposeRefresh      = "oidc-refresh-token"
	purposeClientSecret = "oidc-client-secret"
	purposeAccessCrypto = "oidc-access-token-crypto"
	purposeKeySeal      = "oidc-signing-key-seal"
)

// Config is what a Provider runs on.
type Config struct {
	// Issuer is the provider's issuer URL: the server's public URL with
	// IssuerPath.
	Issuer string
	// LoginURL is the server's page for a request id.
	LoginURL func(id string) string
	DB       *authdb.DB
	Tokens   Digester
	Log      *slog.Logger
	// Now is the clock for the stored state (time.Now when nil). op
	// itself stamps tokens with the real clock.
	Now func() time.Time
}

// IssuerPath is where the server mounts the provider.
const IssuerPath = "/oidc"

// Provider is the OpenID Provider.
type Provider struct {
	op      *op.Provider
	st      *storage
	issuer  string
	handler http.Handler
}

// New builds the provider. It does not touch the database.
func New(cfg Config) (*Provider, error) {
	if cfg.DB == nil || cfg.Tokens == nil || cfg.LoginURL == nil {
		return nil, errors.New("oidcop: DB, Tokens and LoginURL are required")
	}
	u, err := url.Parse(cfg.Issuer)
	if err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http") {
		return nil, errors.New("oidcop: the issuer must be an absolute http(s) URL")
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	st := &storage{db: cfg.DB, tokens: cfg.Tokens, now: cfg.Now, log: cfg.Log, loginURL: cfg.LoginURL,
		keys: newKeyring(cfg.DB, cfg.Tokens, cfg.Now, cfg.Log)}
	crypto := cfg.Tokens.Digest(purposeAccessCrypto, "aes-256-gcm")
	defer clear(crypto[:])
	opc := &op.Config{
		CryptoKey:                crypto,
		CodeMethodS256:           true,
		AuthMethodPost:           true,
		GrantTypeRefreshToken:    true,
		SupportedUILocales:       []language.Tag{language.English},
		SupportedScopes:          []string{oidc.ScopeOpenID, oidc.ScopeEmail, oidc.ScopeOfflineAccess, ScopeWallet},
		SupportedClaims:          []string{"sub", "aud", "exp", "iat", "iss", "auth_time", "nonce", "amr", "azp", "at_hash", "c_hash", "email", "email_verified", ClaimWalletAddresses},
		DefaultLogoutRedirectURI: "/",
	}
	opts := []op.Option{op.WithLogger(cfg.Log)}
	if u.Scheme == "http" {
		opts = append(opts, op.WithAllowInsecure())
	}
	p, err := op.NewProvider(opc, st, op.StaticIssuer(cfg.Issuer), opts...)
	if err != nil {
		return nil, err
	}
	pr := &Provider{op: p, st: st, issuer: cfg.Issuer}
	pr.handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The authorization response is the login page's to give (see
		// the package comment).
		if strings.HasPrefix(r.URL.Path, "/authorize/") {
			http.NotFound(w, r)
			return
		}
		p.ServeHTTP(w, r)
	})
	return pr, nil
}

// Handler serves the provider's endpoints, paths relative to the issuer
// (mount it with http.StripPrefix(IssuerPath, ...)).
func (p *Provider) Handler() http.Handler { return p.handler }

// Issuer is the provider's issuer URL.
func (p *Provider) Issuer() string { return p.issuer }

// Request is an authorization request as the login page shows it.
type Request struct {
	ID          string
	App         authdb.App
	Scopes      []string
	RedirectURI string
	Prompt      []string
	// MaxAge is the longest time since the user proved who they are that
	// the app accepts; nil: any. prompt=login makes it 0, and then only a
	// sign-in after the request started counts (AuthFresh).
	MaxAge      *time.Duration
	LoginHint   string
	HintSubject string // the subject of the app's id_token_hint, if any
	CreatedAt   time.Time
	Done        bool // already approved
}

// HasPrompt reports whether the request carries prompt value v.
func (r Request) HasPrompt(v string) bool {
	for _, p := range r.Prompt {
		if p == v {
			return true
		}
	}
	return false
}

// AuthFresh reports whether a sign-in at authTime meets the request's
// max_age (and prompt=login) at now.
func (r Request) AuthFresh(authTime, now time.Time) bool {
	switch {
	case r.MaxAge == nil:
		return true
	case *r.MaxAge == 0:
		return !authTime.Before(r.CreatedAt)
	}
	return now.Sub(authTime) <= *r.MaxAge
}

// ErrUnknownRequest reports a request id that is unknown, expired or
// already answered.
var ErrUnknownRequest = errors.New("oidcop: the sign-in request is unknown, expired or already answered")

// Request reads authorization request id for the login page.
func (p *Provider) Request(ctx context.Context, id string) (Request, error) {
	ar, err := p.st.authRequest(ctx, id)
	if err != nil {
		return Request{}, err
	}
	app, err := p.st.db.GetApp(ctx, ar.req.ClientID)
	if err != nil {
		return Request{}, ErrUnknownRequest
	}
	out := Request{ID: id, App: app, Scopes: ar.req.Scopes, RedirectURI: ar.req.RedirectURI, Prompt: ar.req.Prompt,
		LoginHint: ar.req.LoginHint, HintSubject: ar.req.HintSubject, CreatedAt: ar.g.CreatedAt, Done: ar.Done()}
	if ar.req.MaxAge != nil {
		d := time.Duration(*ar.req.MaxAge) * time.Second
		out.MaxAge = &d
	}
	return out, nil
}

// Approve records that userID (signed in at authTime, by amr) allows
// request id, and answers the app: a redirect to its redirect URI with a
// code. It writes the answer (or an error page) to w.
func (p *Provider) Approve(w http.ResponseWriter, r *http.Request, id, userID string, authTime time.Time, amr []string) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	r = r.WithContext(ctx)
	if err := p.st.db.AuthorizeOIDCGrant(ctx, id, userID, authTime, strings.Join(amr, " "), p.st.now()); err != nil {
		p.st.log.Info("oidc: approving a request failed", "err", err)
		http.Error(w, ErrUnknownRequest.Error(), http.StatusBadRequest)
		return
	}
	ar, err := p.st.authRequest(ctx, id)
	if err != nil {
		http.Error(w, ErrUnknownRequest.Error(), http.StatusBadRequest)
		return
	}
	op.AuthResponse(ar, p.op, w, r)
}

// Deny answers request id with an OpenID error (oidc.ErrLoginRequired,
// oidc.ErrConsentRequired, oidc.ErrAccessDenied, ...) at the app's
// redirect URI, and ends the request.
func (p *Provider) Deny(w http.ResponseWriter, r *http.Request, id string, e *oidc.Error) {
	ctx := op.ContextWithIssuer(r.Context(), p.issuer)
	r = r.WithContext(ctx)
	ar, err := p.st.authRequest(ctx, id)
	if err != nil {
		http.Error(w, ErrUnknownRequest.Error(), http.StatusBadRequest)
		return
	}
	if err := p.st.db.RevokeOIDCGrant(ctx, id, p.st.now()); err != nil {
		http.Error(w, "the sign-in request could not be ended", http.StatusInternalServerError)
		return
	}
	op.AuthRequestError(w, r, ar, e, p.op)
}

// SetClientSecret makes app a confidential client with a new secret,
// which it returns (shown once; only its digest is kept).
func (p *Provider) SetClientSecret(ctx context.Context, appID string) (string, error) {
	secret := newSecret()
	if err := p.st.db.PutOIDCClient(ctx, appID, p.st.digest(purposeClientSecret, secret), p.st.now()); err != nil {
		return "", err
	}
	return secret, nil
}

// SetPublicClient makes app a public client (PKCE, no secret).
func (p *Provider) SetPublicClient(ctx context.Context, appID string) error {
	return p.st.db.PutOIDCClient(ctx, appID, authdb.Digest{}, p.st.now())
}
