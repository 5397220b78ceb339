package server

import (
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
)

// oidcFlowTTL is how long a user may take at the provider.
const oidcFlowTTL = 10 * time.Minute

// Presets of well-known providers.
var oidcPresets = map[string]struct {
	Issuer   string
	Scopes   []string
	FormPost bool // the provider answers with response_mode=form_post
}{
	"google": {"https://accounts.google.com", []string{"openid", "email", "profile"}, false},
	"apple":  {"https://appleid.apple.com", []string{"openid", "email"}, true},
}

// oidcProvider is one configured upstream provider. Discovery happens on
// first use (and again after a failure), so the server starts while a
// provider is down.
type oidcProvider struct {
	name, issuer string
	clientID     string
	secret       string
	signer       *secretSigner // signs the secret per exchange when set
	scopes       []string
	formPost     bool
	redirect     string

	mu       sync.Mutex
	provider *oidc.Provider
	verifier *oidc.IDTokenVerifier
}

func (s *Server) setupOIDC(ctx context.Context) error {
	s.oidc = map[string]*oidcProvider{}
	for i, c := range s.cfg.OIDC {
		setting := fmt.Sprintf("oidc[%d]", i)
		if !validName(c.Name) {
			return &SettingError{setting + ".name", "want 1-32 of a-z, 0-9, -"}
		}
		if _, dup := s.oidc[c.Name]; dup {
			return &SettingError{setting + ".name", "used twice"}
		}
		p := &oidcProvider{name: c.Name, issuer: c.Issuer, clientID: c.ClientID, scopes: c.Scopes,
			redirect: s.cfg.PublicURL + "/v1/auth/oidc/" + c.Name + "/callback"}
		if c.Preset != "" {
			pre, ok := oidcPresets[c.Preset]
			if !ok {
				return &SettingError{setting + ".preset", "want google or apple"}
			}
			if p.issuer == "" {
				p.issuer = pre.Issuer
			}
			if len(p.scopes) == 0 {
				p.scopes = pre.Scopes
			}
			p.formPost = pre.FormPost
		}
		if len(p.scopes) == 0 {
			p.scopes = []string{oidc.ScopeOpenID, "email"}
		}
		if c.SignedClientSecret != nil {
			if c.ClientSecretFile != "" {
				return &SettingError{setting + ".client_secret_file", "set client_secret_file or signed_client_secret, not both"}
			}
			var err error
			if p.signer, err = newSecretSigner(setting, *c.SignedClientSecret, c.ClientID, p.issuer); err != nil {
				return err
			}
		}
		if c.ClientSecretFile != "" {
			b, err := os.ReadFile(c.ClientSecretFile)
			if err != nil {
				return &SettingError{setting + ".client_secret_file", "cannot be read"}
			}
			p.secret = strings.TrimSpace(string(b))
		}
		s.oidc[c.Name] = p
	}
	return nil
}

func validName(n string) bool {
	if n == "" || len(n) > 32 {
		return false
	}
	for _, c := range n {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return false
		}
	}
	return true
}

// discover returns the provider's metadata and ID-token verifier.
func (p *oidcProvider) discover(hc *http.Client) (*oidc.Provider, *oidc.IDTokenVerifier, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.provider != nil {
		return p.provider, p.verifier, nil
	}
	ctx, cancel := context.WithTimeout(oidc.ClientContext(context.Background(), hc), 15*time.Second)
	defer cancel()
	prov, err := oidc.NewProvider(ctx, p.issuer)
	if err != nil {
		return nil, nil, err
	}
	// The verifier fetches keys later with the same client (go-oidc keeps
	// the client, not the deadline), and accepts the signing algorithms
	// the provider advertises among those go-oidc supports.
	p.provider = prov
	p.verifier = prov.Verifier(&oidc.Config{ClientID: p.clientID})
	return p.provider, p.verifier, nil
}

