package server_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/op"

	"github.com/niomon/niomon/internal/nioapi"
	"github.com/niomon/niomon/internal/server"
)

// provider is zitadel's example OpenID Provider, a maintained test
// provider, running on loopback: the niomon server talks to it with
// go-oidc and x/oauth2, and the test drives its login page like a browser.
type provider struct {
	ts     *httptest.Server
	issuer string
}

func startProvider(t *testing.T) *provider { return startProviderWrapped(t, nil) }

// startProviderWrapped starts the provider behind wrap (nil: none).
func startProviderWrapped(t *testing.T, wrap func(http.Handler) http.Handler, extra ...*storage.User) *provider {
	t.Helper()
	ts := httptest.NewUnstartedServer(nil)
	issuer := "http://" + ts.Listener.Addr().String() + "/"
	base := storage.NewStorage(withUsers{storage.NewUserStore(issuer), extra})
	var st exampleop.Storage = base
	if len(extra) > 0 {
		st = claimsInIDToken{base}
	}
	ts.Config.Handler = exampleop.SetupServer(issuer, st, slog.New(slog.DiscardHandler), false, op.WithAllowInsecure())
	if wrap != nil {
		ts.Config.Handler = wrap(ts.Config.Handler)
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return &provider{ts: ts, issuer: issuer}
}

// withUsers is the provider's own users and extra ones (with the
// password "verysecure").
type withUsers struct {
	storage.UserStore
	extra []*storage.User
}

func (u withUsers) GetUserByID(id string) *User {
	for _, x := range u.extra {
		if x.ID == id {
			return x
		}
	}
	return u.UserStore.GetUserByID(id)
}

func (u withUsers) GetUserByUsername(name string) *User {
	for _, x := range u.extra {
		if x.Username == name {
			return x
		}
	}
	return u.UserStore.GetUserByUsername(name)
}

// User is the provider's user.
type User = storage.User

// claimsInIDToken has the provider put the claims of the scopes asked for
// (the email among them) in the ID token, as Google and Apple do.
type claimsInIDToken struct{ *storage.Storage }

func (s claimsInIDToken) GetClientByClientID(ctx context.Context, id string) (op.Client, error) {
	c, err := s.Storage.GetClientByClientID(ctx, id)
	if err != nil {
		return nil, err
	}
	return assertingClient{c}, nil
}

type assertingClient struct{ op.Client }

func (assertingClient) IDTokenUserinfoClaimsAssertion() bool { return true }

// oidcEnv is a niomon server configured with the provider as "test", whose
// users are its own and extra.
func oidcEnv(t *testing.T, extra ...*storage.User) (*env, *provider) {
	t.Helper()
	return oidcEnvWith(t, nil, extra...)
}

// oidcEnvWith is oidcEnv with more configuration.
func oidcEnvWith(t *testing.T, config func(*server.Config), extra ...*storage.User) (*env, *provider) {
	t.Helper()
	p := startProviderWrapped(t, nil, extra...)
	secret := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secret, []byte("secret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var e *env
	e = newEnv(t, envOptions{config: func(c *server.Config) {
		c.OIDC = []server.OIDCProvider{{Name: "test", Issuer: p.issuer, ClientID: "niomon-test", ClientSecretFile: secret}}
		storage.RegisterClients(storage.WebClient("niomon-test", "secret", c.PublicURL+"/v1/auth/oidc/test/callback"))
		if config != nil {
			config(c)
		}
	}})
	return e, p
}

var formActionRe = regexp.MustCompile(`name="id" value="([^"]+)"`)

// browse follows a sign-in through the provider as a browser: redirects
// (bounded), the provider's login form with username and password, and
// back to niomon's callback. It returns the last answer.
func browse(t *testing.T, hc *http.Client, start *http.Request, username string) (*http.Response, []byte) {
	t.Helper()
	req := start
	for range 12 {
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		switch {
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			next, err := req.URL.Parse(resp.Header.Get("Location"))
			if err != nil {
				t.Fatal(err)
			}
			if req, err = http.NewRequest("GET", next.String(), nil); err != nil {
				t.Fatal(err)
			}
		case resp.StatusCode == 200 && strings.Contains(string(body), `name="password"`):
			m := formActionRe.FindSubmatch(body)
			if m == nil {
				t.Fatalf("the provider's login page has no request id")
			}
			form := url.Values{"id": {string(m[1])}, "username": {username}, "password": {"verysecure"}}
			action, _ := req.URL.Parse("/login/username")
			req, _ = http.NewRequest("POST", action.String(), strings.NewReader(form.Encode()))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		default:
			return resp, body
		}
	}
	t.Fatal("too many redirects")
	return nil, nil
}

// oidcSignIn signs in a fresh browser through the provider and returns
// the niomon user it lands as.
func oidcSignIn(t *testing.T, e *env, username string) (*http.Client, *nioapi.Session) {
	t.Helper()
	hc := e.httpClient()
	start, _ := http.NewRequest("GET", e.url+"/v1/auth/oidc/test/start", nil)
	resp, body := browse(t, hc, start, username)
	if resp.StatusCode != 200 || !e.signedIn(hc) {
		t.Fatalf("after the provider: %d %s", resp.StatusCode, body)
	}
	status, _, b := e.raw(hc, "GET", "/v1/session", "", nil)
	var s nioapi.Session
	if status != 200 || json.Unmarshal(b, &s) != nil {
		t.Fatalf("session after OIDC: %d %s", status, b)
	}
	return hc, &s
}

func TestOIDC_SignUpThenSignInReachTheSameUser(t *testing.T) {
	e, p := oidcEnv(t)
	user := "test-user@" + strings.Split(strings.TrimPrefix(p.issuer, "http://"), ":")[0]
	_, first := oidcSignIn(t, e, user)
	if first.User.State != "pending" {
		t.Fatalf("first sign-in: got %+v, want a new pending user", first.User)
	}
	_, again := oidcSignIn(t, e, user)
	if again.User.ID != first.User.ID {
		t.Fatalf("second sign-in: user %s, want %s", again.User.ID, first.User.ID)
	}
	_, other := oidcSignIn(t, e, "test-user2")
	if other.User.ID == first.User.ID {
		t.Fatal("another provider account reached the same user")
	}
}

func TestOIDC_AccountsAreNeverJoinedByEmailButLinkedOnProof(t *testing.T) {
	e, _ := oidcEnv(t)
	ctx := context.Background()
	// An email account with the provider account's address exists.
	hc, es := cookieSession(t, e, "test-user2@zitadel.ch")
	_, viaOIDC := oidcSignIn(t, e, "test-user2")
	if viaOIDC.User.ID == es.User.ID {
		t.Fatal("the provider account was joined to the email account by its address")
	}

	// Linking needs both: the signed-in session here, and a sign-in at
	// the provider. The already-linked test-user2 is refused.
	linkWith := func(username string) (int, []byte) {
		c := nioapi.NewClient(e.url, hc)
		s, err := c.Me(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var out struct {
			URL string `json:"url"`
		}
		status, _, b := e.raw(hc, "POST", "/v1/auth/oidc/test/link", "{}", map[string]string{
			"Content-Type": "application/json", "X-CSRF-Token": s.CSRFToken, "Origin": e.url})
		if status != 200 || json.Unmarshal(b, &out) != nil {
			t.Fatalf("link start: %d %s", status, b)
		}
		req, _ := http.NewRequest("GET", out.URL, nil)
		resp, body := browse(t, hc, req, username)
		return resp.StatusCode, body
	}
	if status, body := linkWith("test-user2"); status != http.StatusConflict || !strings.Contains(string(body), "linked to another") {
		t.Fatalf("linking an account that belongs to another user: %d, want 409", status)
	}
	user := "test-user@127.0.0.1"
	if status, _ := linkWith(user); status != 200 {
		t.Fatalf("linking a free provider account: %d, want the home page", status)
	}
	_, linked := oidcSignIn(t, e, user)
	if linked.User.ID != es.User.ID {
		t.Fatalf("sign-in with the linked account: user %s, want the email user %s", linked.User.ID, es.User.ID)
	}
}

// A link started from a session completes only while that session (or
// the one it rotated to) lives: signing out, or a revocation from another
// device, ends what the session could do, a link in flight included.
func TestOIDC_ALinkCompletesOnlyWhileTheSessionThatStartedItLives(t *testing.T) {
	user := func(name string) *storage.User {
		return &storage.User{ID: "id-" + name, Username: name, Password: "verysecure", Email: name + "@example.com", EmailVerified: true}
	}
	e, _ := oidcEnvWith(t, func(c *server.Config) { c.Sessions.RotateAfter.Duration = time.Minute },
		user("link-signed-out"), user("link-revoked"))
	tests := []struct {
		name       string
		provider   string // the provider account to link
		meanwhile  func(t *testing.T, hc *http.Client, s *nioapi.Session, addr string)
		wantLinked bool
	}{
		{"nothing happens meanwhile", "test-user@127.0.0.1", nil, true},
		{"the session rotates meanwhile", "test-user2", func(t *testing.T, hc *http.Client, s *nioapi.Session, addr string) {
			e.advance(2 * time.Minute)
			if status, h, b := e.raw(hc, "GET", "/v1/session", "", nil); status != 200 || h.Get("X-CSRF-Token") == "" {
				t.Fatalf("a request after RotateAfter: %d %s, want 200 and a rotated session", status, b)
			}
		}, true},
		{"the user signs out meanwhile", "link-signed-out", func(t *testing.T, hc *http.Client, s *nioapi.Session, addr string) {
			if status, _, b := e.raw(hc, "POST", "/v1/session/logout", "{}", map[string]string{
				"Content-Type": "application/json", "X-CSRF-Token": s.CSRFToken, "Origin": e.url}); status != 200 {
				t.Fatalf("logout: %d %s", status, b)
			}
		}, false},
		{"another device revokes the session meanwhile", "link-revoked", func(t *testing.T, hc *http.Client, s *nioapi.Session, addr string) {
			var list []nioapi.SessionInfo
			if status, _, b := e.raw(hc, "GET", "/v1/sessions", "", nil); status != 200 || json.Unmarshal(b, &list) != nil {
				t.Fatalf("sessions: %d %s", status, b)
			}
			id := ""
			for _, x := range list {
				if x.Current {
					id = x.ID
				}
			}
			other, os := cookieSession(t, e, addr)
			if status, _, b := e.raw(other, "POST", "/v1/sessions/"+id+"/revoke", "{}", map[string]string{
				"Content-Type": "application/json", "X-CSRF-Token": os.CSRFToken, "Origin": e.url}); status != 200 || id == "" {
				t.Fatalf("revoking session %q from another browser: %d %s", id, status, b)
			}
		}, false},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			addr := fmt.Sprintf("linker%d@example.com", i)
			hc, s := cookieSession(t, e, addr)
			status, _, b := e.raw(hc, "POST", "/v1/auth/oidc/test/link", "{}", map[string]string{
				"Content-Type": "application/json", "X-CSRF-Token": s.CSRFToken, "Origin": e.url})
			var out struct {
				URL string `json:"url"`
			}
			if status != 200 || json.Unmarshal(b, &out) != nil {
				t.Fatalf("link start: %d %s", status, b)
			}
			if tc.meanwhile != nil {
				tc.meanwhile(t, hc, s, addr)
			}
			req, _ := http.NewRequest("GET", out.URL, nil)
			resp, body := browse(t, hc, req, tc.provider)
			_, via := oidcSignIn(t, e, tc.provider)
			if tc.wantLinked {
				if resp.StatusCode != 200 || via.User.ID != s.User.ID {
					t.Fatalf("link: %d, and the provider account signs in as %s; want linked to %s", resp.StatusCode, via.User.ID, s.User.ID)
				}
				return
			}
			if resp.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "has ended") {
				t.Fatalf("link: %d %s, want 401 saying the session has ended", resp.StatusCode, body)
			}
			if via.User.ID == s.User.ID {
				t.Fatal("the provider account was linked by a flow whose session had ended")
			}
		})
	}
}

