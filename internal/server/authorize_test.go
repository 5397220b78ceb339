package server_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/phishing"
	"github.com/niomon/niomon/internal/server"
)

// "Login with Niomon" tested as an app would use it: go-oidc and
// x/oauth2 as the relying party, against the real server, with a
// signed-in browser (a cookie jar) that follows the server's redirects
// and answers the consent page.

const appRedirect = "https://swap.example.org/callback"

type loginWorld struct {
	e       *env
	browser *http.Client // alice's, signed in
	alice   string       // her user id
	dev     *http.Client // the app's developer's, signed in
	app     authdb.App
	ctx     context.Context // the relying party's back channel
	prov    *gooidc.Provider
	conf    oauth2.Config
}

// newLoginWorld: alice with a wallet, a developer with an app that is
// verified (or left at status), and the relying party's view of the
// provider.
func newLoginWorld(t *testing.T, e *env, status string) *loginWorld {
	t.Helper()
	w := &loginWorld{e: e}
	var dev string
	w.browser, w.alice = signedInBrowser(t, e, "alice@example.com")
	w.dev, dev = signedInBrowser(t, e, "dev@example.org")
	now := time.Now().Add(time.Duration(e.offset.Load()))
	app, err := e.db.CreateApp(context.Background(), authdb.App{OwnerID: dev, Name: "Example Swap", Contact: "dev@example.org",
		Origins: []authdb.AppOrigin{{Origin: "https://swap.example.org"}}, RedirectURIs: []string{appRedirect}}, now)
	if err != nil {
		t.Fatal(err)
	}
	if status != authdb.AppPending {
		if err := e.db.SetAppStatus(context.Background(), authdb.Vetting{AppID: app.ID, Status: status, Reason: "reviewed in a test", AdminID: dev, At: now}); err != nil {
			t.Fatal(err)
		}
	}
	w.app = app
	w.ctx = gooidc.ClientContext(context.Background(), e.httpClient())
	if w.prov, err = gooidc.NewProvider(w.ctx, e.url+"/oidc"); err != nil {
		t.Fatalf("discovery: %v", err)
	}
	w.conf = oauth2.Config{ClientID: app.ID, Endpoint: w.prov.Endpoint(), RedirectURL: appRedirect,
		Scopes: []string{gooidc.ScopeOpenID, "email", "wallet", gooidc.ScopeOfflineAccess}}
	return w
}

// signedInBrowser is a browser signed in (by email code, a cookie
// session) to addr's account, whose wallet exists.
func signedInBrowser(t *testing.T, e *env, addr string) (*http.Client, string) {
	t.Helper()
	hc := e.httpClient()
	c := nioapi.NewClient(e.url, hc)
	s := e.emailSignIn(c, addr, false)
	if !s.User.WalletReady {
		e.createWallet(c, s.User.ID, newAPIKey(t))
	}
	return hc, s.User.ID
}

// flow is one authorization request, as the app started it.
type flow struct {
	state, nonce, verifier string
	url                    string
}

func (w *loginWorld) start(opts ...oauth2.AuthCodeOption) flow {
	f := flow{state: oauth2.GenerateVerifier(), nonce: oauth2.GenerateVerifier(), verifier: oauth2.GenerateVerifier()}
	f.url = w.conf.AuthCodeURL(f.state, append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(f.verifier), gooidc.Nonce(f.nonce)}, opts...)...)
	return f
}

// visit has browser open u and follow the server's redirects; it stops
// at a redirect that leaves the server (returned as to) or at a page
// (returned with its status and body).
func (w *loginWorld) visit(t *testing.T, browser *http.Client, req *http.Request) (to *url.URL, status int, body string) {
	t.Helper()
	for range 8 {
		resp, err := browser.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode < 300 || resp.StatusCode >= 400 {
			return nil, resp.StatusCode, string(b)
		}
		loc, err := req.URL.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		if loc.Host != mustURL(t, w.e.url).Host || loc.Path == "/" {
			return loc, resp.StatusCode, ""
		}
		req, _ = http.NewRequest(http.MethodGet, loc.String(), nil)
	}
	t.Fatal("more than 8 redirects")
	return nil, 0, ""
}

func (w *loginWorld) open(t *testing.T, browser *http.Client, u string) (*url.URL, int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, u, nil)
	return w.visit(t, browser, req)
}

var formValue = regexp.MustCompile(`name="(id|csrf)" value="([^"]*)"`)