// oauth is the OAuth client for one request. With a signed client secret
// and now set (the code exchange, which alone sends the secret) it signs a
// fresh one.
func (p *oidcProvider) oauth(prov *oidc.Provider, now time.Time) (*oauth2.Config, error) {
	secret := p.secret
	if p.signer != nil && !now.IsZero() {
		var err error
		if secret, err = p.signer.secret(now); err != nil {
			return nil, fmt.Errorf("server: signing %s's client secret: %w", p.name, err)
		}
	}
	ep := prov.Endpoint()
	ep.AuthStyle = authStyle(prov)
	return &oauth2.Config{ClientID: p.clientID, ClientSecret: secret, Endpoint: ep, RedirectURL: p.redirect, Scopes: p.scopes}, nil
}

// authStyle is how the provider wants the client secret, from its
// discovery document: in the Authorization header (client_secret_basic,
// also the default when it says nothing) or in the form
// (client_secret_post, Apple's only method). Guessing would send a failed
// request first.
func authStyle(prov *oidc.Provider) oauth2.AuthStyle {
	var meta struct {
		Methods []string `json:"token_endpoint_auth_methods_supported"`
	}
	if err := prov.Claims(&meta); err != nil || len(meta.Methods) == 0 || slices.Contains(meta.Methods, "client_secret_basic") {
		return oauth2.AuthStyleInHeader
	}
	if slices.Contains(meta.Methods, "client_secret_post") {
		return oauth2.AuthStyleInParams
	}
	return oauth2.AuthStyleAutoDetect
}

// oidcFlow is the sealed state of one redirect to a provider, kept in a
// short-lived cookie of the browser that started it.
type oidcFlow struct {
	Provider string `json:"p"`
	State    string `json:"s"`
	Nonce    string `json:"n"`
	Verifier string `json:"v"`
	LinkUser string `json:"l,omitempty"` // linking: the signed-in user
	// LinkSession is the session that started the link (its digest): the
	// link completes only while it, or a session rotated from it, lives.
	LinkSession []byte `json:"ls,omitempty"`
}

func (s *Server) provider(r *http.Request) (*oidcProvider, error) {
	p, ok := s.oidc[r.PathValue("provider")]
	if !ok {
		return nil, errNotFound
	}
	return p, nil
}

// oidcRedirect seals a new flow into the cookie and returns the
// provider's authorization URL.
func (s *Server) oidcRedirect(w http.ResponseWriter, p *oidcProvider, link *auth) (string, error) {
	prov, _, err := p.discover(s.hc)
	if err != nil {
		s.log.Error("oidc discovery failed", "provider", p.name, "err", err)
		return "", apiErr(http.StatusServiceUnavailable, CodeUnavailable, "the sign-in provider is unreachable; try again later")
	}
	f := oidcFlow{Provider: p.name, State: newToken(), Nonce: newToken(), Verifier: oauth2.GenerateVerifier()}
	if link != nil {
		f.LinkUser, f.LinkSession = link.user.ID, link.sess.ID[:]
	}
	sealed, err := s.sealFlow(flowOIDC, f, oidcFlowTTL)
	if err != nil {
		return "", err
	}
	// SameSite=None: a form_post callback is a cross-site POST, which
	// would not carry a Lax cookie. The state inside binds it anyway.
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: sealed, Path: "/v1/auth/oidc/", MaxAge: int(oidcFlowTTL / time.Second),
		HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteNoneMode})
	opts := []oauth2.AuthCodeOption{oidc.Nonce(f.Nonce), oauth2.S256ChallengeOption(f.Verifier)}
	if p.formPost {
		opts = append(opts, oauth2.SetAuthURLParam("response_mode", "form_post"))
	}
	oc, err := p.oauth(prov, time.Time{}) // no secret in the redirect
	if err != nil {
		return "", err
	}
	return oc.AuthCodeURL(f.State, opts...), nil
}

// oidcStart sends the browser to the provider to sign in or sign up.
func (s *Server) oidcStart(w http.ResponseWriter, r *http.Request, _ *auth) error {
	p, err := s.provider(r)
	if err != nil {
		return err
	}
	u, err := s.oidcRedirect(w, p, nil)
	if err != nil {
		return err
	}
	http.Redirect(w, r, u, http.StatusFound)
	return nil
}