// A provider's claims are outside input: a sub this server cannot store
// (over 255 bytes, control characters) refuses the sign-in with a page
// that says so, and an email claim it cannot store is dropped. Neither is
// an internal error, and the account stays usable.
func TestOIDC_ClaimsThisServerCannotStoreAreRefusedOrDroppedCleanly(t *testing.T) {
	user := func(id, name, email string) *storage.User {
		return &storage.User{ID: id, Username: name, Password: "verysecure", Email: email, EmailVerified: true}
	}
	e, _ := oidcEnv(t,
		user(strings.Repeat("s", 300), "long-sub", "long@example.com"),
		user("ctl\x01sub", "control-sub", "ctl@example.com"),
		user("id-bad-email", "control-email", "bad\x01@example.com"),
		user("id-long-email", "long-email", strings.Repeat("e", 300)+"@example.com"),
	)
	for _, tc := range []struct {
		username string
		signedIn bool
	}{
		{"long-sub", false},
		{"control-sub", false},
		{"control-email", true},
		{"long-email", true},
	} {
		t.Run(tc.username, func(t *testing.T) {
			for attempt := range 2 { // the second attempt finds the account as the first left it
				hc := e.httpClient()
				start, _ := http.NewRequest("GET", e.url+"/v1/auth/oidc/test/start", nil)
				resp, body := browse(t, hc, start, tc.username)
				switch {
				case resp.StatusCode >= 500 && resp.StatusCode != http.StatusBadGateway:
					t.Fatalf("attempt %d: %d %s", attempt+1, resp.StatusCode, body)
				case tc.signedIn && (resp.StatusCode != 200 || !e.signedIn(hc)):
					t.Fatalf("attempt %d: %d %s, want signed in", attempt+1, resp.StatusCode, body)
				case !tc.signedIn && (resp.StatusCode != http.StatusBadGateway || !strings.Contains(string(body), "account id")):
					t.Fatalf("attempt %d: %d %s, want 502 naming the account id", attempt+1, resp.StatusCode, body)
				}
			}
		})
	}
}

