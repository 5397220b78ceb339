package main

import (
	"context"
	"fmt"
	"html"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	gooidc "github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/niomon/niomon/internal/authdb"
	"github.com/niomon/niomon/internal/sqldb"
)

// relyingParty is an app that signs its users in with "Login with
// Niomon": go-oidc and x/oauth2 on loopback, at http://localhost:PORT.
type relyingParty struct {
	url  string
	conf oauth2.Config
	prov *gooidc.Provider

	mu      sync.Mutex
	pending map[string][2]string // state: verifier, nonce
}

// startRelyingParty runs it for clientID (a public client when secret is
// "", else a confidential one) on ln.
func startRelyingParty(t *testing.T, issuer, clientID, secret string, ln net.Listener) *relyingParty {
	t.Helper()
	rp := &relyingParty{url: "http://localhost:" + portOf(ln), pending: map[string][2]string{}}
	prov, err := gooidc.NewProvider(context.Background(), issuer)
	if err != nil {
		t.Fatalf("the app's discovery of %s: %v", issuer, err)
	}
	rp.prov = prov
	rp.conf = oauth2.Config{ClientID: clientID, ClientSecret: secret, Endpoint: prov.Endpoint(), RedirectURL: rp.url + "/callback",
		Scopes: []string{gooidc.ScopeOpenID, "email", "wallet"}}
	mux := http.NewServeMux()
	mux.HandleFunc("/start", func(w http.ResponseWriter, r *http.Request) {
		state, verifier, nonce := oauth2.GenerateVerifier(), oauth2.GenerateVerifier(), oauth2.GenerateVerifier()
		rp.mu.Lock()
		rp.pending[state] = [2]string{verifier, nonce}
		rp.mu.Unlock()
		http.Redirect(w, r, rp.conf.AuthCodeURL(state, oauth2.S256ChallengeOption(verifier), gooidc.Nonce(nonce)), http.StatusFound)
	})
	mux.HandleFunc("/callback", func(w http.ResponseWriter, r *http.Request) {
		rp.mu.Lock()
		p, ok := rp.pending[r.FormValue("state")]
		delete(rp.pending, r.FormValue("state"))
		rp.mu.Unlock()
		page := func(id, msg string) {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprintf(w, `<!doctype html><title>Example Swap</title><body style="font:16px sans-serif;margin:3em"><h1>Example Swap</h1><p id=%q>%s</p></body>`, id, html.EscapeString(msg))
		}
		if !ok {
			page("error", "unknown state")
			return
		}
		if e := r.FormValue("error"); e != "" {
			page("error", "Niomon answered: "+e)
			return
		}
		tok, err := rp.conf.Exchange(r.Context(), r.FormValue("code"), oauth2.VerifierOption(p[0]))
		if err != nil {
			page("error", "exchange: "+err.Error())
			return
		}
		raw, _ := tok.Extra("id_token").(string)
		id, err := prov.Verifier(&gooidc.Config{ClientID: clientID}).Verify(r.Context(), raw)
		if err != nil || id.Nonce != p[1] {
			page("error", fmt.Sprintf("the ID token does not verify: %v", err))
			return
		}
		var claims struct {
			Email  string                            `json:"email"`
			Wallet []struct{ Chain, Address string } `json:"wallet_addresses"`
		}
		if err := id.Claims(&claims); err != nil {
			page("error", err.Error())
			return
		}
		var eth string
		for _, a := range claims.Wallet {
			if strings.HasPrefix(a.Address, "0x") {
				eth = a.Address
			}
		}
		page("signed-in", fmt.Sprintf("Signed in as %s with wallet %s", claims.Email, eth))
	})
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: mux}}
	srv.Start()
	t.Cleanup(srv.Close)
	return rp
}

func portOf(ln net.Listener) string {
	_, p, _ := net.SplitHostPort(ln.Addr().String())
	return p
}