// answer presses a button of the consent page body.
func (w *loginWorld) answer(t *testing.T, browser *http.Client, body, decision string) (*url.URL, int, string) {
	t.Helper()
	form := url.Values{"decision": {decision}}
	for _, m := range formValue.FindAllStringSubmatch(body, -1) {
		form.Set(m[1], m[2])
	}
	if form.Get("id") == "" || form.Get("csrf") == "" {
		t.Fatalf("no consent form in the page: %.400s", body)
	}
	req, _ := http.NewRequest(http.MethodPost, w.e.url+"/oidc/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", w.e.url)
	return w.visit(t, browser, req)
}

// login runs f in browser through consent (when asked) and returns the
// code the app receives.
func (w *loginWorld) login(t *testing.T, browser *http.Client, f flow) string {
	t.Helper()
	to, status, body := w.open(t, browser, f.url)
	if to == nil {
		if status != http.StatusOK || !strings.Contains(body, `id="oidc-allow"`) {
			t.Fatalf("the authorization page: %d %.600s", status, body)
		}
		to, status, body = w.answer(t, browser, body, "allow")
	}
	if to == nil || to.String()[:len(appRedirect)] != appRedirect {
		t.Fatalf("the app got no answer: %v %d %.400s", to, status, body)
	}
	q := to.Query()
	if q.Get("state") != f.state || q.Get("code") == "" {
		t.Fatalf("the app's answer: %s", to)
	}
	return q.Get("code")
}

func (w *loginWorld) exchange(t *testing.T, f flow, code string) (*oauth2.Token, *gooidc.IDToken, error) {
	t.Helper()
	tok, err := w.conf.Exchange(w.ctx, code, oauth2.VerifierOption(f.verifier))
	if err != nil {
		return nil, nil, err
	}
	raw, _ := tok.Extra("id_token").(string)
	id, err := w.prov.Verifier(&gooidc.Config{ClientID: w.app.ID}).Verify(w.ctx, raw)
	if err != nil {
		t.Fatalf("the ID token does not verify: %v", err)
	}
	if id.Nonce != f.nonce {
		t.Fatalf("the ID token's nonce is %q, want the request's", id.Nonce)
	}
	return tok, id, nil
}

func oauthErrorCode(err error) string {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		return re.ErrorCode
	}
	return ""
}

func TestLoginWithNiomon_CodeFlowGivesAVerifiedIDTokenWithWalletAddresses(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	f := w.start()
	tok, id, err := w.exchange(t, f, w.login(t, w.browser, f))
	if err != nil {
		t.Fatalf("exchange: %v", err)
	}
	if id.Subject != w.alice {
		t.Fatalf("sub is %q, want alice's id", id.Subject)
	}
	var claims struct {
		Email    string                                  `json:"email"`
		Verified bool                                    `json:"email_verified"`
		AuthTime int64                                   `json:"auth_time"`
		Wallet   []struct{ Chain, Path, Address string } `json:"wallet_addresses"`
	}
	if err := id.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	addrs, err := e.db.ListAddresses(context.Background(), w.alice)
	if err != nil || len(addrs) == 0 {
		t.Fatalf("alice's addresses: %v %d", err, len(addrs))
	}
	if claims.Email != "alice@example.com" || !claims.Verified || claims.AuthTime == 0 || len(claims.Wallet) != len(addrs) || claims.Wallet[0].Address != addrs[0].Address {
		t.Fatalf("claims: %+v, want alice's email, auth_time and her %d addresses", claims, len(addrs))
	}
	ui, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(tok))
	if err != nil || ui.Subject != w.alice || ui.Email != "alice@example.com" {
		t.Fatalf("userinfo: %v %+v", err, ui)
	}
	if tok.RefreshToken == "" {
		t.Fatal("offline_access gave no refresh token")
	}

	// A second sign-in: consent is remembered, no page is shown.
	f2 := w.start()
	if to, status, body := w.open(t, w.browser, f2.url); to == nil || to.Query().Get("code") == "" {
		t.Fatalf("a second sign-in with consent given: %v %d %.300s", to, status, body)
	}
}

func TestLoginWithNiomon_ASecondUseOfACodeEndsEverythingItGave(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	f := w.start()
	code := w.login(t, w.browser, f)
	tok, _, err := w.exchange(t, f, code)
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := w.exchange(t, f, code); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("the code a second time: got %v, want invalid_grant", err)
	}
	if _, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the access token from the code still works after the code was replayed")
	}
	if _, err := w.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("the refresh token from the code after the replay: got %v, want invalid_grant", err)
	}
}