func TestOIDC_CallbackRefusesWhatThisBrowserDidNotStart(t *testing.T) {
	e, p := oidcEnv(t)
	user := "test-user@" + strings.Split(strings.TrimPrefix(p.issuer, "http://"), ":")[0]
	// Stop a real flow just before niomon's callback.
	hc := e.httpClient()
	req, _ := http.NewRequest("GET", e.url+"/v1/auth/oidc/test/start", nil)
	var callback *url.URL
	for range 12 {
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode >= 300 && resp.StatusCode < 400 {
			next, _ := req.URL.Parse(resp.Header.Get("Location"))
			if strings.Contains(next.Path, "/v1/auth/oidc/test/callback") {
				callback = next
				break
			}
			req, _ = http.NewRequest("GET", next.String(), nil)
			continue
		}
		m := formActionRe.FindSubmatch(body)
		if m == nil {
			t.Fatalf("unexpected page %d", resp.StatusCode)
		}
		form := url.Values{"id": {string(m[1])}, "username": {user}, "password": {"verysecure"}}
		action, _ := req.URL.Parse("/login/username")
		req, _ = http.NewRequest("POST", action.String(), strings.NewReader(form.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if callback == nil {
		t.Fatal("the flow never reached the callback")
	}
	tampered := *callback
	q := tampered.Query()
	q.Set("state", q.Get("state")+"x")
	tampered.RawQuery = q.Encode()
	tests := []struct {
		name   string
		client *http.Client
		u      *url.URL
	}{
		{"another browser (no flow cookie) with the real code and state", e.httpClient(), callback},
		{"this browser with a changed state", hc, &tampered},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, h, body := e.raw(tc.client, "GET", tc.u.RequestURI(), "", nil)
			if status != http.StatusBadRequest || strings.Contains(h.Get("Set-Cookie"), "niomon_session=nios_") {
				t.Fatalf("got %d (session cookie set: %t) %s, want 400 and no session", status, strings.Contains(h.Get("Set-Cookie"), "niomon_session=nios_"), body)
			}
		})
	}
}

// appleKey writes a "Sign in with Apple"-style key: P-256, PKCS#8 PEM.
func appleKey(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "AuthKey_TESTKEY123.p8")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return k, path
}