// TestBrowser_AnAppSignsAUserInWithLoginWithNiomon: a signed-out user
// presses the app's "Login with Niomon", signs in to Niomon by email code,
// comes back to the consent page, allows, and the app (go-oidc) verifies
// an ID token with their email and wallet address. A second sign-in goes
// straight through.
func TestBrowser_AnAppSignsAUserInWithLoginWithNiomon(t *testing.T) {
	b := newBrowser(t)
	data := filepath.Join(t.TempDir(), "data")
	d := startDev(t, data, freePort(t), nil)
	p := b.tab()

	// The app's developer, alice, has an account and a verified app.
	p.signInByEmail(d, "alice@example.com", 1, "")
	addrs := p.addresses()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	db, app, aliceID := devApp(t, data, "alice@example.com", authdb.App{Name: "Example Swap", Contact: "alice@example.com",
		Origins: []authdb.AppOrigin{{Origin: "http://localhost:" + portOf(ln)}}, RedirectURIs: []string{"http://localhost:" + portOf(ln) + "/callback"}}, authdb.AppVerified)
	rp := startRelyingParty(t, d.url+"/oidc", app.ID, "", ln)
	p.run("sign out", chromedp.Click(chromedp.CSS("#sign-out")), chromedp.WaitVisible(chromedp.CSS("#email")))

	// Signed out, the user starts at the app.
	p.run("the app's Login with Niomon", chromedp.Navigate(rp.url+"/start"), chromedp.WaitVisible(chromedp.CSS("#for-app")))
	p.shot("login-with-niomon-sign-in")
	p.signInByEmailThrough(d.url, d, "alice@example.com", 2, "", false)
	p.run("the consent page", chromedp.WaitVisible(chromedp.CSS("#oidc-allow")))
	p.shot("login-with-niomon-consent")
	if got := p.text("#oidc-app"); got != "Example Swap" {
		t.Fatalf("the consent page names %q, want the app's name", got)
	}
	if got := p.text("#oidc-scopes"); !strings.Contains(got, "wallet addresses") || !strings.Contains(got, "email") {
		t.Fatalf("the consent page lists %q, want the email and wallet scopes in words", got)
	}
	p.run("allow", chromedp.Click(chromedp.CSS("#oidc-allow")), chromedp.WaitVisible(chromedp.CSS("#signed-in, #error")))
	p.shot("login-with-niomon-app")
	want := fmt.Sprintf("Signed in as alice@example.com with wallet %s", addrs["ethereum"])
	if got := p.text("body p"); !strings.EqualFold(got, want) {
		t.Fatalf("the app says %q, want %q", got, want)
	}

	// Consent is remembered: the next sign-in goes straight to the app.
	p.run("sign in to the app again", chromedp.Navigate(rp.url+"/start"), chromedp.WaitVisible(chromedp.CSS("#signed-in, #error")))
	if got := p.text("body p"); !strings.EqualFold(got, want) {
		t.Fatalf("the second sign-in: the app says %q, want %q", got, want)
	}

	// Suspended, the app signs nobody in, and the user reads why.
	if err := db.SetAppStatus(context.Background(), authdb.Vetting{AppID: app.ID, Status: authdb.AppSuspended, Reason: "asked users for their recovery phrase", AdminID: aliceID, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	p.run("sign in to the suspended app", chromedp.Navigate(rp.url+"/start"), chromedp.WaitVisible(chromedp.CSS("#oidc-error")))
	p.shot("login-with-niomon-suspended")
	if got := p.text("#oidc-detail"); got != "Reason given: asked users for their recovery phrase" {
		t.Fatalf("the refusal gives the reason %q, want the administrator's", got)
	}
}

// TestBrowser_ADeveloperRegistersAnAppAndAnAdministratorVerifiesIt: the
// developer console and the administration screen, in two browsers.
func TestBrowser_ADeveloperRegistersAnAppAndAnAdministratorVerifiesIt(t *testing.T) {
	b := newBrowser(t)
	dir := t.TempDir()
	config := filepath.Join(dir, "niomon.json")
	if err := os.WriteFile(config, []byte(`{"admins": ["admin@example.com"]}`), 0o600); err != nil {
		t.Fatal(err)
	}
	d := startDev(t, filepath.Join(dir, "data"), freePort(t), nil, "--config", config)
	rpLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rpOrigin := "http://localhost:" + portOf(rpLn)

	dev := b.tab()
	dev.signInByEmail(d, "dev@example.org", 1, "")
	dev.addresses()
	dev.run("open the developer console", chromedp.Click(chromedp.CSS("#developers")), chromedp.WaitVisible(chromedp.CSS("#app-form")))
	if n := get(dev, "the administration link", chromedp.Evaluate[int](`document.querySelectorAll('#admin').length`)); n != 0 {
		t.Fatal("a developer who is not an administrator is offered the administration screen")
	}
	dev.run("register an app",
		chromedp.SendKeys(chromedp.CSS("#app-name"), "Example Swap"),
		chromedp.SendKeys(chromedp.CSS("#app-contact"), "dev@example.org"),
		chromedp.SendKeys(chromedp.CSS("#app-origins"), "https://swap.example.org\n"+rpOrigin),
		chromedp.SendKeys(chromedp.CSS("#app-redirects"), "https://swap.example.org/callback\n"+rpOrigin+"/callback"),
		chromedp.Click(chromedp.CSS(`#app-form button[type=submit]`)),
		chromedp.WaitVisible(chromedp.CSS(`#apps .app`)))
	dev.shot("developer-console")
	if got := dev.text(`#apps .origin[data-origin="https://swap.example.org"] .proof`); !strings.Contains(got, "_niomon-challenge.swap.example.org") || !strings.Contains(got, "niomon-verify=") {
		t.Fatalf("the console tells the developer %q, want the TXT record to publish", got)
	}
	dev.run("a client secret", chromedp.Click(chromedp.CSS(".new-secret")), chromedp.WaitVisible(chromedp.CSS("#client-secret")))
	secret := dev.text("#client-secret")
	if len(secret) < 40 {
		t.Fatalf("the client secret shown is %q", secret)
	}

	admin := b.newProfile()
	admin.signInByEmail(d, "admin@example.com", 1, "")
	admin.addresses()
	admin.run("open the administration screen", chromedp.Click(chromedp.CSS("#developers")), chromedp.WaitVisible(chromedp.CSS("#admin")),
		chromedp.Click(chromedp.CSS("#admin")), chromedp.WaitVisible(chromedp.CSS("#admin-apps .app")))
	admin.shot("admin-apps-pending")
	admin.run("verifying without a reason is refused", chromedp.Click(chromedp.CSS("#admin-apps .set-verified")))
	if s := admin.says(); !strings.Contains(s, "reason") {
		t.Fatalf("verifying without a reason: the page says %q", s)
	}
	admin.run("verify with a reason",
		chromedp.SendKeys(chromedp.CSS("#admin-apps .reason"), "site and contact reviewed"),
		chromedp.Click(chromedp.CSS("#admin-apps .set-verified")),
		chromedp.WaitVisible(chromedp.CSS("#status.info")))
	admin.shot("admin-apps")
	if s := admin.says(); !strings.Contains(s, "Example Swap is now verified") {
		t.Fatalf("after verifying, the page says %q", s)
	}

	dev.run("the developer looks again", chromedp.Click(chromedp.CSS("#back")), chromedp.WaitVisible(chromedp.CSS("#developers")),
		chromedp.Click(chromedp.CSS("#developers")), chromedp.WaitVisible(chromedp.CSS(`#apps .status-verified`)))
	if got := dev.text("#apps .app .muted"); !strings.Contains(got, "site and contact reviewed") {
		t.Fatalf("the developer reads %q, want the administrator's reason", got)
	}

	// The app, registered and verified here, signs a user in with go-oidc
	// (as the confidential client the console made it, with its secret)
	// and gets their address in the ID token.
	clientID := get(dev, "the client id", chromedp.Evaluate[string](`document.querySelector('#apps .app').dataset.app`))
	rp := startRelyingParty(t, d.url+"/oidc", clientID, secret, rpLn)
	user := b.newProfile()
	user.signInByEmail(d, "carol@example.com", 1, "")
	addrs := user.addresses()
	user.run("log in to the app", chromedp.Navigate(rp.url+"/start"), chromedp.WaitVisible(chromedp.CSS("#oidc-allow")),
		chromedp.Click(chromedp.CSS("#oidc-allow")), chromedp.WaitVisible(chromedp.CSS("#signed-in, #error")))
	want := fmt.Sprintf("Signed in as carol@example.com with wallet %s", addrs["ethereum"])
	if got := user.text("body p"); !strings.EqualFold(got, want) {
		t.Fatalf("the app says %q, want %q", got, want)
	}
}

// TestBrowser_ASignInToABlockedSiteShowsWhyAndWhatToDo: an app whose
// redirect is on the operator's phishing list; the user sees the block,
// the list and the appeal, and the app gets nothing.
func TestBrowser_ASignInToABlockedSiteShowsWhyAndWhatToDo(t *testing.T) {
	b := newBrowser(t)
	dir := t.TempDir()
	list := filepath.Join(dir, "blocked.txt")
	if err := os.WriteFile(list, []byte("evil.example\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	config := filepath.Join(dir, "niomon.json")
	cfg := fmt.Sprintf(`{"phishing": {"lists": [{"name": "ops-list", "file": %q}], "appeal": "Think this is wrong? Write to abuse@example.com."}}`, list)
	if err := os.WriteFile(config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	data := filepath.Join(dir, "data")
	d := startDev(t, data, freePort(t), nil, "--config", config)
	p := b.tab()
	p.signInByEmail(d, "alice@example.com", 1, "")
	p.addresses()
	_, app, _ := devApp(t, data, "alice@example.com", authdb.App{Name: "Totally Swap", Contact: "x@example.com",
		Origins: []authdb.AppOrigin{{Origin: "https://login.evil.example"}}, RedirectURIs: []string{"https://login.evil.example/cb"}}, authdb.AppVerified)
	q := url.Values{"client_id": {app.ID}, "redirect_uri": {"https://login.evil.example/cb"}, "response_type": {"code"}, "scope": {"openid wallet"},
		"state": {"s"}, "code_challenge": {oauth2.S256ChallengeFromVerifier(oauth2.GenerateVerifier())}, "code_challenge_method": {"S256"}}
	p.run("the app's sign-in", chromedp.Navigate(d.url+"/oidc/authorize?"+q.Encode()), chromedp.WaitVisible(chromedp.CSS("#oidc-error")))
	p.shot("login-with-niomon-blocked")
	if got := p.text("#oidc-error"); !strings.Contains(got, "login.evil.example is on the phishing list ops-list") {
		t.Fatalf("the block page says %q, want the host and the list", got)
	}
	if got := p.text("#oidc-detail"); !strings.Contains(got, "abuse@example.com") {
		t.Fatalf("the block page tells the user %q, want the appeal", got)
	}
}

// devApp registers app for the account of owner (an email) straight in
// the database of the niomon dev at data, and gives it status (pending:
// as made). It returns the database, the app and the owner's user id.
func devApp(t *testing.T, data, owner string, app authdb.App, status string) (*authdb.DB, authdb.App, string) {
	t.Helper()
	ctx := context.Background()
	db, err := authdb.Open(ctx, sqldb.Config{SQLitePath: filepath.Join(data, "niomon.db")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	who, err := db.LookupEmail(ctx, owner)
	if err != nil {
		t.Fatal(err)
	}
	app.OwnerID = who.UserID
	if app, err = db.CreateApp(ctx, app, time.Now()); err != nil {
		t.Fatal(err)
	}
	if status != authdb.AppPending {
		if err := db.SetAppStatus(ctx, authdb.Vetting{AppID: app.ID, Status: status, Reason: "reviewed in a test", AdminID: who.UserID, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	return db, app, who.UserID
}
