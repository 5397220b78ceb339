package server

import (
	"context"
	"crypto/hmac"
	"encoding/base64"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/zitadel/oidc/v3/pkg/oidc"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/oidcop"
	"github.com/niomon/niomon/internal/phishing"
)

// "Login with Niomon": the OpenID Provider (package oidcop) is mounted
// at /oidc; this file is its login page, /oidc/login?id=..., which op
// sends the browser to for every authorization request. The page
// decides, in this order:
//
//  1. the app may sign this user in: a verified app anyone; a pending one
//     (development mode) only its own developer; a rejected or suspended
//     one nobody;
//  2. the redirect URI is not a phishing site (a block refuses; a warning
//     is shown on the consent page);
//  3. the user is signed in (a cookie session of an active user), recently
//     enough for max_age and prompt=login; otherwise to the wallet's
//     sign-in, which comes back here;
//  4. the user allowed these scopes to this app before, unless
//     prompt=consent; otherwise the consent page, whose POST decides.
//
// With prompt=none, any step that needs the user answers the app with
// login_required, consent_required or access_denied instead.

const loginPath = "/oidc/login"

func (s *Server) setupProvider() error {
	p, err := oidcop.New(oidcop.Config{
		Issuer:   s.origin + oidcop.IssuerPath,
		LoginURL: func(id string) string { return s.origin + loginPath + "?id=" + url.QueryEscape(id) },
		DB:       s.db, Tokens: s.tokens, Log: s.log, Now: s.now,
	})
	if err != nil {
		return err
	}
	s.op = p
	return nil
}

// refreshPhishingApps gives the phishing checker the verified apps.
func (s *Server) refreshPhishingApps(ctx context.Context) error {
	apps, err := s.db.ListAppsByStatus(ctx, authdb.AppVerified)
	if err != nil {
		return err
	}
	out := make([]phishing.App, 0, len(apps))
	for _, a := range apps {
		pa := phishing.App{Name: a.Name}
		for _, o := range a.Origins {
			if reviewed(a, o) {
				pa.Origins = append(pa.Origins, o.Origin)
			}
		}
		out = append(out, pa)
	}
	return s.phish.SetApps(out)
}