func (w *loginWorld) refresh(rt string) (*oauth2.Token, error) {
	return w.conf.TokenSource(w.ctx, &oauth2.Token{RefreshToken: rt, Expiry: time.Now().Add(-time.Hour)}).Token()
}

func TestLoginWithNiomon_ARefreshTokenIsUsedOnceAndItsReuseEndsTheFamily(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	f := w.start()
	tok, _, err := w.exchange(t, f, w.login(t, w.browser, f))
	if err != nil {
		t.Fatal(err)
	}
	next, err := w.refresh(tok.RefreshToken)
	if err != nil || next.RefreshToken == "" || next.RefreshToken == tok.RefreshToken {
		t.Fatalf("refresh: %v; want a new refresh token", err)
	}
	if _, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(next)); err != nil {
		t.Fatalf("the refreshed access token: %v", err)
	}
	// The thief replays the old refresh token: refused, and the family
	// (the client's new tokens too) ends.
	if _, err := w.refresh(tok.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("the spent refresh token: got %v, want invalid_grant", err)
	}
	if _, err := w.refresh(next.RefreshToken); oauthErrorCode(err) != "invalid_grant" {
		t.Fatalf("the newest refresh token after a replay: got %v, want invalid_grant", err)
	}
	if _, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(next)); err == nil {
		t.Fatal("the newest access token still works after a replay of its family")
	}
}

