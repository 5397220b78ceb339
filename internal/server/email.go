package server

import (
	"context"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"net/mail"
	"net/netip"
	"net/url"
	"strings"
	"time"

	"github.com/niomon/niomon/internal/authdb"
	nmail "github.com/niomon/niomon/internal/mail"
	"github.com/niomon/niomon/internal/nioapi"
)

// codeTTL is how long an email code and its link work.
const codeTTL = 10 * time.Minute

// mailTimeout bounds sending one sign-in mail.
const mailTimeout = 20 * time.Second

var errBadCode = apiErr(http.StatusBadRequest, CodeInvalidCode, "wrong or expired code")
var errBadLink = apiErr(http.StatusBadRequest, CodeInvalidCode, "this link has expired or has already been used")

// normalizeEmail returns the address in the form it is stored and looked
// up by: one bare address, trimmed, lower-cased. The domain is a name: an
// address literal (x@[127.0.0.1]) would have the server mail a host the
// sender picks by IP address.
func normalizeEmail(s string) (string, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return "", badRequest("want an email address")
	}
	if len(s) > authdb.MaxEmailLen {
		return "", badRequest(fmt.Sprintf("the email address is over %d bytes", authdb.MaxEmailLen))
	}
	a, err := mail.ParseAddress(s)
	domain := s[strings.LastIndexByte(s, '@')+1:]
	if err != nil || a.Name != "" || a.Address != s || !strings.Contains(domain, ".") && domain != "localhost" {
		return "", badRequest("want an email address such as name@example.com")
	}
	if strings.HasPrefix(domain, "[") {
		return "", badRequest("want an email address with a domain name, not an IP address in brackets")
	}
	return strings.ToLower(s), nil
}

// emailStart sends a sign-in code and link. Its answer is the same
// whether or not the address has an account: the mail says the rest.
func (s *Server) emailStart(w http.ResponseWriter, r *http.Request, _ *auth) error {
	var in nioapi.EmailStart
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	email, err := normalizeEmail(in.Email)
	if err != nil {
		return err
	}
	ctx, now := r.Context(), s.now()
	if err := s.allowAll(ctx, "challenges_per_ip", s.limitIP(r), "challenges_per_email", s.emailBucket(email+"\x00"+s.limitIP(r)),
		"challenges_per_email_all", s.emailBucket(email)); err != nil {
		return err
	}
	// While the address's six-digit guesses are spent (someone is
	// guessing), the flow gets a long code, which they do not bound.
	code, link := newCode(), newToken()
	long, err := s.codeGuessesSpent(ctx, email)
	if err != nil {
		return err
	}
	if long {
		code = newLongCode()
	}
	ip, _ := netip.ParseAddr(s.clientIP(r))
	ch, err := s.db.CreateChallenge(ctx, authdb.NewChallenge{
		Email: email, Purpose: authdb.PurposeSignIn,
		Code: authdb.Digest(s.tokens.Digest(purposeCode, code)), LongCode: long,
		Link: authdb.Digest(s.tokens.Digest(purposeLink, link)),
		IP:   ip.Unmap(), ExpiresAt: now.Add(codeTTL),
	}, now)
	if err != nil {
		return err
	}
	mctx, cancel := context.WithTimeout(ctx, mailTimeout)
	defer cancel()
	linkURL := s.cfg.PublicURL + "/auth/email/link?token=" + url.QueryEscape(link)
	if err := s.mail.Send(mctx, nmail.LoginCode(email, showCode(code), linkURL, codeTTL, "Niomon")); err != nil {
		s.log.Error("sending a sign-in mail failed", "request_id", requestID(r), "err", err)
		return apiErr(http.StatusServiceUnavailable, CodeUnavailable, "the sign-in mail could not be sent; try again later")
	}
	writeJSON(w, http.StatusOK, nioapi.EmailStarted{FlowID: ch.ID, ExpiresIn: int(codeTTL / time.Second)})
	return nil
}