// Sign in with Apple takes a client secret that the client signs (ES256)
// for itself, in the form (its discovery lists only client_secret_post).
// The provider here runs behind a check that does what Apple's token
// endpoint does with it: verify it (with golang-jwt, not the library that
// signed it) against the team's public key, and refuse the exchange
// otherwise. A secret that verifies is then swapped for the example
// provider's own.
func TestOIDC_ASignedClientSecretIsFreshForEveryExchange(t *testing.T) {
	const teamID, keyID, clientID = "TEAM123456", "TESTKEY123", "niomon-test"
	trusted, _ := appleKey(t)
	var mu sync.Mutex
	var seen []string
	var rejected int
	p := startProviderWrapped(t, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.Path == "/.well-known/openid-configuration" {
				// Like Apple: the secret goes in the form only.
				rec := httptest.NewRecorder()
				next.ServeHTTP(rec, r)
				var doc map[string]any
				if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil {
					t.Errorf("discovery: %v", err)
				}
				doc["token_endpoint_auth_methods_supported"] = []string{"client_secret_post"}
				w.Header().Set("Content-Type", "application/json")
				json.NewEncoder(w).Encode(doc)
				return
			}
			if r.Method != "POST" || !strings.HasSuffix(r.URL.Path, "/token") {
				next.ServeHTTP(w, r)
				return
			}
			_, _, basic := r.BasicAuth()
			_ = r.ParseForm()
			id, secret := r.PostForm.Get("client_id"), r.PostForm.Get("client_secret")
			issuer := "http://" + r.Host + "/"
			tok, err := jwt.Parse(secret, func(tok *jwt.Token) (any, error) {
				if tok.Header["kid"] != keyID {
					return nil, fmt.Errorf("kid %v", tok.Header["kid"])
				}
				return &trusted.PublicKey, nil
			}, jwt.WithValidMethods([]string{"ES256"}), jwt.WithIssuer(teamID), jwt.WithSubject(clientID),
				jwt.WithAudience(issuer), jwt.WithIssuedAt(), jwt.WithExpirationRequired())
			mu.Lock()
			defer mu.Unlock()
			if err != nil || !tok.Valid || id != clientID || basic {
				rejected++
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				io.WriteString(w, `{"error":"invalid_client"}`)
				return
			}
			seen = append(seen, secret)
			// On to the example provider, with its own secret, in the
			// header its client expects.
			r.PostForm.Del("client_id")
			r.PostForm.Del("client_secret")
			body := r.PostForm.Encode()
			r.Body, r.ContentLength = io.NopCloser(strings.NewReader(body)), int64(len(body))
			r.Form, r.PostForm = nil, nil
			r.SetBasicAuth(clientID, "secret")
			next.ServeHTTP(w, r)
		})
	})
	withKey := func(keyFile string) *env {
		return newEnv(t, envOptions{config: func(c *server.Config) {
			c.OIDC = []server.OIDCProvider{{Name: "test", Issuer: p.issuer, ClientID: clientID,
				SignedClientSecret: &server.SignedClientSecret{TeamID: teamID, KeyID: keyID, PrivateKeyFile: keyFile}}}
			storage.RegisterClients(storage.WebClient(clientID, "secret", c.PublicURL+"/v1/auth/oidc/test/callback"))
		}})
	}
	der, _ := x509.MarshalPKCS8PrivateKey(trusted)
	trustedFile := filepath.Join(t.TempDir(), "trusted.p8")
	if err := os.WriteFile(trustedFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	_, otherFile := appleKey(t)

	tests := []struct {
		name         string
		keyFile      string
		signIns      int
		wantSeen     int // verified secrets, in all, after this case
		wantRejected int
	}{
		{"the team's key: every exchange carries a new secret that verifies", trustedFile, 2, 2, 0},
		{"another key: the provider refuses the exchange", otherFile, 1, 2, 1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := withKey(tc.keyFile)
			for range tc.signIns {
				hc := e.httpClient()
				start, _ := http.NewRequest("GET", e.url+"/v1/auth/oidc/test/start", nil)
				resp, body := browse(t, hc, start, "test-user2")
				signedIn := resp.StatusCode == 200 && e.signedIn(hc)
				if signedIn != (tc.wantRejected == 0) {
					t.Fatalf("sign-in: %d %s; want signed in: %t", resp.StatusCode, body, tc.wantRejected == 0)
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(seen) != tc.wantSeen || rejected != tc.wantRejected {
				t.Fatalf("token endpoint: %d secrets verified, %d refused; want %d and %d", len(seen), rejected, tc.wantSeen, tc.wantRejected)
			}
			if len(seen) == 2 && seen[0] == seen[1] {
				t.Fatal("two exchanges sent the same secret")
			}
			if strings.Contains(e.logs.String(), seen[0]) {
				t.Fatal("a client secret is in the server's log")
			}
		})
	}
}

func TestOIDC_ASignedClientSecretSettingIsCheckedAtStart(t *testing.T) {
	e := newEnv(t, envOptions{})
	_, goodKey := appleKey(t)
	rsaKey := filepath.Join(t.TempDir(), "rsa.p8")
	rk, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	der, _ := x509.MarshalPKCS8PrivateKey(rk)
	os.WriteFile(rsaKey, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	notPEM := filepath.Join(t.TempDir(), "key.txt")
	os.WriteFile(notPEM, []byte("not a key"), 0o600)
	secretFile := filepath.Join(t.TempDir(), "secret")
	os.WriteFile(secretFile, []byte("s"), 0o600)
	tests := []struct {
		name        string
		secret      server.SignedClientSecret
		alsoFile    bool
		wantSetting string
	}{
		{"no team id", server.SignedClientSecret{KeyID: "K", PrivateKeyFile: goodKey}, false, "oidc[0].signed_client_secret"},
		{"a missing key file", server.SignedClientSecret{TeamID: "T", KeyID: "K", PrivateKeyFile: "/nonexistent.p8"}, false, "oidc[0].signed_client_secret.private_key_file"},
		{"a file that is not PEM", server.SignedClientSecret{TeamID: "T", KeyID: "K", PrivateKeyFile: notPEM}, false, "oidc[0].signed_client_secret.private_key_file"},
		{"an RSA key", server.SignedClientSecret{TeamID: "T", KeyID: "K", PrivateKeyFile: rsaKey}, false, "oidc[0].signed_client_secret.private_key_file"},
		{"both a secret file and a signed secret", server.SignedClientSecret{TeamID: "T", KeyID: "K", PrivateKeyFile: goodKey}, true, "oidc[0].client_secret_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := server.DevConfig(e.url)
			p := server.OIDCProvider{Name: "apple", Preset: "apple", ClientID: "com.example.web", SignedClientSecret: &tc.secret}
			if tc.alsoFile {
				p.ClientSecretFile = secretFile
			}
			cfg.OIDC = []server.OIDCProvider{p}
			tokens, _, _ := server.NewTokenKey()
			_, err := server.New(context.Background(), server.Options{Config: cfg, DB: e.db, Mail: e.sender, Secretd: e.sd, Tokens: tokens})
			var se *server.SettingError
			if !errors.As(err, &se) || se.Setting != tc.wantSetting {
				t.Fatalf("got %v, want a SettingError naming %s", err, tc.wantSetting)
			}
		})
	}
}

// signedIn reports whether hc's cookie is a live session: the wallet
// page is the same for everyone, so its session is asked of the API.
func (e *env) signedIn(hc *http.Client) bool {
	status, _, _ := e.raw(hc, "GET", "/v1/session", "", nil)
	return status == http.StatusOK
}