func TestLoginWithNiomon_CodesAndTokensAreBoundToTheirClient(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	other, err := e.db.CreateApp(context.Background(), authdb.App{OwnerID: w.alice, Name: "Other App", Contact: "a@example.com",
		Origins: []authdb.AppOrigin{{Origin: "https://other.example.net"}}, RedirectURIs: []string{appRedirect}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetAppStatus(context.Background(), authdb.Vetting{AppID: other.ID, Status: authdb.AppVerified, Reason: "test", AdminID: w.alice, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	otherConf := w.conf
	otherConf.ClientID = other.ID

	cases := []struct {
		name string
		try  func(f flow, code string) error
	}{
		{"another client presents the code", func(f flow, code string) error {
			_, err := otherConf.Exchange(w.ctx, code, oauth2.VerifierOption(f.verifier))
			return err
		}},
		{"the code with a wrong PKCE verifier", func(f flow, code string) error {
			_, err := w.conf.Exchange(w.ctx, code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
			return err
		}},
		{"the code with no PKCE verifier", func(f flow, code string) error {
			_, err := w.conf.Exchange(w.ctx, code)
			return err
		}},
		{"the code with another redirect URI", func(f flow, code string) error {
			c := w.conf
			c.RedirectURL = "https://swap.example.org/other"
			_, err := c.Exchange(w.ctx, code, oauth2.VerifierOption(f.verifier))
			return err
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f := w.start()
			code := w.login(t, w.browser, f)
			if err := tc.try(f, code); err == nil {
				t.Fatal("accepted")
			}
			// Whoever saw the code could not burn it: the app still
			// exchanges it, and a replay that fails the checks again
			// does not end what the app got.
			tok, _, err := w.exchange(t, f, code)
			if err != nil {
				t.Fatalf("the app's own exchange after the refused one: %v", err)
			}
			_ = tc.try(f, code)
			if _, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(tok)); err != nil {
				t.Fatalf("the app's token after a refused replay of its code: %v", err)
			}
		})
	}
	t.Run("another client revokes a spent refresh token of the app's", func(t *testing.T) {
		f := w.start()
		tok, _, err := w.exchange(t, f, w.login(t, w.browser, f))
		if err != nil {
			t.Fatal(err)
		}
		next, err := w.refresh(tok.RefreshToken)
		if err != nil {
			t.Fatal(err)
		}
		form := url.Values{"token": {tok.RefreshToken}, "token_type_hint": {"refresh_token"}, "client_id": {other.ID}}
		resp, err := e.httpClient().PostForm(e.url+"/oidc/revoke", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if _, err := w.refresh(next.RefreshToken); err != nil {
			t.Fatalf("the app's live refresh token after another client revoked its spent one: %v", err)
		}
	})
	t.Run("another client presents a refresh token", func(t *testing.T) {
		f := w.start()
		tok, _, err := w.exchange(t, f, w.login(t, w.browser, f))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := otherConf.TokenSource(w.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken, Expiry: time.Now().Add(-time.Hour)}).Token(); err == nil {
			t.Fatal("another client refreshed alice's token")
		}
	})
}

func TestLoginWithNiomon_RequestsThatMustNotStartAreRefused(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	cases := []struct {
		name   string
		mutate func(u url.Values)
	}{
		{"an unregistered redirect URI", func(u url.Values) { u.Set("redirect_uri", "https://evil.example.com/callback") }},
		{"an unknown client", func(u url.Values) { u.Set("client_id", "no-such-app") }},
		{"a public client without PKCE", func(u url.Values) { u.Del("code_challenge"); u.Del("code_challenge_method") }},
		{"PKCE with plain", func(u url.Values) { u.Set("code_challenge_method", "plain") }},
		{"the implicit flow", func(u url.Values) { u.Set("response_type", "id_token token") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := mustURL(t, w.start().url)
			q := u.Query()
			tc.mutate(q)
			u.RawQuery = q.Encode()
			to, status, _ := w.open(t, w.browser, u.String())
			if to != nil && to.Query().Get("code") != "" {
				t.Fatalf("a code was issued: %s", to)
			}
			if to == nil && status == http.StatusOK {
				t.Fatal("the consent page was shown")
			}
		})
	}
}

func TestLoginWithNiomon_PromptAndMaxAge(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	stranger := e.httpClient()

	// prompt=none with no session, and with no consent yet.
	to, _, _ := w.open(t, stranger, w.start(oauth2.SetAuthURLParam("prompt", "none")).url)
	if to == nil || to.Query().Get("error") != "login_required" {
		t.Fatalf("prompt=none without a session: %v, want error=login_required", to)
	}
	to, _, _ = w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("prompt", "none")).url)
	if to == nil || to.Query().Get("error") != "consent_required" {
		t.Fatalf("prompt=none before consent: %v, want error=consent_required", to)
	}
	// Without a session the browser is sent to sign in, and back.
	to, _, _ = w.open(t, stranger, w.start().url)
	if to == nil || to.Path != "/" || !strings.HasPrefix(to.Query().Get("next"), "/oidc/login?id=") {
		t.Fatalf("no session: %v, want the wallet's sign-in with next", to)
	}

	f := w.start()
	w.login(t, w.browser, f) // consent given
	// prompt=none now works silently.
	silent := w.start(oauth2.SetAuthURLParam("prompt", "none"))
	if to, _, _ := w.open(t, w.browser, silent.url); to == nil || to.Query().Get("code") == "" {
		t.Fatalf("prompt=none with consent: %v, want a code", to)
	}
	// prompt=login asks for a new sign-in though the session is fresh.
	to, _, _ = w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("prompt", "login")).url)
	if to == nil || to.Path != "/" || to.Query().Get("reauth") != "1" {
		t.Fatalf("prompt=login: %v, want the wallet's sign-in with reauth", to)
	}
	// max_age: a session signed in 10 minutes ago is too old for 300 s.
	e.advance(10 * time.Minute)
	to, _, _ = w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("max_age", "300")).url)
	if to == nil || to.Query().Get("reauth") != "1" {
		t.Fatalf("max_age=300 ten minutes after sign-in: %v, want a new sign-in", to)
	}
	to, _, _ = w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("max_age", "300"), oauth2.SetAuthURLParam("prompt", "none")).url)
	if to == nil || to.Query().Get("error") != "login_required" {
		t.Fatalf("max_age=300 with prompt=none: %v, want login_required", to)
	}
	if to, _, _ := w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("max_age", "3600")).url); to == nil || to.Query().Get("code") == "" {
		t.Fatalf("max_age=3600: %v, want a code", to)
	}
}

func TestLoginWithNiomon_VettingDecidesWhoMaySignIn(t *testing.T) {
	cases := []struct {
		status       string
		aliceSignsIn bool
		devSignsIn   bool
	}{
		{authdb.AppVerified, true, true},
		{authdb.AppPending, false, true},
		{authdb.AppRejected, false, false},
		{authdb.AppSuspended, false, false},
	}
	e := newEnv(t, envOptions{})
	for _, tc := range cases {
		t.Run(tc.status, func(t *testing.T) {
			w := newLoginWorld(t, e, tc.status)
			for _, who := range []struct {
				name    string
				browser *http.Client
				want    bool
			}{{"alice", w.browser, tc.aliceSignsIn}, {"the developer", w.dev, tc.devSignsIn}} {
				to, status, body := w.open(t, who.browser, w.start().url)
				if to == nil && status == http.StatusOK {
					to, status, body = w.answer(t, who.browser, body, "allow")
				}
				got := to != nil && to.Query().Get("code") != ""
				if got != who.want {
					t.Fatalf("%s signing in to a %s app: got a code %v, want %v (%v %d %.300s)", who.name, tc.status, got, who.want, to, status, body)
				}
				if !got && !strings.Contains(body, `id="oidc-error"`) {
					t.Fatalf("%s refused by a %s app sees no reason: %d %.300s", who.name, tc.status, status, body)
				}
			}
		})
	}
}