// emailVerify signs in with a flow's code. Guesses are limited per flow
// (authdb.MaxCodeAttempts), per address across flows, and per IP.
func (s *Server) emailVerify(w http.ResponseWriter, r *http.Request, _ *auth) error {
	var in nioapi.EmailVerify
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	code, long, ok := parseCode(in.Code)
	if !ok {
		return badRequest("the code is 6 digits, or 10 letters and digits (XXXXX-XXXXX)")
	}
	ctx, now := r.Context(), s.now()
	ch, err := s.db.GetChallenge(ctx, in.FlowID)
	if errors.Is(err, authdb.ErrNotFound) || errors.Is(err, authdb.ErrInvalid) {
		if err := s.allow(ctx, "verify_per_ip", s.limitIP(r)); err != nil {
			return err
		}
		return errBadCode
	}
	if err != nil {
		return err
	}
	// The flow's kind, not how the guess is written, says how it is
	// limited: a guess of the other kind cannot be right, and spends no
	// attempt (nor, with it, the flow's link).
	if long != ch.LongCode {
		if ch.LongCode {
			return badRequest("this sign-in's code is 10 letters and digits (XXXXX-XXXXX)")
		}
		return badRequest("this sign-in's code is 6 digits")
	}
	// Counted before the attempt, so concurrent attempts cannot pass the
	// limits together. A long code's attempts count per IP only: the
	// flow's five attempts cannot find it.
	limits := []string{"verify_per_ip", s.limitIP(r)}
	if !ch.LongCode {
		limits = append(limits, "attempts_per_email", s.emailBucket(ch.Email), "attempts_per_email_day", s.emailBucket(ch.Email))
	}
	if err := s.allowAll(ctx, limits...); err != nil {
		if ae, ok := err.(*APIError); ok && ae.Code == CodeRateLimited && !ch.LongCode {
			if spent, serr := s.codeGuessesSpent(ctx, ch.Email); serr == nil && spent {
				// The owner of a six-digit flow caught by someone's
				// guessing gets in with a new one (a long code) or the link.
				told := *ae
				told.Message = "someone is guessing at this address's codes, so six-digit codes are not taken for now: ask for a new sign-in mail (its code is longer), or open the link in this one"
				return &told
			}
		}
		return err
	}
	ch, err = s.db.AttemptCode(ctx, in.FlowID, authdb.Digest(s.tokens.Digest(purposeCode, code)), now)
	if err != nil {
		if isChallengeRefusal(err) {
			return errBadCode
		}
		return err
	}
	return s.emailSignedIn(w, r, ch.Email, in.Bearer)
}

func isChallengeRefusal(err error) bool {
	for _, e := range []error{authdb.ErrMismatch, authdb.ErrExpired, authdb.ErrConsumed, authdb.ErrTooManyAttempts, authdb.ErrNotFound, authdb.ErrInvalid} {
		if errors.Is(err, e) {
			return true
		}
	}
	return false
}

// codeGuessesSpent reports whether the six-digit code attempts against
// email have passed one of its limits.
func (s *Server) codeGuessesSpent(ctx context.Context, email string) (bool, error) {
	for _, name := range []string{"attempts_per_email", "attempts_per_email_day"} {
		spent, err := s.db.Spent(ctx, s.limits[name], s.emailBucket(email), s.now())
		if err != nil || spent {
			return spent, err
		}
	}
	return false, nil
}

// maxLinkToken bounds a link token (32 random bytes in base64url).
const maxLinkToken = 64

// spendLink consumes a magic-link token and returns its address.
func (s *Server) spendLink(r *http.Request, token string) (string, error) {
	if token == "" || len(token) > maxLinkToken {
		return "", errBadLink
	}
	ctx := r.Context()
	if err := s.allow(ctx, "verify_per_ip", s.limitIP(r)); err != nil {
		return "", err
	}
	ch, err := s.db.ConsumeLink(ctx, authdb.Digest(s.tokens.Digest(purposeLink, token)), s.now())
	if err != nil {
		if isChallengeRefusal(err) {
			return "", errBadLink
		}
		return "", err
	}
	return ch.Email, nil
}

// emailLink signs in with a magic-link token (API clients).
func (s *Server) emailLink(w http.ResponseWriter, r *http.Request, _ *auth) error {
	var in nioapi.LinkConfirm
	if err := decodeJSON(r, &in); err != nil {
		return err
	}
	email, err := s.spendLink(r, in.Token)
	if err != nil {
		return err
	}
	return s.emailSignedIn(w, r, email, in.Bearer)
}

// emailSignedIn finds or makes the address's user and starts a session.
func (s *Server) emailSignedIn(w http.ResponseWriter, r *http.Request, email string, bearer bool) error {
	u, isNew, err := s.userForEmail(r.Context(), email)
	if err != nil {
		return err
	}
	return s.signIn(w, r, u, bearer, isNew, "signin.email")
}