var consentPage = template.Must(template.New("consent").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{if .Message}}{{.Title}}{{else}}Sign in to {{.App}}{{end}} · Niomon</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><header class="top"><a class="brand" href="/">Niomon</a></header><main class="page" id="oidc">
{{if .Message}}<h1>{{.Title}}</h1><p class="error" role="alert" id="oidc-error">{{.Message}}</p>{{if .Detail}}<p class="muted" id="oidc-detail">{{.Detail}}</p>{{end}}<p><a href="/">Go to Niomon</a></p>
{{else}}<h1>Sign in to <span id="oidc-app">{{.App}}</span></h1>
{{if .Dev}}<p class="notice" id="oidc-dev">This app is in development mode: it is not verified yet ({{.Status}}), so only you, its developer, can sign in to it.</p>{{end}}
{{if .Warning}}<p class="notice" role="alert" id="oidc-warning">Be careful: {{.Warning}}</p>{{end}}
<p>The app at <strong id="oidc-host">{{.Host}}</strong> asks to know:</p>
<ul id="oidc-scopes">{{range .Scopes}}<li>{{.}}</li>{{end}}</ul>
<p class="muted">You are signed in to Niomon as <strong>{{.Account}}</strong>. The app never gets your keys; it cannot sign for you unless you approve each request.</p>
<form method="post" action="/oidc/login" class="card"><input type="hidden" name="id" value="{{.ID}}"><input type="hidden" name="csrf" value="{{.CSRF}}">
<button type="submit" class="primary" name="decision" value="allow" id="oidc-allow">Continue to {{.App}}</button>
<button type="submit" name="decision" value="deny" id="oidc-deny">Cancel</button></form>{{end}}
</main></body></html>`))

type consentData struct {
	Title, Message, Detail              string
	App, Host, Status, Warning, Account string
	ID, CSRF                            string
	Dev                                 bool
	Scopes                              []string
}

// scopeWords says what each scope gives the app.
var scopeWords = map[string]string{
	oidc.ScopeOpenID:        "that you have a Niomon account (an id that is the same every time)",
	oidc.ScopeEmail:         "your verified email address",
	oidcop.ScopeWallet:      "your wallet addresses (public; not your keys)",
	oidc.ScopeOfflineAccess: "these things while you are away, until you sign out of the app",
}

func (s *Server) refusePage(w http.ResponseWriter, status int, title, msg, detail string) error {
	return renderPage(w, status, consentPage, consentData{Title: title, Message: msg, Detail: detail})
}

func (s *Server) consentCSRF(id, userID string) string {
	d := s.tokens.Digest(purposeCSRF, "oidc-consent\x00"+id+"\x00"+userID)
	return base64.RawURLEncoding.EncodeToString(d[:])
}

// oidcLoginPage is GET /oidc/login?id=...
func (s *Server) oidcLoginPage(w http.ResponseWriter, r *http.Request, _ *auth) error {
	return s.oidcLogin(w, r, r.URL.Query().Get("id"), "")
}

// oidcLoginForm is the consent page's POST.
func (s *Server) oidcLoginForm(w http.ResponseWriter, r *http.Request, _ *auth) error {
	if err := r.ParseForm(); err != nil {
		return s.refusePage(w, http.StatusBadRequest, "Sign-in not possible", "The form could not be read.", "")
	}
	decision := r.PostForm.Get("decision")
	if decision != "allow" && decision != "deny" {
		return s.refusePage(w, http.StatusBadRequest, "Sign-in not possible", "The form could not be read.", "")
	}
	return s.oidcLogin(w, r, r.PostForm.Get("id"), decision)
}

func (s *Server) oidcLogin(w http.ResponseWriter, r *http.Request, id, decision string) error {
	ctx := r.Context()
	req, err := s.op.Request(ctx, id)
	if err != nil || req.Done {
		return s.refusePage(w, http.StatusBadRequest, "Sign-in request not valid",
			"This sign-in request is unknown, expired or already answered.", "Go back to the app and start signing in again.")
	}
	silent := req.HasPrompt(oidc.PromptNone)
	deny := func(e *oidc.Error) error {
		s.op.Deny(w, r, id, e)
		return nil
	}

	// 2. Where the answer goes.
	verdict := s.phish.Check(req.RedirectURI)
	if verdict.Verdict == phishing.Block {
		s.log.Warn("oidc: a redirect URI is blocked as phishing", "app", req.App.ID, "reason", string(verdict.Reason), "matched", verdict.Matched)
		return s.refusePage(w, http.StatusForbidden, "Sign-in blocked",
			"Niomon will not sign you in to this site: "+verdict.Explain()+".", verdict.Appeal)
	}

	// 3. Who is asking.
	a, err := s.authenticate(w, r)
	signedIn := err == nil && a.sess.Kind == authdb.SessionCookie && a.user.State == authdb.UserActive
	if err != nil && !errors.Is(err, errUnauthorized) {
		return err
	}

	// 1. May this app sign this user in?
	dev := req.App.Status != authdb.AppVerified
	switch {
	case req.App.Status == authdb.AppSuspended || req.App.Status == authdb.AppRejected:
		if silent {
			return deny(oidc.ErrAccessDenied().WithDescription("the app is %s", req.App.Status))
		}
		return refuseApp(s, w, req.App)
	case dev && signedIn && a.user.ID != req.App.OwnerID:
		if silent {
			return deny(oidc.ErrAccessDenied().WithDescription("the app is not verified"))
		}
		return s.refusePage(w, http.StatusForbidden, "App not verified",
			req.App.Name+" is not verified by Niomon yet, so only its developer can sign in to it.", "")
	}

	now := s.now()
	// The app's id_token_hint names the account it expects: another one
	// signed in here must sign in again (as the one meant, or knowingly
	// as itself).
	otherAccount := signedIn && req.HintSubject != "" && req.HintSubject != a.user.ID
	if !signedIn || otherAccount || !req.AuthFresh(a.sess.AuthTime, now) {
		if silent {
			return deny(oidc.ErrLoginRequired())
		}
		if decision != "" {
			return s.refusePage(w, http.StatusForbidden, "Sign in again",
				"Your session ended or is too old for this app. Go back to the app and start signing in again.", "")
		}
		next := loginPath + "?id=" + url.QueryEscape(id)
		q := url.Values{"next": {next}}
		if signedIn {
			q.Set("reauth", "1") // a session too old for max_age or prompt=login
		}
		http.Redirect(w, r, "/?"+q.Encode(), http.StatusSeeOther)
		return nil
	}

	// 4. Consent.
	switch decision {
	case "deny", "allow":
		if !hmac.Equal([]byte(r.PostForm.Get("csrf")), []byte(s.consentCSRF(id, a.user.ID))) {
			return errCSRF
		}
		if decision == "deny" {
			return deny(oidc.ErrAccessDenied().WithDescription("the user declined"))
		}
		if err := s.db.PutOIDCConsent(ctx, a.user.ID, req.App.ID, strings.Join(req.Scopes, " "), now); err != nil {
			return err
		}
		s.op.Approve(w, r, id, a.user.ID, a.sess.AuthTime, nil)
		return nil
	}
	granted, err := s.db.GetOIDCConsent(ctx, a.user.ID, req.App.ID)
	if err != nil && !errors.Is(err, authdb.ErrNotFound) {
		return err
	}
	have := strings.Fields(granted)
	covered := !slices.ContainsFunc(req.Scopes, func(sc string) bool { return !slices.Contains(have, sc) })
	if covered && !req.HasPrompt(oidc.PromptConsent) && verdict.Verdict == phishing.Allow {
		s.op.Approve(w, r, id, a.user.ID, a.sess.AuthTime, nil)
		return nil
	}
	if silent {
		return deny(&oidc.Error{ErrorType: "consent_required", Description: "the user has not allowed this app these scopes"})
	}
	d := consentData{App: req.App.Name, Status: req.App.Status, Dev: dev, ID: id, CSRF: s.consentCSRF(id, a.user.ID),
		Account: s.accountName(ctx, a.user.ID)}
	if u, err := url.Parse(req.RedirectURI); err == nil {
		d.Host = u.Host
	}
	if verdict.Verdict == phishing.Warn {
		d.Warning = verdict.Explain() + "."
	}
	for _, sc := range req.Scopes {
		if w, ok := scopeWords[sc]; ok {
			d.Scopes = append(d.Scopes, w)
		}
	}
	// The form's answer is a redirect to the app: let the browser follow
	// it (form-action covers redirects after a form's submission).
	if err := renderPage(consentWriter{w, req.RedirectURI}, http.StatusOK, consentPage, d); err != nil {
		return err
	}
	return nil
}

// accountName is what the consent page calls the signed-in account.
func (s *Server) accountName(ctx context.Context, userID string) string {
	if emails, err := s.db.ListEmails(ctx, userID); err == nil && len(emails) > 0 {
		return emails[0].Email
	}
	return "this browser's account"
}

// consentWriter sets the consent page's CSP once renderPage set the
// page's: form-action also admits the app's redirect origin.
type consentWriter struct {
	http.ResponseWriter
	redirect string
}

func (c consentWriter) WriteHeader(status int) {
	if u, err := url.Parse(c.redirect); err == nil && u.Host != "" {
		h := c.Header()
		h.Set("Content-Security-Policy", strings.Replace(h.Get("Content-Security-Policy"), "form-action 'self'", "form-action 'self' "+u.Scheme+"://"+u.Host, 1))
	}
	c.ResponseWriter.WriteHeader(status)
}

// SetOIDCClientSecret makes app a confidential OpenID client with a new
// secret, returned once (the developer console's "new client secret").
func (s *Server) SetOIDCClientSecret(ctx context.Context, appID string) (string, error) {
	return s.op.SetClientSecret(ctx, appID)
}

// oidcGate bounds request bodies to the provider, and answers an
// authorization request of a suspended app with a page that says so (op
// would answer "unable to retrieve client").
func (s *Server) oidcGate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxBody)
		if r.URL.Path == oidcop.IssuerPath+"/authorize" {
			if id := r.FormValue("client_id"); id != "" {
				if app, err := s.db.GetApp(r.Context(), id); err == nil && (app.Status == authdb.AppSuspended || app.Status == authdb.AppRejected) {
					_ = refuseApp(s, w, app)
					return
				}
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuseApp is the page of an app that may sign nobody in.
func refuseApp(s *Server, w http.ResponseWriter, app authdb.App) error {
	title, what := "App suspended", "Niomon has suspended "+app.Name+": it cannot sign anyone in."
	if app.Status == authdb.AppRejected {
		title, what = "App not accepted", "Niomon did not accept "+app.Name+": it cannot sign anyone in."
	}
	return s.refusePage(w, http.StatusForbidden, title, what, "Reason given: "+app.StatusReason)
}