func TestLoginWithNiomon_CancelAnswersAccessDenied(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	_, _, body := w.open(t, w.browser, w.start().url)
	to, _, _ := w.answer(t, w.browser, body, "deny")
	if to == nil || to.Query().Get("error") != "access_denied" {
		t.Fatalf("cancel: %v, want error=access_denied at the app", to)
	}
	// The consent form cannot be posted from another session, or without
	// its token.
	_, _, body = w.open(t, w.browser, w.start().url)
	if to, status, _ := w.answer(t, w.dev, body, "allow"); to != nil || status != http.StatusForbidden {
		t.Fatalf("alice's consent form posted by another user: %v %d, want 403", to, status)
	}
}

func TestLoginWithNiomon_TheAuthorizationResponseIsTheLoginPagesAlone(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	// An attacker starts a request, has alice approve it, and asks op's
	// callback for the code with the request id.
	to, _, _ := w.open(t, e.httpClient(), w.start().url)
	id := mustURL(t, to.Query().Get("next")).Query().Get("id")
	_, _, body := w.open(t, w.browser, e.url+"/oidc/login?id="+url.QueryEscape(id))
	if _, status, _ := w.open(t, e.httpClient(), e.url+"/oidc/authorize/callback?id="+url.QueryEscape(id)); status != http.StatusNotFound {
		t.Fatalf("op's callback: %d, want 404", status)
	}
	if to, _, _ := w.answer(t, w.browser, body, "allow"); to == nil || to.Query().Get("code") == "" {
		t.Fatalf("alice's approval: %v", to)
	}
	if _, status, _ := w.open(t, e.httpClient(), e.url+"/oidc/authorize/callback?id="+url.QueryEscape(id)); status != http.StatusNotFound {
		t.Fatalf("op's callback after approval: %d, want 404", status)
	}
}

func TestLoginWithNiomon_SigningKeysRotateAndOldTokensStillVerify(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	f := w.start()
	tok1, _, err := w.exchange(t, f, w.login(t, w.browser, f))
	if err != nil {
		t.Fatal(err)
	}
	first := tok1.Extra("id_token").(string)
	kid := func(raw string) string {
		var hdr struct{ Kid string }
		b, err := base64.RawURLEncoding.DecodeString(strings.Split(raw, ".")[0])
		if err != nil || json.Unmarshal(b, &hdr) != nil {
			t.Fatalf("an ID token's header does not decode")
		}
		return hdr.Kid
	}
	keys := func() []string {
		resp, err := e.httpClient().Get(e.url + "/oidc/keys")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var set struct{ Keys []struct{ Kid, Alg string } }
		if err := json.NewDecoder(resp.Body).Decode(&set); err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, k := range set.Keys {
			if k.Alg != "ES256" {
				t.Fatalf("a key with alg %q", k.Alg)
			}
			out = append(out, k.Kid)
		}
		return out
	}
	if k := keys(); len(k) != 1 {
		t.Fatalf("keys before rotation: %v, want 1", k)
	}

	e.advance(31 * 24 * time.Hour)
	browser, _ := signedInBrowser(t, e, "alice@example.com")
	f2 := w.start()
	tok2, _, err := w.exchange(t, f2, w.login(t, browser, f2))
	if err != nil {
		t.Fatal(err)
	}
	k := keys()
	if len(k) != 2 {
		t.Fatalf("keys after 31 days: %v, want the old and a new one", k)
	}
	// The new key is published before it signs.
	if got := kid(tok2.Extra("id_token").(string)); got != k[1] {
		t.Fatalf("a token right after rotation is signed by %q, want the old key %q until the new one is an hour old", got, k[1])
	}
	e.advance(2 * time.Hour)
	browser, _ = signedInBrowser(t, e, "alice@example.com")
	f3 := w.start()
	tok3, _, err := w.exchange(t, f3, w.login(t, browser, f3))
	if err != nil {
		t.Fatal(err)
	}
	if got := kid(tok3.Extra("id_token").(string)); got != k[0] {
		t.Fatalf("a token 2 h after rotation is signed by %q, want the new key %q", got, k[0])
	}
	// The token signed before the rotation still verifies against the
	// published keys.
	if _, err := w.prov.Verifier(&gooidc.Config{ClientID: w.app.ID, SkipExpiryCheck: true}).Verify(w.ctx, first); err != nil {
		t.Fatalf("the first ID token after rotation: %v", err)
	}
}