func (s *Server) userForEmail(ctx context.Context, email string) (authdb.User, bool, error) {
	now := s.now()
	for range 3 {
		id, err := s.db.LookupEmail(ctx, email)
		if err == nil {
			if id.VerifiedAt.IsZero() {
				if err := s.db.VerifyEmail(ctx, email, now); err != nil {
					return authdb.User{}, false, err
				}
			}
			u, err := s.db.GetUser(ctx, id.UserID)
			return u, false, err
		}
		if !errors.Is(err, authdb.ErrNotFound) {
			return authdb.User{}, false, err
		}
		u, err := s.db.CreateUser(ctx, authdb.NewUser{Email: email, EmailVerifiedAt: now}, now)
		if err == nil {
			return u, true, nil
		}
		if !errors.Is(err, authdb.ErrExists) {
			return authdb.User{}, false, err
		}
		// Another sign-in made the user first: look again.
	}
	return authdb.User{}, false, errors.New("server: the user for an address kept changing")
}

var linkPage = template.Must(template.New("link").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>Sign in to Niomon</title><link rel="stylesheet" href="/assets/app.css"></head>
<body><header class="top"><a class="brand" href="/">Niomon</a></header><main class="page">
{{if .Message}}<h1>{{.Title}}</h1><p class="error" role="alert">{{.Message}}</p><p><a href="/">Go to Niomon</a></p>
{{else}}<h1>Sign in to Niomon</h1>
<p>This link signs in to the account of <strong>{{.Email}}</strong>.</p>
<p class="notice">If that is not your address, or you did not ask to sign in, close this page: someone may be trying to sign you in to their account. Nothing happens until you press the button.</p>
<form method="post" action="/auth/email/link" class="card"><input type="hidden" name="token" value="{{.Token}}">
<button type="submit" class="primary" id="link-signin">Sign in as {{.Email}}</button></form>{{end}}
</main></body></html>`))

type linkPageData struct{ Title, Message, Token, Email string }

// emailLinkPage is what a magic link opens. It spends nothing: mail
// scanners follow links, so only the page's POST signs in. It names the
// account the link signs in to: a link someone else asked for (their
// own, mailed to a victim) would sign the victim in to their account.
func (s *Server) emailLinkPage(w http.ResponseWriter, r *http.Request, _ *auth) error {
	token := r.URL.Query().Get("token")
	if token == "" || len(token) > maxLinkToken {
		return renderPage(w, http.StatusBadRequest, linkPage, linkPageData{Title: "Link not valid",
			Message: "This sign-in link is incomplete. Open the link from the mail again, or use the code."})
	}
	ch, err := s.db.PeekLink(r.Context(), authdb.Digest(s.tokens.Digest(purposeLink, token)), s.now())
	if isChallengeRefusal(err) {
		return renderPage(w, http.StatusBadRequest, linkPage, linkPageData{Title: "Link not valid", Message: errBadLink.Message + ". Ask for a new sign-in mail."})
	}
	if err != nil {
		return err
	}
	return renderPage(w, http.StatusOK, linkPage, linkPageData{Token: token, Email: ch.Email})
}

// emailLinkForm is the confirmation page's POST: it spends the token,
// sets the session cookie and goes to the home page.
func (s *Server) emailLinkForm(w http.ResponseWriter, r *http.Request, _ *auth) error {
	if err := r.ParseForm(); err != nil {
		return renderPage(w, http.StatusBadRequest, linkPage, linkPageData{Title: "Link not valid", Message: "The form could not be read."})
	}
	email, err := s.spendLink(r, r.PostForm.Get("token"))
	if err != nil {
		var ae *APIError
		if errors.As(err, &ae) {
			return renderPage(w, ae.Status, linkPage, linkPageData{Title: "Link not valid", Message: ae.Message + ". Ask for a new sign-in mail."})
		}
		return err
	}
	u, _, err := s.userForEmail(r.Context(), email)
	if err != nil {
		return err
	}
	rec := &discardJSON{header: http.Header{}}
	if err := s.signIn(rec, r, u, false, false, "signin.email_link"); err != nil {
		return err
	}
	for _, c := range rec.header.Values("Set-Cookie") {
		w.Header().Add("Set-Cookie", c)
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
	return nil
}

// discardJSON keeps the headers of an answer and drops its body: the
// link form reuses signIn but answers with a redirect.
type discardJSON struct {
	header http.Header
}

func (d *discardJSON) Header() http.Header         { return d.header }
func (d *discardJSON) Write(b []byte) (int, error) { return len(b), nil }
func (d *discardJSON) WriteHeader(int)             {}

func renderPage(w http.ResponseWriter, status int, t *template.Template, data any) error {
	pageHeaders(w.Header())
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	return t.Execute(w, data)
}