// oidcLinkStart begins linking a provider account to the signed-in user:
// the user proves control of it at the provider. It answers the URL to
// send the browser to.
func (s *Server) oidcLinkStart(w http.ResponseWriter, r *http.Request, a *auth) error {
	p, err := s.provider(r)
	if err != nil {
		return err
	}
	u, err := s.oidcRedirect(w, p, a)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, nioapi.OIDCLink{URL: u})
	return nil
}

var oidcErrorPage = template.Must(template.New("oidc").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1"><title>Sign-in failed</title>
<link rel="stylesheet" href="/assets/app.css"></head>
<body><header class="top"><a class="brand" href="/">Niomon</a></header><main class="page">
<h1>Sign-in failed</h1><p class="error" role="alert">{{.}}</p><p><a href="/">Back to Niomon</a></p></main></body></html>`))

// oidcCallback finishes a provider sign-in: the state must match the
// browser's flow cookie, the code is exchanged with the PKCE verifier, and
// the ID token must verify and carry the flow's nonce. The provider
// account then signs in its user, or makes a new one, or (in a link flow)
// is linked to the signed-in user. Accounts are never joined by email.
func (s *Server) oidcCallback(w http.ResponseWriter, r *http.Request, _ *auth) error {
	fail := func(status int, msg string) error {
		return renderPage(w, status, oidcErrorPage, msg)
	}
	p, err := s.provider(r)
	if err != nil {
		return err
	}
	if err := r.ParseForm(); err != nil {
		return fail(http.StatusBadRequest, "The provider's answer could not be read.")
	}
	http.SetCookie(w, &http.Cookie{Name: oidcCookie, Value: "", Path: "/v1/auth/oidc/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteNoneMode})
	c, err := r.Cookie(oidcCookie)
	if err != nil {
		return fail(http.StatusBadRequest, "This sign-in was not started in this browser, or took too long. Start again.")
	}
	var f oidcFlow
	created, err := s.openFlow(flowOIDC, c.Value, &f)
	state := r.Form.Get("state")
	if err != nil || f.Provider != p.name || subtle.ConstantTimeCompare([]byte(state), []byte(f.State)) != 1 {
		return fail(http.StatusBadRequest, "This sign-in was not started in this browser, or took too long. Start again.")
	}
	if e := r.Form.Get("error"); e != "" {
		return fail(http.StatusBadRequest, "The provider did not sign you in.")
	}
	code := r.Form.Get("code")
	if code == "" || len(code) > 2048 {
		return fail(http.StatusBadRequest, "The provider's answer has no code.")
	}
	ctx := r.Context()
	if err := s.spendFlow(ctx, c.Value, created); err != nil {
		if errors.Is(err, errFlow) {
			return fail(http.StatusBadRequest, "This sign-in was used already. Start again.")
		}
		return err
	}
	prov, verifier, err := p.discover(s.hc)
	if err != nil {
		return fail(http.StatusServiceUnavailable, "The sign-in provider is unreachable; try again later.")
	}
	xctx := context.WithValue(ctx, oauth2.HTTPClient, s.hc)
	oc, err := p.oauth(prov, s.now())
	if err != nil {
		return err
	}
	tok, err := oc.Exchange(xctx, code, oauth2.VerifierOption(f.Verifier))
	if err != nil {
		s.log.Warn("oidc code exchange failed", "request_id", requestID(r), "provider", p.name, "err", redactOAuth(err))
		return fail(http.StatusBadGateway, "The provider did not confirm the sign-in.")
	}
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return fail(http.StatusBadGateway, "The provider sent no ID token.")
	}
	idt, err := verifier.Verify(oidc.ClientContext(ctx, s.hc), raw)
	if err != nil {
		s.log.Warn("oidc id token refused", "request_id", requestID(r), "provider", p.name, "err", err)
		return fail(http.StatusBadGateway, "The provider's ID token did not verify.")
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(f.Nonce)) != 1 {
		return fail(http.StatusBadRequest, "The provider's ID token is not for this sign-in.")
	}
	var claims struct {
		Email string `json:"email"`
	}
	_ = idt.Claims(&claims)
	// The claims are the provider's: a sub this server cannot store
	// refuses the sign-in (the account could never be found again), and
	// an email it cannot store is dropped (it is only reported).
	if err := authdb.CheckOIDCSubject(idt.Subject); err != nil {
		s.log.Warn("oidc subject refused", "request_id", requestID(r), "provider", p.name, "subject_bytes", len(idt.Subject))
		return fail(http.StatusBadGateway, "The provider's account id cannot be used here: it is empty, over 255 bytes, or has control characters.")
	}
	ident := authdb.OIDCIdentity{Provider: p.name, Subject: idt.Subject, Email: claims.Email}
	if authdb.CheckReportedEmail(ident.Email) != nil {
		ident.Email = ""
	}
	if f.LinkUser != "" {
		live, err := s.linkSessionLives(ctx, f)
		if err != nil {
			return err
		}
		if !live {
			return fail(http.StatusUnauthorized, "The session that started this link has ended (signed out or revoked). Sign in and start again.")
		}
	}
	return s.oidcSignedIn(w, r, f.LinkUser, ident)
}

// linkSessionLives reports whether the session that started link flow f,
// or the one it was rotated to (a browser's session rotates while its
// user is at the provider), is still live and its user's. A link started
// from a session that was then signed out or revoked must not complete:
// whoever revoked it meant to end what it could do.
func (s *Server) linkSessionLives(ctx context.Context, f oidcFlow) (bool, error) {
	var id authdb.Digest
	if len(f.LinkSession) != len(id) {
		return false, nil
	}
	copy(id[:], f.LinkSession)
	now := s.now()
	for range 16 { // a chain of rotations, bounded
		sess, err := s.db.GetSession(ctx, id, now)
		switch {
		case err == nil:
			return sess.UserID == f.LinkUser && now.Sub(sess.LastSeen) <= s.cfg.Sessions.IdleTimeout.Duration, nil
		case errors.Is(err, authdb.ErrRevoked) && !sess.RotatedTo.IsZero():
			id = sess.RotatedTo
		case errors.Is(err, authdb.ErrNotFound), errors.Is(err, authdb.ErrExpired), errors.Is(err, authdb.ErrRevoked):
			return false, nil
		default:
			return false, err
		}
	}
	return false, nil
}

func (s *Server) oidcSignedIn(w http.ResponseWriter, r *http.Request, linkUser string, ident authdb.OIDCIdentity) error {
	ctx, now := r.Context(), s.now()
	existing, err := s.db.LookupOIDC(ctx, ident.Provider, ident.Subject)
	if err != nil && !errors.Is(err, authdb.ErrNotFound) {
		return err
	}
	found := err == nil
	if linkUser != "" {
		switch {
		case found && existing.UserID != linkUser:
			return renderPage(w, http.StatusConflict, oidcErrorPage, "That account is linked to another Niomon account already.")
		case !found:
			if _, err := s.db.LinkOIDC(ctx, linkUser, ident, now); err != nil {
				if errors.Is(err, authdb.ErrExists) {
					return renderPage(w, http.StatusConflict, oidcErrorPage, "That account is linked to another Niomon account already.")
				}
				return err
			}
			s.audit(r, linkUser, "oidc.linked", nil)
		}
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return nil
	}
	var u authdb.User
	isNew := false
	if found {
		if u, err = s.db.GetUser(ctx, existing.UserID); err != nil {
			return err
		}
	} else {
		u, err = s.db.CreateUser(ctx, authdb.NewUser{OIDC: &ident}, now)
		if errors.Is(err, authdb.ErrExists) { // a concurrent first sign-in
			if existing, err = s.db.LookupOIDC(ctx, ident.Provider, ident.Subject); err == nil {
				u, err = s.db.GetUser(ctx, existing.UserID)
			}
		} else {
			isNew = true
		}
		if err != nil {
			return err
		}
	}
	rec := &discardJSON{header: http.Header{}}
	event := "signin.oidc"
	if isNew {
		event = "signup.oidc"
	}
	if err := s.signIn(rec, r, u, false, isNew, event); err != nil {
		return err
	}
	for _, c := range rec.header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", c)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// redactOAuth keeps an exchange error to its kind: a provider's error
// body may echo the code.
func redactOAuth(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return fmt.Sprintf("token endpoint answered HTTP %d (%s)", re.Response.StatusCode, re.ErrorCode)
	}
	return "request failed"
}