func TestLoginWithNiomon_AConfidentialClientMustAuthenticate(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	secret, err := e.srv.SetOIDCClientSecret(context.Background(), w.app.ID)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name   string
		secret string
		ok     bool
	}{
		{"no secret", "", false},
		{"a wrong secret", secret[:len(secret)-1] + "x", false},
		{"its secret", secret, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			conf := w.conf
			conf.ClientSecret = tc.secret
			f := w.start()
			code := w.login(t, w.browser, f)
			_, err := conf.Exchange(w.ctx, code, oauth2.VerifierOption(f.verifier))
			if (err == nil) != tc.ok {
				t.Fatalf("exchange: %v, want ok %v", err, tc.ok)
			}
		})
	}
	if strings.Contains(e.logs.String(), secret) {
		t.Fatal("the client secret is in the server's log")
	}
}

func TestLoginWithNiomon_AnAppThatLosesItsVerificationLosesItsUsersTokens(t *testing.T) {
	for _, status := range []string{authdb.AppPending, authdb.AppRejected, authdb.AppSuspended} {
		t.Run(status, func(t *testing.T) {
			e := newEnv(t, envOptions{config: func(c *server.Config) { c.Admins = []string{"admin@example.com"} }})
			w := newLoginWorld(t, e, authdb.AppVerified)
			f := w.start()
			tok, _, err := w.exchange(t, f, w.login(t, w.browser, f))
			if err != nil {
				t.Fatal(err)
			}
			fd := w.start()
			devTok, _, err := w.exchange(t, fd, w.login(t, w.dev, fd)) // the developer's own sign-in
			if err != nil {
				t.Fatal(err)
			}
			pending := w.start()
			code := w.login(t, w.browser, pending) // approved, not yet exchanged
			root := e.client()
			e.emailSignIn(root, "admin@example.com", true)
			vet := func(to string) {
				t.Helper()
				if err := root.Do(context.Background(), http.MethodPost, "/v1/admin/apps/"+w.app.ID+"/status", nioapi.AppStatus{Status: to, Reason: "test"}, &nioapi.App{}); err != nil {
					t.Fatal(err)
				}
			}
			vet(status)
			if _, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(tok)); err == nil {
				t.Fatal("userinfo with alice's token still works")
			}
			if _, err := w.refresh(tok.RefreshToken); err == nil {
				t.Fatal("alice's refresh token still works")
			}
			if _, _, err := w.exchange(t, pending, code); err == nil {
				t.Fatal("a code approved before the change was exchanged")
			}
			_, err = w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(devTok))
			if keeps := status == authdb.AppPending; (err == nil) != keeps {
				t.Fatalf("the developer's own token after the app became %s: %v, want it to work %v", status, err, keeps)
			}
			vet(authdb.AppVerified)
			if _, err := w.refresh(tok.RefreshToken); err == nil {
				t.Fatal("re-verification revived alice's refresh token")
			}
		})
	}
}

func TestLoginWithNiomon_ForAnotherAccountsHintTheUserMustSignInAgain(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	// The developer signs in to the app: an ID token naming them.
	fd := w.start()
	tok, devID, err := w.exchange(t, fd, w.login(t, w.dev, fd))
	if err != nil {
		t.Fatal(err)
	}
	hint := tok.Extra("id_token").(string)
	w.login(t, w.browser, w.start()) // alice consents once
	to, _, _ := w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("prompt", "none"), oauth2.SetAuthURLParam("id_token_hint", hint)).url)
	if to == nil || to.Query().Get("error") != "login_required" {
		t.Fatalf("alice's browser, a hint naming %s, prompt=none: %v, want login_required", devID.Subject, to)
	}
	to, _, _ = w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("id_token_hint", hint)).url)
	if to == nil || to.Path != "/" || to.Query().Get("reauth") != "1" {
		t.Fatalf("alice's browser, a hint naming another account: %v, want a new sign-in", to)
	}
}

func TestLoginWithNiomon_OddRequestsAndABadKeyRowAreHandled(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	// Three hundred copies of a scope are one scope.
	f := w.start(oauth2.SetAuthURLParam("scope", "openid"+strings.Repeat(" email", 300)))
	if _, _, err := w.exchange(t, f, w.login(t, w.browser, f)); err != nil {
		t.Fatalf("a request with a scope repeated 300 times: %v", err)
	}
	// form_post would need a page the CSP forbids: refused up front.
	to, _, _ := w.open(t, w.browser, w.start(oauth2.SetAuthURLParam("response_mode", "form_post")).url)
	if to == nil || to.Query().Get("error") != "invalid_request" {
		t.Fatalf("response_mode=form_post: %v, want error=invalid_request", to)
	}
	// A key row that does not open is skipped: keys are still published
	// and tokens still signed.
	keys, err := e.db.ListOIDCKeys(context.Background())
	if err != nil || len(keys) == 0 {
		t.Fatal(err)
	}
	if err := e.db.AddOIDCKey(context.Background(), authdb.OIDCKey{ID: "edited", Sealed: []byte(strings.Repeat("x", 200)), CreatedAt: keys[0].CreatedAt.Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	resp, err := e.httpClient().Get(e.url + "/oidc/keys")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("the key set with a bad row: %d", resp.StatusCode)
	}
	e.advance(2 * time.Minute) // past the signing key's cache
	f = w.start()
	if _, _, err := w.exchange(t, f, w.login(t, w.browser, f)); err != nil {
		t.Fatalf("a sign-in with a bad key row: %v", err)
	}
}

func TestLoginWithNiomon_RevocationAndLogoutEndWhatTheyName(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	session := func() (*oauth2.Token, string) {
		f := w.start()
		tok, _, err := w.exchange(t, f, w.login(t, w.browser, f))
		if err != nil {
			t.Fatal(err)
		}
		return tok, tok.Extra("id_token").(string)
	}
	revoke := func(token, hint string) {
		t.Helper()
		resp, err := e.httpClient().PostForm(e.url+"/oidc/revoke", url.Values{"token": {token}, "token_type_hint": {hint}, "client_id": {w.app.ID}})
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("revoke: %d", resp.StatusCode)
		}
	}
	// An access token alone.
	tok, _ := session()
	revoke(tok.AccessToken, "access_token")
	if _, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("a revoked access token still works")
	}
	if _, err := w.refresh(tok.RefreshToken); err != nil {
		t.Fatalf("the refresh token after its access token was revoked: %v", err)
	}
	// A refresh token, with its grant.
	tok, _ = session()
	revoke(tok.RefreshToken, "refresh_token")
	if _, err := w.refresh(tok.RefreshToken); err == nil {
		t.Fatal("a revoked refresh token still works")
	}
	if _, err := w.prov.UserInfo(w.ctx, oauth2.StaticTokenSource(tok)); err == nil {
		t.Fatal("the access token of a revoked refresh token still works")
	}
	// Logout with a hint ends the user's grants to the app and returns to
	// a registered URI; an unregistered one is refused.
	tok, idt := session()
	to, status, _ := w.open(t, w.browser, e.url+"/oidc/end_session?"+url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {"https://evil.example.com/"}}.Encode())
	if to != nil && to.Host == "evil.example.com" {
		t.Fatalf("logout redirected to an unregistered URI: %v (%d)", to, status)
	}
	to, _, _ = w.open(t, w.browser, e.url+"/oidc/end_session?"+url.Values{"id_token_hint": {idt}, "post_logout_redirect_uri": {appRedirect}, "state": {"bye"}}.Encode())
	if to == nil || !strings.HasPrefix(to.String(), appRedirect) || to.Query().Get("state") != "bye" {
		t.Fatalf("logout: %v, want the registered URI with the state", to)
	}
	if _, err := w.refresh(tok.RefreshToken); err == nil {
		t.Fatal("a refresh token still works after logout")
	}
}

func TestLoginWithNiomon_ABlockedRedirectIsRefusedWithItsReason(t *testing.T) {
	list, err := phishing.ParsePlain("test-list", strings.NewReader("evil.example\n"))
	if err != nil {
		t.Fatal(err)
	}
	checker, err := phishing.New(phishing.Config{Lists: []*phishing.List{list}, Appeal: "Write to abuse@example.com."})
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, envOptions{phishing: checker})
	w := newLoginWorld(t, e, authdb.AppVerified)
	bad, err := e.db.CreateApp(context.Background(), authdb.App{OwnerID: w.alice, Name: "Totally Swap", Contact: "x@example.com",
		Origins: []authdb.AppOrigin{{Origin: "https://login.evil.example"}}, RedirectURIs: []string{"https://login.evil.example/cb"}}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetAppStatus(context.Background(), authdb.Vetting{AppID: bad.ID, Status: authdb.AppVerified, Reason: "missed it", AdminID: w.alice, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	conf := w.conf
	conf.ClientID, conf.RedirectURL = bad.ID, "https://login.evil.example/cb"
	u := conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier()))
	to, status, body := w.open(t, w.browser, u)
	if to != nil || status != http.StatusForbidden || !strings.Contains(body, "Sign-in blocked") || !strings.Contains(body, "test-list") || !strings.Contains(body, "abuse@example.com") {
		t.Fatalf("a blocked redirect: %v %d %.500s; want the block page naming the list and the appeal", to, status, body)
	}
}

func TestLoginWithNiomon_ALookAlikeOfARegisteredAppIsRefusedWithItsReason(t *testing.T) {
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	ctx := context.Background()
	mk := func(name, origin, redirect string, prove bool) authdb.App {
		t.Helper()
		app, err := e.db.CreateApp(ctx, authdb.App{OwnerID: w.alice, Name: name, Contact: "x@example.com",
			Origins: []authdb.AppOrigin{{Origin: origin}}, RedirectURIs: []string{redirect}}, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		if prove {
			if err := e.db.VerifyAppOrigin(ctx, app.ID, origin, "dns", time.Now()); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.SetAppStatus(ctx, authdb.Vetting{AppID: app.ID, Status: authdb.AppVerified, Reason: "test", AdminID: w.alice, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		return app
	}
	mk("Uniswap", "https://app.uniswap.org", "https://app.uniswap.org/cb", true)
	fake := mk("Uniswap Claims", "https://uniswap-claim.io", "https://uniswap-claim.io/cb", false)
	if err := e.srv.SyncPhishing(ctx, false); err != nil {
		t.Fatal(err)
	}
	conf := w.conf
	conf.ClientID, conf.RedirectURL = fake.ID, "https://uniswap-claim.io/cb"
	to, status, body := w.open(t, w.browser, conf.AuthCodeURL("s", oauth2.S256ChallengeOption(oauth2.GenerateVerifier())))
	if to != nil || status != http.StatusForbidden || !strings.Contains(body, "uniswap.org, a registered app") {
		t.Fatalf("a look-alike redirect: %v %d %.500s; want the block page naming the registered domain", to, status, body)
	}
}

// rpNodeDir holds the openid-client relying party (npm ci there first;
// .ci/run does).
const rpNodeDir = "../oidcop/testdata/rp-node"

func runRPNode(t *testing.T, e *env, args ...string) map[string]any {
	t.Helper()
	certFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: e.ts.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "node", append([]string{"rp.mjs"}, args...)...)
	cmd.Dir = rpNodeDir
	cmd.Env = append(os.Environ(), "NODE_EXTRA_CA_CERTS="+certFile, "NIOMON_LOOPBACK="+e.ts.Listener.Addr().String())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node rp.mjs %s: %v\n%s", args[0], err, stderr.String())
	}
	var v map[string]any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("node rp.mjs %s printed %q", args[0], out)
	}
	return v
}

func TestLoginWithNiomon_PanvasOpenIDClientSignsAUserInAndRefreshes(t *testing.T) {
	if _, err := os.Stat(filepath.Join(rpNodeDir, "node_modules", "openid-client")); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("internal/oidcop/testdata/rp-node/node_modules is missing: .ci/run must run npm ci there")
		}
		t.Skip("run npm ci in internal/oidcop/testdata/rp-node to test with openid-client")
	}
	e := newEnv(t, envOptions{})
	w := newLoginWorld(t, e, authdb.AppVerified)
	issuer := e.url + "/oidc"
	start := runRPNode(t, e, "start", issuer, w.app.ID, appRedirect)
	to, status, body := w.open(t, w.browser, start["url"].(string))
	if to == nil && status == http.StatusOK {
		to, status, body = w.answer(t, w.browser, body, "allow")
	}
	if to == nil || to.Query().Get("code") == "" {
		t.Fatalf("no code for openid-client: %d %.300s", status, body)
	}
	got := runRPNode(t, e, "finish", issuer, w.app.ID, appRedirect, to.String(), start["verifier"].(string), start["state"].(string), start["nonce"].(string))
	addrs, _ := got["wallet_addresses"].([]any)
	if got["sub"] != w.alice || got["email"] != "alice@example.com" || len(addrs) == 0 || got["refreshed"] != true || got["reuse_refused"] != true {
		t.Fatalf("openid-client got %v; want alice, her email and addresses, a refresh, and the reused refresh token refused", got)
	}
}
